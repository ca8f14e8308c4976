{{/* The variants that hold the tool's own namespace, ServiceAccount and ClusterRole. */}}
{{- define "istio-rollout.full" -}}
{{- if has .Values.variant (list "base" "argocd" "flux" "cronjob") }}true{{ end -}}
{{- end -}}

{{- define "istio-rollout.check" -}}
{{- if not (has .Values.variant (list "base" "argocd" "flux" "cronjob" "readonly")) -}}
{{- fail (printf "variant: %q is none of base, argocd, flux, cronjob, readonly" .Values.variant) -}}
{{- end -}}
{{- end -}}

{{/* The pod spec of every Job (args: the extra `apply` flags, as a list). */}}
{{- define "istio-rollout.podSpec" -}}
serviceAccountName: istio-rollout
restartPolicy: Never
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: istio-rollout
    image: {{ printf "%s:%s" .root.Values.image.repository (toString .root.Values.image.tag) | quote }}
    imagePullPolicy: {{ .root.Values.image.pullPolicy }}
    args:
      - apply
      {{- range .args }}
      - {{ . }}
      {{- end }}
      - --timeout={{ .root.Values.apply.timeout }}
      - --operator-timeout={{ .root.Values.apply.operatorTimeout }}
      - --overall-timeout={{ .root.Values.apply.overallTimeout }}
      {{- range .after }}
      - {{ . }}
      {{- end }}
    env:
      - name: ISTIO_ROLLOUT_REPO
        value: {{ .root.Values.git.repo | quote }}
      - name: ISTIO_ROLLOUT_REF
        value: {{ .root.Values.git.ref | quote }}
      - name: ISTIO_ROLLOUT_PATH
        value: {{ .root.Values.git.path | quote }}
      {{- if .root.Values.apply.noApplyCr }}
      - name: ISTIO_ROLLOUT_NO_APPLY_CR
        value: "true"
      {{- end }}
      - name: ISTIO_ROLLOUT_MAX_CONCURRENT
        value: {{ .root.Values.apply.maxConcurrent | toString | quote }}
      - name: ISTIO_ROLLOUT_OUTPUT
        value: text
      - name: ISTIO_ROLLOUT_LOG_FORMAT
        value: json
      - name: ISTIO_ROLLOUT_GIT_TOKEN
        valueFrom:
          secretKeyRef:
            name: {{ .root.Values.git.secretName }}
            key: token
            optional: true
      - name: ISTIO_ROLLOUT_SSH_KEY
        value: /home/istio-rollout/.ssh/ssh-privatekey
      - name: HOME
        value: /home/istio-rollout
      - name: TMPDIR
        value: /tmp
    resources:
      {{- toYaml .root.Values.resources | nindent 6 }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      runAsNonRoot: true
      capabilities:
        drop: ["ALL"]
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      - name: git-credentials
        mountPath: /home/istio-rollout/.ssh
        readOnly: true
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
  - name: git-credentials
    secret:
      secretName: {{ .root.Values.git.secretName }}
      optional: true
      defaultMode: 288
{{- end -}}

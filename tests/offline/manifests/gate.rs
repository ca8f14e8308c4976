//! The pre-sync gate's manifests (manifests/gate, argocd-presync, flux-gate): a Job that runs
//! `plan --fail-on` with the read-only role, as an Argo CD PreSync hook and as a Flux
//! Kustomization that the module's Kustomization dependsOn.

use super::{env_value, seconds};
use crate::common::cli::istio_rollout;
use crate::common::manifests::*;
use istio_rollout::plan::gate::FailOn;
use serde_json::{Value, json};

const GATE_NAMESPACE: &str = "istio-rollout-gate";
const GATE_SA: &str = "istio-rollout-gate";
const OVERRIDE_ANNOTATION: &str = "istio-rollout/gate-override";

fn find<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// What every gate Job must be: a control Job's pod rules, `plan --fail-on` with conditions that
/// parse, the gate's ServiceAccount, bound to the read-only role in the same build, and the
/// override read from a pod-template annotation.
fn check_gate_build(dir: &str) -> Value {
    let objects = rendered(dir);
    let jobs = find(&objects, "Job");
    assert_eq!(jobs.len(), 1, "manifests/{dir}: one Job");
    let job = jobs[0].clone();
    let what = format!("manifests/{dir}: {}", name_of(&job));
    assert_eq!(job["metadata"]["namespace"], GATE_NAMESPACE, "{what}");
    let spec = &job["spec"];
    assert_eq!(spec["backoffLimit"], 0, "{what}: backoffLimit");
    assert!(
        spec.get("ttlSecondsAfterFinished").is_none(),
        "{what}: no TTL"
    );
    assert!(
        spec["activeDeadlineSeconds"]
            .as_u64()
            .is_some_and(|s| s > 0),
        "{what}: activeDeadlineSeconds"
    );
    let pod = &spec["template"];
    assert_eq!(
        pod["metadata"]["labels"]["sidecar.istio.io/inject"], "false",
        "{what}"
    );
    let ps = &pod["spec"];
    assert_eq!(ps["serviceAccountName"], GATE_SA, "{what}");
    assert_eq!(ps["restartPolicy"], "Never", "{what}");
    assert_eq!(ps["securityContext"]["runAsNonRoot"], true, "{what}");
    let c = the_container(&job);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{what}");
    assert_eq!(env_value(c, "TMPDIR").as_deref(), Some("/tmp"), "{what}");

    // plan --fail-on with conditions the tool accepts, and no flag that writes.
    let args = args_of(c);
    assert_eq!(args[0], "plan", "{what}: the gate only plans");
    let fail_on: Vec<&str> = args
        .iter()
        .filter_map(|a| a.strip_prefix("--fail-on="))
        .collect();
    assert!(!fail_on.is_empty(), "{what}: --fail-on=... is explicit");
    let parsed = FailOn::parse(&fail_on).unwrap_or_else(|e| panic!("{what}: --fail-on: {e}"));
    assert!(!parsed.0.is_empty(), "{what}: --fail-on names conditions");
    let help = istio_rollout().args(["plan", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for name in env_of(c).keys() {
        if name.starts_with("ISTIO_ROLLOUT_") {
            assert!(
                help.contains(&format!("[env: {name}="))
                    || name == istio_rollout::desired::git::TOKEN_ENV
                    || name == istio_rollout::desired::git::SSH_KEY_ENV,
                "{what}: {name} is not an environment variable of istio-rollout plan"
            );
        }
    }
    for required in ["ISTIO_ROLLOUT_REPO", "ISTIO_ROLLOUT_PATH"] {
        assert!(env_value(c, required).is_some(), "{what}: {required}");
    }
    // The override: the downward API hands the pod annotation to the tool.
    let o = &env_of(c)[istio_rollout::cli::GATE_OVERRIDE_ENV];
    assert_eq!(
        o["valueFrom"]["fieldRef"]["fieldPath"],
        format!("metadata.annotations['{OVERRIDE_ANNOTATION}']"),
        "{what}: the override comes from the pod annotation {OVERRIDE_ANNOTATION}"
    );
    assert_eq!(
        pod["metadata"]["annotations"][OVERRIDE_ANNOTATION], "",
        "{what}: the annotation is there, empty (no override)"
    );

    // Its identity: the ServiceAccount, bound to the read-only role only.
    let sas = find(&objects, "ServiceAccount");
    assert_eq!(sas.len(), 1, "manifests/{dir}: one ServiceAccount");
    assert_eq!(sas[0]["metadata"]["name"], GATE_SA);
    assert_eq!(sas[0]["metadata"]["namespace"], GATE_NAMESPACE);
    let ns = find(&objects, "Namespace");
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0]["metadata"]["name"], GATE_NAMESPACE);
    assert_eq!(
        ns[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let readonly = one("readonly/clusterrole.yaml");
    let roles = find(&objects, "ClusterRole");
    assert_eq!(roles.len(), 1, "manifests/{dir}: only the read-only role");
    assert_eq!(roles[0]["metadata"]["name"], readonly["metadata"]["name"]);
    assert_eq!(
        roles[0]["rules"], readonly["rules"],
        "the rules of manifests/readonly"
    );
    let bindings = find(&objects, "ClusterRoleBinding");
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0]["roleRef"]["name"], readonly["metadata"]["name"]);
    assert_eq!(
        bindings[0]["subjects"],
        json!([{"kind": "ServiceAccount", "name": GATE_SA, "namespace": GATE_NAMESPACE}])
    );
    assert!(
        find(&objects, "Role").is_empty() && find(&objects, "RoleBinding").is_empty(),
        "manifests/{dir}: no other RBAC"
    );
    job
}

#[test]
fn the_argo_cd_gate_is_a_presync_hook_after_its_rbac() {
    let job = check_gate_build("argocd-presync");
    let a = &job["metadata"]["annotations"];
    assert_eq!(a["argocd.argoproj.io/hook"], "PreSync");
    assert_eq!(
        a["argocd.argoproj.io/hook-delete-policy"],
        "BeforeHookCreation"
    );
    let wave = |o: &Value| -> i64 {
        o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .as_str()
            .unwrap_or("0")
            .parse()
            .expect("sync-wave is an integer in a string")
    };
    let objects = rendered("argocd-presync");
    // PreSync runs before the sync applies anything but Namespaces: the ServiceAccount and RBAC
    // must be hooks of an earlier wave; the Namespace an ordinary resource.
    for o in &objects {
        let hook = o["metadata"]["annotations"]["argocd.argoproj.io/hook"].as_str();
        match o["kind"].as_str().unwrap() {
            "Namespace" => assert_eq!(hook, None, "{}: not a hook", name_of(o)),
            "Job" => {}
            _ => {
                assert_eq!(hook, Some("PreSync"), "{}: a PreSync hook", name_of(o));
                assert!(
                    wave(o) < wave(&job),
                    "{}: a wave before the Job",
                    name_of(o)
                );
            }
        }
    }
    // The Application has the gate as a source, and it reads what the post-sync Job reads.
    let app = one("argocd/application.yaml");
    assert!(
        app["spec"]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["path"]
                .as_str()
                .unwrap()
                .ends_with("manifests/argocd-presync")),
        "Application: one source is the pre-sync gate"
    );
    let post = &jobs("argocd")[0];
    for var in [
        "ISTIO_ROLLOUT_REPO",
        "ISTIO_ROLLOUT_REF",
        "ISTIO_ROLLOUT_PATH",
    ] {
        assert_eq!(
            env_value(the_container(&job), var),
            env_value(the_container(post), var),
            "{var}: the gate plans what the post-sync Job applies"
        );
    }
}

#[test]
fn the_flux_gate_holds_the_module_kustomization_back() {
    let job = check_gate_build("flux-gate");
    assert!(
        job["metadata"]["annotations"]["argocd.argoproj.io/hook"].is_null(),
        "no Argo CD hook in the Flux variant"
    );
    let gate = one("flux-gate/flux-kustomization.yaml");
    assert_eq!(gate["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(gate["kind"], "Kustomization");
    let spec = &gate["spec"];
    assert!(spec["interval"].is_string() && spec["prune"].is_boolean());
    seconds(spec["interval"].as_str().unwrap());
    assert!(spec["sourceRef"]["kind"].is_string() && spec["sourceRef"]["name"].is_string());
    assert!(
        spec["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("manifests/flux-gate")),
        "spec.path is the gate's kustomization"
    );
    assert_eq!(spec["wait"], true, "Ready only once the Job succeeded");
    assert_eq!(
        spec["force"], true,
        "the Job is recreated when its template changes"
    );
    assert!(
        spec.get("dependsOn").is_none(),
        "the gate waits for nothing"
    );
    let timeout = seconds(spec["timeout"].as_str().expect("spec.timeout"));
    let deadline = job["spec"]["activeDeadlineSeconds"].as_u64().unwrap();
    assert!(
        timeout > deadline,
        "timeout {timeout}s outlasts the Job's {deadline}s"
    );

    // Every substituted variable is in the (immutable) pod template, so a change re-runs it;
    // the module version and CR revision are those of the post-deploy Kustomization.
    let raw = one("flux-gate/job.yaml");
    let annotations = raw["spec"]["template"]["metadata"]["annotations"]
        .as_object()
        .unwrap();
    let vars = flux_vars_of("flux-gate");
    for var in vars.keys() {
        assert!(
            annotations
                .values()
                .any(|v| v.as_str() == Some(&format!("${{{var}}}"))),
            "flux-gate/job.yaml: the pod template carries ${{{var}}}"
        );
    }
    assert_eq!(
        raw["spec"]["template"]["metadata"]["annotations"][OVERRIDE_ANNOTATION],
        "${GATE_OVERRIDE}"
    );
    for (k, v) in flux_vars_of("flux") {
        assert_eq!(
            vars.get(&k),
            Some(&v),
            "{k}: the same value as flux/flux-kustomization.yaml"
        );
    }
    assert!(
        !serde_json::to_string(&job).unwrap().contains("${"),
        "everything substituted"
    );

    // The chain: istio-rollout-gate <- istio (the module) <- istio-rollout (post-deploy).
    let module = one("flux-gate/istio-kustomization.yaml");
    assert_eq!(module["kind"], "Kustomization");
    let depends = |k: &Value| -> Vec<String> {
        k["spec"]["dependsOn"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|d| d["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        depends(&module).contains(&gate["metadata"]["name"].as_str().unwrap().to_string()),
        "the module's Kustomization dependsOn the gate"
    );
    assert_eq!(module["spec"]["wait"], true);
    let post = one("flux/flux-kustomization.yaml");
    assert!(
        depends(&post).contains(&module["metadata"]["name"].as_str().unwrap().to_string()),
        "the post-deploy Kustomization dependsOn the module's"
    );
}

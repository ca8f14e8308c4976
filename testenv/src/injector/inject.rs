//! The injection itself, pure: [`inject`] turns a new pod and the [`InjectorSettings`] into the
//! pod Istio's webhook would let through, or `None` when it would not inject it. No I/O, so every
//! rule is unit-tested here without a cluster.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction,
    ObjectFieldSelector, Pod, Probe, ResourceRequirements, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::settings::InjectorSettings;

pub const ANNOTATION_INJECT: &str = "sidecar.istio.io/inject";
pub const ANNOTATION_STATUS: &str = "sidecar.istio.io/status";
pub const ANNOTATION_NATIVE_SIDECAR: &str = "sidecar.istio.io/nativeSidecar";
pub const ANNOTATION_PROXY_IMAGE: &str = "sidecar.istio.io/proxyImage";
pub const ANNOTATION_PROXY_CPU: &str = "sidecar.istio.io/proxyCPU";
pub const ANNOTATION_PROXY_CPU_LIMIT: &str = "sidecar.istio.io/proxyCPULimit";
pub const ANNOTATION_PROXY_MEMORY: &str = "sidecar.istio.io/proxyMemory";
pub const ANNOTATION_PROXY_MEMORY_LIMIT: &str = "sidecar.istio.io/proxyMemoryLimit";
pub const ANNOTATION_PROMETHEUS_SCRAPE: &str = "prometheus.io/scrape";
pub const ANNOTATION_PROMETHEUS_PORT: &str = "prometheus.io/port";
pub const ANNOTATION_PROMETHEUS_PATH: &str = "prometheus.io/path";
pub const ANNOTATION_MERGE_METRICS: &str = "prometheus.istio.io/merge-metrics";
/// The pod's own ProxyConfig, overlaid per field on the mesh's `defaultConfig`.
pub const ANNOTATION_PROXY_CONFIG: &str = "proxy.istio.io/config";
/// Env var of `istio-proxy` holding the effective ProxyConfig as JSON.
pub const PROXY_CONFIG_ENV: &str = "PROXY_CONFIG";

pub const PROXY_CONTAINER: &str = "istio-proxy";
/// The init container that checks the redirection Istio CNI set up (CNI on).
pub const VALIDATION_CONTAINER: &str = "istio-validation";
/// The init container that sets up the redirection itself (CNI off, `disableCni`).
pub const INIT_CONTAINER: &str = "istio-init";
/// Proxy metadata of `enableAmbient` (module 1.32.0+) and `enableDualStack` (1.31.0+).
pub const HBONE_ENV: &str = "ISTIO_META_ENABLE_HBONE";
pub const DUAL_STACK_ENV: &str = "ISTIO_DUAL_STACK";

/// Proxy metadata env that compatibility mode adds to the sidecar, by installed Istio minor.
/// From 1.25 on the compatibility flags are istiod-only and sidecars get none.
pub fn compatibility_env(minor: u32) -> &'static [(&'static str, &'static str)] {
    match minor {
        22 => &[("ISTIO_DELTA_XDS", "false")],
        23 => &[
            ("ENABLE_DEFERRED_CLUSTER_CREATION", "false"),
            ("ENABLE_DELIMITED_STATS_TAG_REGEX", "false"),
        ],
        24 => &[
            ("ENABLE_DEFERRED_STATS_CREATION", "false"),
            ("BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS", "false"),
        ],
        _ => &[],
    }
}

/// Proxy metadata env that DNS proxying adds to the sidecar.
pub const DNS_PROXYING_ENV: &[(&str, &str)] = &[
    ("ISTIO_META_DNS_CAPTURE", "true"),
    ("ISTIO_META_DNS_AUTO_ALLOCATE", "true"),
];

/// Go's `strconv.ParseBool`: `None` for anything else.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Whether the injector merges the pod's metrics: `prometheus.io/scrape` not false, and
/// `prometheus.istio.io/merge-metrics` when it parses (in both directions), else the mesh setting.
pub fn merges_metrics(annotations: &BTreeMap<String, String>, mesh_merge: bool) -> bool {
    let flag = |k: &str| annotations.get(k).and_then(|v| parse_bool(v));
    flag(ANNOTATION_PROMETHEUS_SCRAPE).unwrap_or(true)
        && flag(ANNOTATION_MERGE_METRICS).unwrap_or(mesh_merge)
}

/// The mesh's `defaultConfig` as the module renders it from the CR: proxy metadata (DNS
/// proxying, compatibility flags), status port and stats matcher.
pub fn mesh_default_config(settings: &InjectorSettings, minor: u32) -> serde_json::Value {
    let mut metadata = serde_json::Map::new();
    if settings.compatibility_mode {
        for (k, v) in compatibility_env(minor) {
            metadata.insert(k.to_string(), (*v).into());
        }
    }
    if settings.dns_proxying {
        for (k, v) in DNS_PROXYING_ENV {
            metadata.insert(k.to_string(), (*v).into());
        }
    }
    if settings.features.ambient {
        metadata.insert(HBONE_ENV.to_string(), "true".into());
    }
    if settings.features.dual_stack {
        metadata.insert(DUAL_STACK_ENV.to_string(), "true".into());
    }
    let mut config = serde_json::json!({
        "statusPort": settings.status_port,
        "proxyMetadata": metadata,
    });
    if let Some(regexps) = &settings.proxy_stats_matcher {
        config["proxyStatsMatcher"] = serde_json::json!({ "inclusionRegexps": regexps });
    }
    config
}

/// The effective ProxyConfig: the mesh default overlaid per field by the pod's
/// `proxy.istio.io/config` (YAML or JSON); `proxyMetadata` merges per key. An annotation that
/// does not parse is an error: Istio's webhook refuses such a pod.
pub fn effective_proxy_config(
    mesh: &serde_json::Value,
    annotation: Option<&str>,
) -> Result<serde_json::Value> {
    let mut config = mesh.clone();
    let Some(raw) = annotation else {
        return Ok(config);
    };
    let overlay: serde_json::Value = serde_saphyr::from_str(raw)
        .with_context(|| format!("{ANNOTATION_PROXY_CONFIG} does not parse"))?;
    let serde_json::Value::Object(overlay) = overlay else {
        anyhow::bail!("{ANNOTATION_PROXY_CONFIG} is not a mapping");
    };
    let out = config
        .as_object_mut()
        .expect("the mesh default is a mapping");
    for (key, value) in overlay {
        match (key.as_str(), value, out.get_mut(&key)) {
            (
                "proxyMetadata",
                serde_json::Value::Object(m),
                Some(serde_json::Value::Object(base)),
            ) => {
                base.extend(m);
            }
            (_, value, _) => {
                out.insert(key, value);
            }
        }
    }
    Ok(config)
}

/// Returns the pod with the sidecar injected, or `None` when this pod is not injected
/// (opted out, already injected, or host network).
pub fn inject(pod: &Pod, settings: &InjectorSettings) -> Result<Option<Pod>> {
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let spec = pod.spec.as_ref().context("pod has no spec")?;
    let opted_out =
        |m: &BTreeMap<String, String>| m.get(ANNOTATION_INJECT).is_some_and(|v| v == "false");
    let has_proxy = spec.containers.iter().any(|c| c.name == PROXY_CONTAINER)
        || spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| c.name == PROXY_CONTAINER);
    if opted_out(&annotations)
        || opted_out(&labels)
        || annotations.contains_key(ANNOTATION_STATUS)
        || has_proxy
        || spec.host_network == Some(true)
    {
        return Ok(None);
    }

    let minor = settings.minor()?;
    let native = match annotations
        .get(ANNOTATION_NATIVE_SIDECAR)
        .map(String::as_str)
    {
        Some("true") => true,
        Some("false") => false,
        _ => minor >= 27,
    };
    let image = annotations
        .get(ANNOTATION_PROXY_IMAGE)
        .cloned()
        .unwrap_or_else(|| settings.proxy_image());
    let app_containers: Vec<String> = spec.containers.iter().map(|c| c.name.clone()).collect();

    let proxy_config = effective_proxy_config(
        &mesh_default_config(settings, minor),
        annotations.get(ANNOTATION_PROXY_CONFIG).map(String::as_str),
    )?;
    let mut proxy = proxy_container(
        &image,
        settings,
        &annotations,
        &app_containers,
        &proxy_config,
    );
    // With Istio CNI the node agent redirects traffic and `istio-validation` only checks it;
    // without it (`disableCni`) `istio-init` sets up iptables itself, privileged.
    let (traffic_init, traffic_name) = if settings.features.disable_cni {
        (
            Container {
                name: INIT_CONTAINER.to_string(),
                image: Some(image.clone()),
                args: Some(strings(&[
                    "istio-iptables",
                    "-p",
                    "15001",
                    "-z",
                    "15006",
                    "-u",
                    "1337",
                    "-m",
                    "REDIRECT",
                    "-i",
                    "*",
                    "-x",
                    "",
                    "-b",
                    "*",
                    "-d",
                    "15090,15021,15020",
                    "--log_output_level=default:info",
                ])),
                security_context: Some(init_security_context()),
                resources: proxy.resources.clone(),
                ..Default::default()
            },
            INIT_CONTAINER,
        )
    } else {
        (
            Container {
                name: VALIDATION_CONTAINER.to_string(),
                image: Some(image.clone()),
                args: Some(strings(&[
                    "istio-iptables",
                    "--run-validation",
                    "--skip-rule-apply",
                ])),
                security_context: Some(proxy_security_context()),
                resources: proxy.resources.clone(),
                ..Default::default()
            },
            VALIDATION_CONTAINER,
        )
    };

    let mut out = pod.clone();
    let out_spec = out.spec.as_mut().expect("checked above");
    let mut init_containers = vec![traffic_init];
    let status_init: Vec<&str>;
    let status_containers: Vec<&str>;
    if native {
        proxy.restart_policy = Some("Always".to_string());
        init_containers.push(proxy);
        status_init = vec![traffic_name, PROXY_CONTAINER];
        status_containers = vec![];
    } else {
        // Istio puts the regular sidecar after the application containers.
        out_spec.containers.push(proxy);
        status_init = vec![traffic_name];
        status_containers = vec![PROXY_CONTAINER];
    }
    // Istio's init containers run before the pod's own ones.
    init_containers.extend(out_spec.init_containers.take().unwrap_or_default());
    out_spec.init_containers = Some(init_containers);
    let volumes = proxy_volumes();
    let volume_names: Vec<String> = volumes.iter().map(|v| v.name.clone()).collect();
    out_spec
        .volumes
        .get_or_insert_with(Vec::new)
        .extend(volumes);

    let status = serde_json::json!({
        "initContainers": status_init,
        "containers": status_containers,
        "volumes": volume_names,
        "imagePullSecrets": null,
        "revision": "default",
    });
    let out_annotations = out.metadata.annotations.get_or_insert_with(BTreeMap::new);
    out_annotations.insert(ANNOTATION_STATUS.to_string(), status.to_string());
    out_annotations.insert("istio.io/rev".to_string(), "default".to_string());
    if let Some(first) = app_containers.first() {
        out_annotations.insert(
            "kubectl.kubernetes.io/default-container".to_string(),
            first.clone(),
        );
        out_annotations.insert(
            "kubectl.kubernetes.io/default-logs-container".to_string(),
            first.clone(),
        );
    }
    let status_port = settings.status_port.to_string();
    // A pod whose own port already is the status port is left alone (Istio assumes the user
    // controls it, or the pod was injected before).
    let on_status_port = annotations.get(ANNOTATION_PROMETHEUS_PORT) == Some(&status_port);
    if merges_metrics(&annotations, settings.prometheus_merge) && !on_status_port {
        out_annotations.insert(
            ANNOTATION_PROMETHEUS_PATH.to_string(),
            "/stats/prometheus".to_string(),
        );
        out_annotations.insert(ANNOTATION_PROMETHEUS_PORT.to_string(), status_port);
        out_annotations.insert(ANNOTATION_PROMETHEUS_SCRAPE.to_string(), "true".to_string());
    }

    let canonical_name = labels
        .get("app.kubernetes.io/name")
        .or_else(|| labels.get("app"))
        .cloned()
        .unwrap_or_else(|| workload_name(pod));
    let canonical_revision = labels
        .get("app.kubernetes.io/version")
        .or_else(|| labels.get("version"))
        .cloned()
        .unwrap_or_else(|| "latest".to_string());
    let out_labels = out.metadata.labels.get_or_insert_with(BTreeMap::new);
    out_labels.insert("security.istio.io/tlsMode".to_string(), "istio".to_string());
    out_labels.insert(
        "service.istio.io/canonical-name".to_string(),
        canonical_name,
    );
    out_labels.insert(
        "service.istio.io/canonical-revision".to_string(),
        canonical_revision,
    );
    Ok(Some(out))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The pod's name, or for a pod created by a controller its generateName without the suffix.
fn workload_name(pod: &Pod) -> String {
    match (&pod.metadata.name, &pod.metadata.generate_name) {
        (Some(name), _) if !name.is_empty() => name.clone(),
        (_, Some(generate)) => {
            let base = generate.trim_end_matches('-');
            // <deployment>-<pod-template-hash>-: drop the hash when a ReplicaSet made the pod.
            if pod
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key("pod-template-hash"))
            {
                base.rsplit_once('-')
                    .map_or(base, |(head, _)| head)
                    .to_string()
            } else {
                base.to_string()
            }
        }
        _ => "unknown".to_string(),
    }
}

fn proxy_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_group: Some(1337),
        run_as_non_root: Some(true),
        run_as_user: Some(1337),
        ..Default::default()
    }
}

/// `istio-init` changes the pod's iptables: root with NET_ADMIN and NET_RAW.
fn init_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            add: Some(strings(&["NET_ADMIN", "NET_RAW"])),
            drop: Some(strings(&["ALL"])),
        }),
        privileged: Some(false),
        read_only_root_filesystem: Some(false),
        run_as_group: Some(0),
        run_as_non_root: Some(false),
        run_as_user: Some(0),
        ..Default::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        ..Default::default()
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn proxy_container(
    image: &str,
    settings: &InjectorSettings,
    annotations: &BTreeMap<String, String>,
    app_containers: &[String],
    proxy_config: &serde_json::Value,
) -> Container {
    let mut env_vars = vec![
        env("PILOT_CERT_PROVIDER", "istiod"),
        env("CA_ADDR", "istiod.istio-system.svc:15012"),
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
        field_env("INSTANCE_IP", "status.podIP"),
        field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
        env("ISTIO_META_APP_CONTAINERS", &app_containers.join(",")),
        env("ISTIO_META_CLUSTER_ID", "Kubernetes"),
        env("ISTIO_META_MESH_ID", "cluster.local"),
        env("TRUST_DOMAIN", "cluster.local"),
    ];
    // As Istio's template: the effective ProxyConfig as JSON, then one env var per proxyMetadata
    // key (sorted, as Go ranges over a map).
    env_vars.push(env(PROXY_CONFIG_ENV, &proxy_config.to_string()));
    if let Some(metadata) = proxy_config
        .get("proxyMetadata")
        .and_then(|m| m.as_object())
    {
        let sorted: BTreeMap<&String, &serde_json::Value> = metadata.iter().collect();
        for (k, v) in sorted {
            let v = v.as_str().map_or_else(|| v.to_string(), String::from);
            env_vars.push(env(k, &v));
        }
    }

    let resources = proxy_resources(settings, annotations);

    let mount = |name: &str, path: &str| VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        ..Default::default()
    };
    Container {
        name: PROXY_CONTAINER.to_string(),
        image: Some(image.to_string()),
        args: Some(strings(&[
            "proxy",
            "sidecar",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
            "--proxyLogLevel=warning",
            "--proxyComponentLogLevel=misc:error",
            "--log_output_level=default:info",
        ])),
        env: Some(env_vars),
        ports: Some(vec![ContainerPort {
            container_port: 15090,
            name: Some("http-envoy-prom".to_string()),
            protocol: Some("TCP".to_string()),
            ..Default::default()
        }]),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz/ready".to_string()),
                port: IntOrString::Int(15021),
                ..Default::default()
            }),
            period_seconds: Some(15),
            failure_threshold: Some(4),
            ..Default::default()
        }),
        resources: Some(resources),
        security_context: Some(proxy_security_context()),
        volume_mounts: Some(vec![
            mount("istio-envoy", "/etc/istio/proxy"),
            mount("istio-data", "/var/lib/istio/data"),
            mount("istio-podinfo", "/etc/istio/pod"),
            mount("istio-token", "/var/run/secrets/tokens"),
            mount("istiod-ca-cert", "/var/run/secrets/istio"),
        ]),
        ..Default::default()
    }
}

/// Istio's rule: once any of the four resource annotations is set, only what the annotations
/// give is rendered (the API server then defaults a missing request from its limit); else the
/// global proxy resources.
pub fn proxy_resources(
    settings: &InjectorSettings,
    annotations: &BTreeMap<String, String>,
) -> ResourceRequirements {
    let pick = |pairs: [(&str, &str); 2]| {
        let m: BTreeMap<String, Quantity> = pairs
            .iter()
            .filter_map(|(a, r)| {
                annotations
                    .get(*a)
                    .map(|v| (r.to_string(), Quantity(v.clone())))
            })
            .collect();
        (!m.is_empty()).then_some(m)
    };
    let requests = pick([
        (ANNOTATION_PROXY_CPU, "cpu"),
        (ANNOTATION_PROXY_MEMORY, "memory"),
    ]);
    let limits = pick([
        (ANNOTATION_PROXY_CPU_LIMIT, "cpu"),
        (ANNOTATION_PROXY_MEMORY_LIMIT, "memory"),
    ]);
    if requests.is_none() && limits.is_none() {
        return settings.resources.clone();
    }
    ResourceRequirements {
        requests,
        limits,
        ..Default::default()
    }
}

fn proxy_volumes() -> Vec<Volume> {
    // Built from JSON: the typed builders for projected/downward volumes are verbose and these
    // volumes only need to be valid, not used (kwok runs no containers).
    let volumes = serde_json::json!([
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {"name": "istio-data", "emptyDir": {}},
        {"name": "istio-podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}
        ]}},
        {"name": "istio-token", "projected": {"sources": [
            {"serviceAccountToken": {"audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}
        ]}},
        {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}}
    ]);
    serde_json::from_value(volumes).expect("static volume list is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::injector::Features;
    use k8s_openapi::api::core::v1::PodSpec;
    use kube::api::ObjectMeta;

    fn pod(annotations: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("app-1".into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                labels: Some(BTreeMap::from([("app".to_string(), "app".to_string())])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    image: Some("nginx".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn proxy_of(pod: &Pod) -> &Container {
        let spec = pod.spec.as_ref().unwrap();
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == PROXY_CONTAINER)
            .expect("istio-proxy injected")
    }

    fn env_of(c: &Container) -> BTreeMap<String, String> {
        c.env
            .iter()
            .flatten()
            .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
            .collect()
    }

    #[test]
    fn native_sidecar_from_1_27_with_status_annotation() {
        let settings = InjectorSettings::kyma_default("1.29.3");
        let out = inject(&pod(&[]), &settings).unwrap().unwrap();
        let spec = out.spec.as_ref().unwrap();
        let init = spec.init_containers.as_ref().unwrap();
        assert_eq!(
            init.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            [VALIDATION_CONTAINER, PROXY_CONTAINER]
        );
        assert_eq!(init[1].restart_policy.as_deref(), Some("Always"));
        assert_eq!(
            init[1].image.as_deref(),
            Some(
                "europe-docker.pkg.dev/kyma-project/prod/external/istio/proxyv2:1.29.3-distroless"
            )
        );
        assert_eq!(spec.containers.len(), 1);
        let status: serde_json::Value =
            serde_json::from_str(&out.metadata.annotations.as_ref().unwrap()[ANNOTATION_STATUS])
                .unwrap();
        assert_eq!(
            status["initContainers"],
            serde_json::json!([VALIDATION_CONTAINER, PROXY_CONTAINER])
        );
        assert_eq!(status["containers"], serde_json::json!([]));
        assert!(
            !out.metadata
                .annotations
                .as_ref()
                .unwrap()
                .contains_key(ANNOTATION_PROMETHEUS_PATH)
        );
    }

    #[test]
    fn regular_sidecar_before_1_27_or_when_opted_out() {
        let old = InjectorSettings::kyma_default("1.26.2");
        let out = inject(&pod(&[]), &old).unwrap().unwrap();
        assert_eq!(
            out.spec.as_ref().unwrap().containers[1].name,
            PROXY_CONTAINER
        );
        assert!(proxy_of(&out).restart_policy.is_none());

        let new = InjectorSettings::kyma_default("1.29.3");
        let out = inject(&pod(&[(ANNOTATION_NATIVE_SIDECAR, "false")]), &new)
            .unwrap()
            .unwrap();
        let status = &out.metadata.annotations.as_ref().unwrap()[ANNOTATION_STATUS];
        assert!(
            status.contains(r#""containers":["istio-proxy"]"#),
            "{status}"
        );
    }

    #[test]
    fn opt_out_and_already_injected_pods_are_left_alone() {
        let settings = InjectorSettings::kyma_default("1.29.3");
        assert!(
            inject(&pod(&[(ANNOTATION_INJECT, "false")]), &settings)
                .unwrap()
                .is_none()
        );
        assert!(
            inject(&pod(&[(ANNOTATION_STATUS, "{}")]), &settings)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn prometheus_merge_unless_opted_out() {
        let mut settings = InjectorSettings::kyma_default("1.29.3");
        settings.prometheus_merge = true;
        let out = inject(&pod(&[]), &settings).unwrap().unwrap();
        let a = out.metadata.annotations.unwrap();
        assert_eq!(a[ANNOTATION_PROMETHEUS_PATH], "/stats/prometheus");
        assert_eq!(a[ANNOTATION_PROMETHEUS_PORT], "15020");
        assert_eq!(a[ANNOTATION_PROMETHEUS_SCRAPE], "true");
        for opt_out in [
            (ANNOTATION_PROMETHEUS_SCRAPE, "false"),
            (ANNOTATION_MERGE_METRICS, "false"),
        ] {
            let out = inject(&pod(&[opt_out]), &settings).unwrap().unwrap();
            assert!(
                !out.metadata
                    .annotations
                    .unwrap()
                    .contains_key(ANNOTATION_PROMETHEUS_PATH)
            );
        }
    }

    #[test]
    fn feature_flags_pick_the_init_container_and_add_proxy_metadata() {
        let names = |p: &Pod| -> Vec<String> {
            let spec = p.spec.as_ref().unwrap();
            spec.init_containers
                .iter()
                .flatten()
                .map(|c| c.name.clone())
                .collect()
        };
        let mut settings = InjectorSettings::kyma_default("1.30.2");
        let out = inject(&pod(&[]), &settings).unwrap().unwrap();
        assert_eq!(names(&out), [VALIDATION_CONTAINER, PROXY_CONTAINER]);
        let env = env_of(proxy_of(&out));
        assert!(!env.contains_key(HBONE_ENV) && !env.contains_key(DUAL_STACK_ENV));

        settings.features = Features {
            disable_cni: true,
            ambient: true,
            dual_stack: true,
        };
        let out = inject(&pod(&[]), &settings).unwrap().unwrap();
        assert_eq!(names(&out), [INIT_CONTAINER, PROXY_CONTAINER]);
        let status: serde_json::Value =
            serde_json::from_str(&out.metadata.annotations.as_ref().unwrap()[ANNOTATION_STATUS])
                .unwrap();
        assert_eq!(
            status["initContainers"],
            serde_json::json!([INIT_CONTAINER, PROXY_CONTAINER])
        );
        let proxy = proxy_of(&out);
        let env = env_of(proxy);
        assert_eq!(env[HBONE_ENV], "true");
        assert_eq!(env[DUAL_STACK_ENV], "true");
        let config: serde_json::Value = serde_json::from_str(&env[PROXY_CONFIG_ENV]).unwrap();
        assert_eq!(config["proxyMetadata"][HBONE_ENV], "true");
        assert_eq!(config["proxyMetadata"][DUAL_STACK_ENV], "true");
        // A regular sidecar gets the same init container.
        let out = inject(&pod(&[(ANNOTATION_NATIVE_SIDECAR, "false")]), &settings)
            .unwrap()
            .unwrap();
        assert_eq!(names(&out), [INIT_CONTAINER]);
    }

    #[test]
    fn compatibility_and_dns_env_by_minor() {
        for (version, expected) in [
            ("1.22.3", vec!["ISTIO_DELTA_XDS"]),
            (
                "1.23.2",
                vec![
                    "ENABLE_DEFERRED_CLUSTER_CREATION",
                    "ENABLE_DELIMITED_STATS_TAG_REGEX",
                ],
            ),
            (
                "1.24.2",
                vec![
                    "ENABLE_DEFERRED_STATS_CREATION",
                    "BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS",
                ],
            ),
            ("1.25.3", vec![]),
        ] {
            let mut settings = InjectorSettings::kyma_default(version);
            settings.compatibility_mode = true;
            let env = env_of(proxy_of(&inject(&pod(&[]), &settings).unwrap().unwrap()));
            for name in &expected {
                assert_eq!(
                    env.get(*name).map(String::as_str),
                    Some("false"),
                    "{version} {name}"
                );
            }
            let flags = [
                "ISTIO_DELTA_XDS",
                "ENABLE_DEFERRED_CLUSTER_CREATION",
                "ENABLE_DEFERRED_STATS_CREATION",
            ];
            let present = flags.iter().filter(|f| env.contains_key(**f)).count();
            assert_eq!(
                present,
                expected.iter().filter(|e| flags.contains(e)).count(),
                "{version}"
            );
        }
        let mut settings = InjectorSettings::kyma_default("1.22.3");
        settings.dns_proxying = true;
        let env = env_of(proxy_of(&inject(&pod(&[]), &settings).unwrap().unwrap()));
        assert_eq!(env["ISTIO_META_DNS_CAPTURE"], "true");
        assert_eq!(env["ISTIO_META_DNS_AUTO_ALLOCATE"], "true");
        assert!(
            !env.contains_key("ISTIO_DELTA_XDS"),
            "compatibility mode is off"
        );
    }

    #[test]
    fn resource_annotations_replace_the_global_resources() {
        let settings = InjectorSettings::kyma_default("1.29.3");
        let out = inject(
            &pod(&[
                (ANNOTATION_PROXY_CPU, "50m"),
                (ANNOTATION_PROXY_MEMORY_LIMIT, "2Gi"),
                (ANNOTATION_PROXY_IMAGE, "my.registry/proxyv2:custom"),
            ]),
            &settings,
        )
        .unwrap()
        .unwrap();
        let proxy = proxy_of(&out);
        let r = proxy.resources.as_ref().unwrap();
        // Only what the annotations give: no global memory request, no global CPU limit.
        assert_eq!(
            r.requests.as_ref().unwrap(),
            &BTreeMap::from([("cpu".to_string(), Quantity("50m".into()))])
        );
        assert_eq!(
            r.limits.as_ref().unwrap(),
            &BTreeMap::from([("memory".to_string(), Quantity("2Gi".into()))])
        );
        assert_eq!(proxy.image.as_deref(), Some("my.registry/proxyv2:custom"));

        // A limit only: no requests at all (the API server defaults them from the limit).
        let out = inject(&pod(&[(ANNOTATION_PROXY_CPU_LIMIT, "300m")]), &settings)
            .unwrap()
            .unwrap();
        let r = proxy_of(&out).resources.clone().unwrap();
        assert_eq!(r.requests, None);
        assert_eq!(r.limits.unwrap()["cpu"].0, "300m");

        // No annotation: the global resources, whole.
        let out = inject(&pod(&[]), &settings).unwrap().unwrap();
        assert_eq!(proxy_of(&out).resources.as_ref(), Some(&settings.resources));
    }

    fn merged(annotations: &[(&str, &str)], mesh_merge: bool) -> BTreeMap<String, String> {
        let mut settings = InjectorSettings::kyma_default("1.29.3");
        settings.prometheus_merge = mesh_merge;
        inject(&pod(annotations), &settings)
            .unwrap()
            .unwrap()
            .metadata
            .annotations
            .unwrap()
    }

    #[test]
    fn prometheus_opt_outs_parse_as_go_booleans() {
        for v in ["0", "f", "F", "FALSE", "false", "False"] {
            for key in [ANNOTATION_PROMETHEUS_SCRAPE, ANNOTATION_MERGE_METRICS] {
                let a = merged(&[(key, v)], true);
                assert!(!a.contains_key(ANNOTATION_PROMETHEUS_PATH), "{key}={v}");
            }
        }
        // Not a boolean: no opt-out, the mesh setting stands.
        for v in ["no", "off", ""] {
            let a = merged(&[(ANNOTATION_PROMETHEUS_SCRAPE, v)], true);
            assert_eq!(a[ANNOTATION_PROMETHEUS_PATH], "/stats/prometheus", "{v}");
            let a = merged(&[(ANNOTATION_MERGE_METRICS, v)], false);
            assert!(!a.contains_key(ANNOTATION_PROMETHEUS_PATH), "{v}");
        }
    }

    #[test]
    fn merge_metrics_forces_merge_on_when_the_mesh_has_it_off() {
        for v in ["1", "t", "true", "True"] {
            let a = merged(&[(ANNOTATION_MERGE_METRICS, v)], false);
            assert_eq!(a[ANNOTATION_PROMETHEUS_PATH], "/stats/prometheus", "{v}");
            assert_eq!(a[ANNOTATION_PROMETHEUS_PORT], "15020", "{v}");
        }
        // scrape false wins over merge-metrics true.
        let a = merged(
            &[
                (ANNOTATION_MERGE_METRICS, "true"),
                (ANNOTATION_PROMETHEUS_SCRAPE, "false"),
            ],
            false,
        );
        assert!(!a.contains_key(ANNOTATION_PROMETHEUS_PATH));
    }

    #[test]
    fn an_app_already_on_the_status_port_keeps_its_annotations() {
        let own = [
            (ANNOTATION_PROMETHEUS_PORT, "15020"),
            (ANNOTATION_PROMETHEUS_PATH, "/metrics"),
            (ANNOTATION_PROMETHEUS_SCRAPE, "1"),
        ];
        let a = merged(&own, true);
        for (k, v) in own {
            assert_eq!(a[k], v, "{k}");
        }
        // Another port is rewritten.
        let a = merged(&[(ANNOTATION_PROMETHEUS_PORT, "8080")], true);
        assert_eq!(a[ANNOTATION_PROMETHEUS_PORT], "15020");
        assert_eq!(a[ANNOTATION_PROMETHEUS_PATH], "/stats/prometheus");
    }

    fn proxy_config_of(c: &Container) -> serde_json::Value {
        serde_json::from_str(&env_of(c)[PROXY_CONFIG_ENV]).expect("PROXY_CONFIG is JSON")
    }

    #[test]
    fn proxy_config_env_is_the_mesh_default() {
        let mut settings = InjectorSettings::kyma_default("1.24.2");
        settings.dns_proxying = true;
        settings.compatibility_mode = true;
        settings.proxy_stats_matcher = Some(vec![".*outlier.*".into()]);
        let out = inject(&pod(&[]), &settings).unwrap().unwrap();
        let proxy = proxy_of(&out);
        let config = proxy_config_of(proxy);
        assert_eq!(
            config,
            serde_json::json!({
                "statusPort": 15020,
                "proxyMetadata": {
                    "ISTIO_META_DNS_CAPTURE": "true",
                    "ISTIO_META_DNS_AUTO_ALLOCATE": "true",
                    "ENABLE_DEFERRED_STATS_CREATION": "false",
                    "BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS": "false",
                },
                "proxyStatsMatcher": {"inclusionRegexps": [".*outlier.*"]},
            })
        );
        let env = env_of(proxy);
        for (k, v) in config["proxyMetadata"].as_object().unwrap() {
            assert_eq!(env.get(k).map(String::as_str), v.as_str(), "{k}");
        }

        // Nothing set: an empty proxyMetadata, no stats matcher, no metadata env.
        let plain = InjectorSettings::kyma_default("1.29.3");
        let proxy = proxy_of(&inject(&pod(&[]), &plain).unwrap().unwrap()).clone();
        let config = proxy_config_of(&proxy);
        assert_eq!(config["proxyMetadata"], serde_json::json!({}));
        assert!(config.get("proxyStatsMatcher").is_none());
        assert!(!env_of(&proxy).contains_key("ISTIO_META_DNS_CAPTURE"));
    }

    #[test]
    fn the_pod_annotation_overlays_the_mesh_default_per_field() {
        let mut settings = InjectorSettings::kyma_default("1.29.3");
        settings.dns_proxying = true;
        settings.proxy_stats_matcher = Some(vec![".*outlier.*".into()]);
        let yaml = "proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"false\"\n  OWN: \"1\"\nproxyStatsMatcher:\n  inclusionRegexps: [\".*upstream.*\"]\n";
        let out = inject(&pod(&[(ANNOTATION_PROXY_CONFIG, yaml)]), &settings)
            .unwrap()
            .unwrap();
        let proxy = proxy_of(&out);
        let config = proxy_config_of(proxy);
        // proxyMetadata merges per key; other fields are replaced.
        assert_eq!(
            config["proxyMetadata"],
            serde_json::json!({
                "ISTIO_META_DNS_CAPTURE": "false",
                "ISTIO_META_DNS_AUTO_ALLOCATE": "true",
                "OWN": "1",
            })
        );
        assert_eq!(
            config["proxyStatsMatcher"],
            serde_json::json!({"inclusionRegexps": [".*upstream.*"]})
        );
        assert_eq!(config["statusPort"], 15020);
        let env = env_of(proxy);
        assert_eq!(env["ISTIO_META_DNS_CAPTURE"], "false");
        assert_eq!(env["OWN"], "1");

        // JSON works too; a broken annotation is refused, as Istio's webhook does.
        let json = r#"{"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "false"}}"#;
        let out = inject(&pod(&[(ANNOTATION_PROXY_CONFIG, json)]), &settings)
            .unwrap()
            .unwrap();
        assert_eq!(env_of(proxy_of(&out))["ISTIO_META_DNS_CAPTURE"], "false");
        assert!(inject(&pod(&[(ANNOTATION_PROXY_CONFIG, "{[")]), &settings).is_err());
    }
}

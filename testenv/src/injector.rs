//! The simulated sidecar injector: what Istio's injection webhook does to a new pod, reduced to
//! the parts that decide whether a sidecar restart is needed (image, native or regular sidecar,
//! status annotation, Prometheus merge annotations, proxy metadata env, resources).
//!
//! [`inject`] is pure; [`serve`] runs it as a mutating admission webhook over HTTPS. The webhook
//! reads its [`InjectorSettings`] from the cluster on every request, so a test that "upgrades"
//! Istio only writes the settings ConfigMap (see [`crate::sim`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector,
    Pod, Probe, ResourceRequirements, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use serde::{Deserialize, Serialize};

/// Namespace of the simulated Istio control plane.
pub const ISTIO_NAMESPACE: &str = "istio-system";
/// ConfigMap (in [`ISTIO_NAMESPACE`]) that holds the injector's settings under [`SETTINGS_KEY`].
pub const SETTINGS_CONFIGMAP: &str = "sim-injector";
/// Key of the JSON-encoded [`InjectorSettings`] in [`SETTINGS_CONFIGMAP`].
pub const SETTINGS_KEY: &str = "settings.json";

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

pub const PROXY_CONTAINER: &str = "istio-proxy";
pub const VALIDATION_CONTAINER: &str = "istio-validation";

/// What the injector injects: the installed Istio version and the sidecar-relevant parts of
/// the Istio CR, as the operator would have rendered them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectorSettings {
    /// Installed Istio version, e.g. `1.29.3`.
    pub istio_version: String,
    /// Image registry path of the Istio images, e.g. `europe-docker.pkg.dev/kyma-project/prod/external/istio`.
    pub hub: String,
    /// `spec.config.telemetry.metrics.prometheusMerge`.
    #[serde(default)]
    pub prometheus_merge: bool,
    /// `spec.compatibilityMode`.
    #[serde(default)]
    pub compatibility_mode: bool,
    /// `spec.config.enableDNSProxying`.
    #[serde(default)]
    pub dns_proxying: bool,
    /// Mesh `defaultConfig.statusPort`.
    #[serde(default = "default_status_port")]
    pub status_port: u16,
    /// Sidecar resources (`spec.components.proxy.k8s.resources` or the module default).
    pub resources: ResourceRequirements,
}

fn default_status_port() -> u16 {
    15020
}

impl InjectorSettings {
    /// Settings of a default Kyma Istio installation of `istio_version`.
    pub fn kyma_default(istio_version: &str) -> Self {
        let q = |s: &str| Quantity(s.to_string());
        Self {
            istio_version: istio_version.to_string(),
            hub: crate::sim::HUB.to_string(),
            prometheus_merge: false,
            compatibility_mode: false,
            dns_proxying: false,
            status_port: default_status_port(),
            resources: ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".to_string(), q("10m")),
                    ("memory".to_string(), q("192Mi")),
                ])),
                limits: Some(BTreeMap::from([
                    ("cpu".to_string(), q("1000m")),
                    ("memory".to_string(), q("1024Mi")),
                ])),
                ..Default::default()
            },
        }
    }

    /// The sidecar image new injections get: `<hub>/proxyv2:<version>-distroless`.
    pub fn proxy_image(&self) -> String {
        format!("{}/proxyv2:{}-distroless", self.hub, self.istio_version)
    }

    /// Minor version of [`Self::istio_version`] (`1.29.3` -> 29).
    fn minor(&self) -> Result<u32> {
        let mut parts = self.istio_version.split('.');
        let (major, minor) = (parts.next(), parts.next());
        match (major, minor.and_then(|m| m.parse::<u32>().ok())) {
            (Some("1"), Some(minor)) => Ok(minor),
            _ => bail!(
                "istio version {:?} is not 1.<minor>.<patch>",
                self.istio_version
            ),
        }
    }
}

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

    let mut proxy = proxy_container(&image, settings, &annotations, &app_containers, minor);
    let validation = Container {
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
    };

    let mut out = pod.clone();
    let out_spec = out.spec.as_mut().expect("checked above");
    let mut init_containers = vec![validation];
    let status_init: Vec<&str>;
    let status_containers: Vec<&str>;
    if native {
        proxy.restart_policy = Some("Always".to_string());
        init_containers.push(proxy);
        status_init = vec![VALIDATION_CONTAINER, PROXY_CONTAINER];
        status_containers = vec![];
    } else {
        // Istio puts the regular sidecar after the application containers.
        out_spec.containers.push(proxy);
        status_init = vec![VALIDATION_CONTAINER];
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
    let prometheus_opt_out = annotations
        .get(ANNOTATION_PROMETHEUS_SCRAPE)
        .is_some_and(|v| v == "false")
        || annotations
            .get(ANNOTATION_MERGE_METRICS)
            .is_some_and(|v| v == "false");
    if settings.prometheus_merge && !prometheus_opt_out {
        out_annotations.insert(
            ANNOTATION_PROMETHEUS_PATH.to_string(),
            "/stats/prometheus".to_string(),
        );
        out_annotations.insert(
            ANNOTATION_PROMETHEUS_PORT.to_string(),
            settings.status_port.to_string(),
        );
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
    minor: u32,
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
    let mut metadata: Vec<(&str, &str)> = Vec::new();
    if settings.compatibility_mode {
        metadata.extend_from_slice(compatibility_env(minor));
    }
    if settings.dns_proxying {
        metadata.extend_from_slice(DNS_PROXYING_ENV);
    }
    env_vars.extend(metadata.iter().map(|(k, v)| env(k, v)));

    let mut resources = settings.resources.clone();
    let overrides = [
        (ANNOTATION_PROXY_CPU, false, "cpu"),
        (ANNOTATION_PROXY_MEMORY, false, "memory"),
        (ANNOTATION_PROXY_CPU_LIMIT, true, "cpu"),
        (ANNOTATION_PROXY_MEMORY_LIMIT, true, "memory"),
    ];
    for (annotation, limit, resource) in overrides {
        if let Some(value) = annotations.get(annotation) {
            let target = if limit {
                &mut resources.limits
            } else {
                &mut resources.requests
            };
            target
                .get_or_insert_with(BTreeMap::new)
                .insert(resource.to_string(), Quantity(value.clone()));
        }
    }

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

/// Computes the admission response for one request: a JSON patch that injects the sidecar, or
/// an allowed response without a patch.
pub fn review(request: &AdmissionRequest<Pod>, settings: &InjectorSettings) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    let Some(pod) = request.object.as_ref() else {
        return response;
    };
    match inject(pod, settings) {
        Ok(None) => response,
        Ok(Some(injected)) => {
            let before = serde_json::to_value(pod).expect("a Pod serialises");
            let after = serde_json::to_value(&injected).expect("a Pod serialises");
            match response.with_patch(json_patch::diff(&before, &after)) {
                Ok(r) => r,
                Err(e) => AdmissionResponse::from(request).deny(format!("sim-injector: {e}")),
            }
        }
        Err(e) => response.deny(format!("sim-injector: {e:#}")),
    }
}

/// Reads the injector settings from the cluster.
pub async fn read_settings(client: &kube::Client) -> Result<InjectorSettings> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    let cm = cms
        .get(SETTINGS_CONFIGMAP)
        .await
        .with_context(|| format!("reading ConfigMap {ISTIO_NAMESPACE}/{SETTINGS_CONFIGMAP}"))?;
    let raw = cm
        .data
        .as_ref()
        .and_then(|d| d.get(SETTINGS_KEY))
        .with_context(|| {
            format!("ConfigMap {ISTIO_NAMESPACE}/{SETTINGS_CONFIGMAP} has no key {SETTINGS_KEY}")
        })?;
    serde_json::from_str(raw).with_context(|| {
        format!("parsing {SETTINGS_KEY} of {ISTIO_NAMESPACE}/{SETTINGS_CONFIGMAP}")
    })
}

type Body = Full<Bytes>;

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn handle(client: kube::Client, request: Request<Incoming>) -> Response<Body> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => respond(StatusCode::OK, "ok"),
        (&Method::POST, "/inject") => {
            let body = match request.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return respond(StatusCode::BAD_REQUEST, format!("reading body: {e}")),
            };
            let review_in: AdmissionReview<Pod> = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        format!("not an AdmissionReview: {e}"),
                    );
                }
            };
            let admission: AdmissionRequest<Pod> = match review_in.try_into() {
                Ok(r) => r,
                Err(e) => {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        format!("AdmissionReview without request: {e}"),
                    );
                }
            };
            let response = match read_settings(&client).await {
                Ok(settings) => {
                    let r = review(&admission, &settings);
                    tracing::info!(
                        namespace = admission.namespace.as_deref().unwrap_or(""),
                        name = admission.name,
                        patched = r.patch.is_some(),
                        allowed = r.allowed,
                        version = settings.istio_version,
                        "admission"
                    );
                    r
                }
                Err(e) => {
                    tracing::error!("{e:#}");
                    AdmissionResponse::from(&admission).deny(format!("sim-injector: {e:#}"))
                }
            };
            let review_out: AdmissionReview<DynamicObject> = response.into_review();
            match serde_json::to_vec(&review_out) {
                Ok(bytes) => {
                    let mut r = respond(StatusCode::OK, bytes);
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        "application/json".parse().expect("static header"),
                    );
                    r
                }
                Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        _ => respond(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Loads a PEM certificate chain and private key into a rustls server config.
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves the webhook on `addr` until the process ends.
pub async fn serve(
    addr: SocketAddr,
    tls: rustls::ServerConfig,
    client: kube::Client,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    tracing::info!(%addr, "sim-injector listening");
    loop {
        let (stream, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| {
                let client = client.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(client, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "connection error: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn resource_and_image_annotations_override_settings() {
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
        assert_eq!(r.requests.as_ref().unwrap()["cpu"].0, "50m");
        assert_eq!(r.requests.as_ref().unwrap()["memory"].0, "192Mi");
        assert_eq!(r.limits.as_ref().unwrap()["memory"].0, "2Gi");
        assert_eq!(r.limits.as_ref().unwrap()["cpu"].0, "1000m");
        assert_eq!(proxy.image.as_deref(), Some("my.registry/proxyv2:custom"));
    }

    #[test]
    fn review_returns_a_json_patch() {
        let settings = InjectorSettings::kyma_default("1.29.3");
        let review_json = serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "0000-1111",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "operation": "CREATE",
                "namespace": "demo",
                "userInfo": {"username": "admin"},
                "object": serde_json::to_value(pod(&[])).unwrap(),
            }
        });
        let review_in: AdmissionReview<Pod> = serde_json::from_value(review_json).unwrap();
        let request: AdmissionRequest<Pod> = review_in.try_into().unwrap();
        let response = review(&request, &settings);
        assert!(response.allowed);
        let patch: serde_json::Value =
            serde_json::from_slice(response.patch.as_ref().unwrap()).unwrap();
        let text = patch.to_string();
        assert!(text.contains("/spec/initContainers"), "{text}");
        assert!(text.contains("proxyv2:1.29.3-distroless"), "{text}");
    }
}

//! Kubernetes objects -> the live model. Used by the snapshot reader and the cluster reader alike;
//! each owner kind's own conversion is in [`super::kinds`].

use super::kinds::OwnerKind;
use super::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::Selector;
use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

pub const PROXY_CONTAINER: &str = "istio-proxy";
pub const STATUS_ANNOTATION: &str = "sidecar.istio.io/status";
pub const ISTIO_NAMESPACE: &str = "istio-system";
pub const MANAGER_NAME: &str = "istio-controller-manager";
/// The mesh ConfigMap (in `istio-system`).
pub const MESH_CONFIGMAP: &str = "istio";
pub const VERSION_LABEL: &str = "app.kubernetes.io/version";
/// Env var of the module manager that switches it to the FIPS images.
pub const FIPS_MODE_ENV: &str = "KYMA_FIPS_MODE_ENABLED";
/// Env vars of `istio-proxy` that the planner compares.
pub const PROXY_ENV: &[&str] = &[
    "ISTIO_META_DNS_CAPTURE",
    "ISTIO_DELTA_XDS",
    "ENABLE_DEFERRED_CLUSTER_CREATION",
    "ENABLE_DELIMITED_STATS_TAG_REGEX",
    "ENABLE_DEFERRED_STATS_CREATION",
    "BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS",
    crate::istio::features::HBONE_ENV,
    crate::istio::features::DUAL_STACK_ENV,
];
/// Containers whose images tell the control plane's Istio version.
const CONTROL_PLANE_CONTAINERS: &[&str] = &["discovery", "istio-proxy", "install-cni"];

fn kept_annotation(key: &str) -> bool {
    key.starts_with("sidecar.istio.io/")
        || key.starts_with("prometheus.io/")
        || key.starts_with("prometheus.istio.io/")
        || key.starts_with(TOOL_PREFIX)
        || key == PROXY_CONFIG_ANNOTATION
        || key == super::KYMA_EXCLUDE_ANNOTATION
}

/// The pod's own ProxyConfig overrides (per field over the mesh's `defaultConfig`).
pub const PROXY_CONFIG_ANNOTATION: &str = "proxy.istio.io/config";

fn ns(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

fn pick_proxy(spec: &wire::PodSpec) -> Option<(&wire::Container, bool)> {
    if let Some(c) = spec.containers.iter().find(|c| c.name == PROXY_CONTAINER) {
        return Some((c, false));
    }
    spec.init_containers
        .iter()
        .flatten()
        .find(|c| c.name == PROXY_CONTAINER)
        .map(|c| (c, c.restart_policy.as_deref() == Some("Always")))
}

/// The traffic init container among the pod's init containers.
fn traffic_init(spec: &wire::PodSpec) -> TrafficInit {
    let names = || {
        spec.init_containers
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
    };
    if names().any(|n| n == TrafficInit::ISTIO_INIT) {
        TrafficInit::IstioInit
    } else if names().any(|n| n == TrafficInit::ISTIO_VALIDATION) {
        TrafficInit::IstioValidation
    } else {
        TrafficInit::None
    }
}

fn quantity(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    key: &str,
) -> Option<String> {
    map.and_then(|m| m.get(key)).map(|q| q.0.clone())
}

/// Env var of `istio-proxy` holding the effective ProxyConfig as JSON.
pub const PROXY_CONFIG_ENV: &str = "PROXY_CONFIG";

/// `PROXY_CONFIG` decoded; `None` when it is not a JSON object (then the pod is judged from its
/// proxy metadata env vars alone).
pub fn carried_config(raw: &str) -> Option<CarriedConfig> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    let v = v.as_object()?;
    let proxy_metadata = v
        .get("proxyMetadata")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), String::from),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut stats_regexps: Vec<String> = v
        .get("proxyStatsMatcher")
        .and_then(|m| m.get("inclusionRegexps"))
        .and_then(|r| r.as_array())
        .map(|r| {
            r.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    stats_regexps.sort();
    stats_regexps.dedup();
    Some(CarriedConfig {
        proxy_metadata,
        stats_regexps,
    })
}

/// The `istio-proxy` container reduced to what the planner reads. `PROXY_CONFIG` is the same
/// string in every pod of a workload (and often of a namespace): it is decoded once per distinct
/// value (`configs`), not once per pod.
fn proxy(
    c: &wire::Container,
    native: bool,
    configs: &mut HashMap<String, Option<CarriedConfig>>,
) -> Proxy {
    let env = c
        .env
        .iter()
        .flatten()
        .filter(|e| PROXY_ENV.contains(&e.name.as_str()))
        .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
        .collect();
    let r = c.resources.as_ref();
    let pair = |m| ResourcePair {
        cpu: quantity(m, "cpu"),
        memory: quantity(m, "memory"),
    };
    Proxy {
        image: c.image.clone().unwrap_or_default(),
        native,
        env,
        requests: pair(r.and_then(|r| r.requests.as_ref())),
        limits: pair(r.and_then(|r| r.limits.as_ref())),
        traffic_init: TrafficInit::None,
        config: c
            .env
            .iter()
            .flatten()
            .find(|e| e.name == PROXY_CONFIG_ENV)
            .and_then(|e| e.value.as_deref())
            .and_then(|raw| match configs.get(raw) {
                Some(decoded) => decoded.clone(),
                None => {
                    let decoded = carried_config(raw);
                    configs.insert(raw.to_string(), decoded.clone());
                    decoded
                }
            }),
    }
}

fn is_gateway_pod(labels: &BTreeMap<String, String>) -> bool {
    labels
        .get("istio")
        .is_some_and(|v| v == "ingressgateway" || v == "egressgateway")
}

/// Shares equal values between pods: one allocation per distinct namespace, owner name, label
/// map, annotation map and proxy instead of one per pod.
#[derive(Default)]
struct Interner {
    strs: HashSet<Arc<str>>,
    maps: HashSet<SharedMap>,
    proxies: HashSet<Arc<Proxy>>,
    /// `PROXY_CONFIG` values decoded so far.
    configs: HashMap<String, Option<CarriedConfig>>,
}

impl Interner {
    fn str(&mut self, s: &str) -> Arc<str> {
        shared(&mut self.strs, s)
    }

    fn map(&mut self, m: BTreeMap<String, String>) -> SharedMap {
        shared(&mut self.maps, m)
    }

    fn proxy(&mut self, p: Proxy) -> Arc<Proxy> {
        shared(&mut self.proxies, p)
    }
}

/// The `Arc` in `set` equal to `value`, added if there is none.
fn shared<T, V>(set: &mut HashSet<Arc<T>>, value: V) -> Arc<T>
where
    T: Hash + Eq + ?Sized,
    V: Borrow<T> + Into<Arc<T>>,
{
    if let Some(v) = set.get(value.borrow()) {
        return v.clone();
    }
    let v = value.into();
    set.insert(v.clone());
    v
}

pub fn pdb(p: &PodDisruptionBudget) -> Pdb {
    Pdb {
        namespace: ns(&p.metadata).to_string(),
        name: name(&p.metadata).to_string(),
        selector: p
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .and_then(|s| Selector::try_from(s).ok()),
        disruptions_allowed: p.status.as_ref().map_or(0, |s| s.disruptions_allowed),
    }
}

/// What a module manager Deployment says: version label and the `proxyv2` image env var.
pub fn module_release(d: &Deployment) -> ModuleRelease {
    let version = d
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(VERSION_LABEL))
        .and_then(|v| v.parse().ok());
    let env = |name: &str| {
        d.spec
            .as_ref()
            .into_iter()
            .flat_map(|s| s.template.spec.iter())
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.env.iter().flatten())
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    // In FIPS mode the manager installs the `*-fips` images.
    let fips = env(FIPS_MODE_ENV)
        .is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "TRUE" | "true" | "True"));
    let proxy_image = if fips {
        env("proxyv2-fips").or_else(|| env("proxyv2"))
    } else {
        env("proxyv2")
    };
    ModuleRelease {
        version,
        proxy_image,
    }
}

pub fn is_manager(meta: &ObjectMeta) -> bool {
    name(meta) == MANAGER_NAME && ns(meta) == KYMA_NAMESPACE
}

fn is_control_plane(meta: &ObjectMeta) -> bool {
    ns(meta) == ISTIO_NAMESPACE
        && meta
            .labels
            .as_ref()
            .and_then(|l| l.get(KYMA_MODULE_LABEL))
            .is_some_and(|v| v == "istio")
}

/// Images of the containers that tell the control plane's version, from (name, image) pairs.
fn control_plane_images<'a>(
    object: String,
    containers: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    out: &mut Vec<ControlPlaneImage>,
) {
    for (name, image) in containers {
        if CONTROL_PLANE_CONTAINERS.contains(&name) {
            out.push(ControlPlaneImage {
                object: object.clone(),
                container: name.to_string(),
                image: image.unwrap_or_default().to_string(),
            });
        }
    }
}

/// `defaultConfig.statusPort` and the sidecar settings ([`Mesh`]) from the mesh ConfigMap; both
/// `None` without its `mesh` key.
pub fn mesh(cm: &ConfigMap) -> Result<(Option<u16>, Option<Mesh>), crate::error::Invalid> {
    use crate::error::Invalid;
    let Some(mesh) = cm.data.as_ref().and_then(|d| d.get("mesh")) else {
        return Ok((None, None));
    };
    let in_mesh = |e: Invalid| Invalid::Field {
        field: "data.mesh",
        source: Box::new(e),
    };
    let value: serde_json::Value =
        serde_saphyr::from_str(mesh).map_err(|e| in_mesh(Invalid::Yaml(Box::new(e))))?;
    let port = match value.pointer("/defaultConfig/statusPort") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| {
                    in_mesh(Invalid::Message(format!(
                        "defaultConfig.statusPort `{v}` is not a port"
                    )))
                })?,
        ),
    };
    let mut stats_inclusion: Vec<String> = value
        .pointer("/defaultConfig/proxyStatsMatcher/inclusionRegexps")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    stats_inclusion.sort();
    stats_inclusion.dedup();
    let settings = Mesh {
        prometheus_merge: value.get("enablePrometheusMerge").and_then(|v| v.as_bool()),
        dns_capture: value
            .pointer("/defaultConfig/proxyMetadata/ISTIO_META_DNS_CAPTURE")
            .and_then(|v| v.as_str())
            == Some("true"),
        stats_inclusion,
    };
    Ok((port, Some(settings)))
}

/// Collects objects one at a time into a [`LiveState`]. PodDisruptionBudgets must come before
/// pods: a pod keeps only the labels the planner or a PodDisruptionBudget of its namespace reads.
#[derive(Default)]
pub struct Builder {
    state: LiveState,
    template_images: Vec<ControlPlaneImage>,
    interner: Interner,
    /// Namespace -> label keys its PodDisruptionBudgets select on.
    pdb_keys: HashMap<String, HashSet<String>>,
}

impl Builder {
    pub fn istio(&mut self, istio: Istio) {
        self.state.istio_crs.push(istio);
    }

    /// Reduces a pod and keeps it; pods that no longer run (Succeeded, Failed, being deleted) are
    /// dropped, control-plane pods give the images the control plane runs.
    pub fn pod(&mut self, p: wire::PodObject) {
        let meta = p.metadata;
        let namespace = meta.namespace.as_deref().unwrap_or("default");
        let name = meta.name.unwrap_or_default();
        let Some(spec) = p.spec else { return };
        let labels = meta.labels.unwrap_or_default();
        // A pod that no longer runs (evicted, completed) or is terminating is not the control
        // plane, nor a sidecar to restart.
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) || meta.deletion_timestamp.is_some() {
            return;
        }
        if namespace == ISTIO_NAMESPACE
            && labels.get(KYMA_MODULE_LABEL).is_some_and(|v| v == "istio")
        {
            let containers = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten());
            control_plane_images(
                format!("Pod {namespace}/{name}"),
                containers.map(|c| (c.name.as_str(), c.image.as_deref())),
                &mut self.state.control_plane,
            );
        }
        let annotations = meta.annotations.unwrap_or_default();
        let injected = annotations.contains_key(STATUS_ANNOTATION);
        let gateway = is_gateway_pod(&labels);
        let pdb_keys = self.pdb_keys.get(namespace);
        // A bare pod is its own workload: it keeps every label, for `--selector`.
        let ownerless = !meta
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true));
        let labels: BTreeMap<String, String> = labels
            .into_iter()
            .filter(|(k, _)| {
                ownerless
                    || PLANNER_LABELS.contains(&k.as_str())
                    || pdb_keys.is_some_and(|p| p.contains(k))
            })
            .collect();
        let annotations: BTreeMap<String, String> = annotations
            .into_iter()
            .filter(|(k, _)| kept_annotation(k) && k.as_str() != STATUS_ANNOTATION)
            .collect();
        let owner = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| OwnerRef {
                kind: Kind::from_name(&o.kind),
                name: self.interner.str(&o.name),
            });
        let traffic_init = traffic_init(&spec);
        let proxy = pick_proxy(&spec).map(|(c, native)| {
            let mut p = proxy(c, native, &mut self.interner.configs);
            p.traffic_init = traffic_init;
            self.interner.proxy(p)
        });
        let pod = Pod {
            namespace: self.interner.str(namespace),
            name,
            owner,
            labels: self.interner.map(labels),
            annotations: self.interner.map(annotations),
            injected,
            restart_policy_never: spec.restart_policy.as_deref() == Some("Never"),
            // In a gateway pod the proxy is the application; elsewhere it is only the sidecar.
            has_readiness_probe: spec
                .containers
                .iter()
                .any(|c| (c.name != PROXY_CONTAINER || gateway) && c.readiness_probe.is_some()),
            proxy,
        };
        self.state.pods.push(pod);
    }

    /// A control-plane Deployment or DaemonSet: its template stands in for pods not captured.
    fn template_images(&mut self, kind: &str, meta: &ObjectMeta, spec: Option<&PodSpec>) {
        if !is_control_plane(meta) {
            return;
        }
        let containers = spec.into_iter().flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        });
        control_plane_images(
            format!("{kind} {}/{}", ns(meta), name(meta)),
            containers.map(|c| (c.name.as_str(), c.image.as_deref())),
            &mut self.template_images,
        );
    }

    /// An object of an owner kind; the module manager Deployment also gives the installed
    /// module, control-plane templates the images that stand in for pods not captured.
    pub fn workload<K: OwnerKind>(&mut self, o: &K) {
        if let Some(m) = o.module_release() {
            self.state.manager = Some(m);
        }
        if let Some(spec) = o.control_plane_template() {
            self.template_images(K::KIND.as_str(), o.meta(), Some(spec));
        }
        let owner = o.owner();
        self.state.owners.insert(owner.key.clone(), owner);
    }

    /// A Namespace: its labels, for `--namespace-selector`.
    pub fn namespace(&mut self, n: &k8s_openapi::api::core::v1::Namespace) {
        self.state.namespaces.insert(
            name(&n.metadata).to_string(),
            n.metadata.labels.clone().unwrap_or_default(),
        );
    }

    pub fn pdb(&mut self, p: &PodDisruptionBudget) {
        assert!(
            self.state.pods.is_empty(),
            "PodDisruptionBudgets must be added before pods"
        );
        let pdb = pdb(p);
        let keys = self.pdb_keys.entry(pdb.namespace.clone()).or_default();
        keys.extend(pdb.selector_keys());
        self.state.pdbs.push(pdb);
    }

    /// A ConfigMap the planner reads: the mesh config (`istio-system/istio`), the module's feature
    /// flags (`kyma-system/istio-features`) or the provisioning details
    /// (`kyma-system/kyma-provisioning-info`); any other is ignored.
    pub fn config_map(&mut self, cm: &ConfigMap) -> Result<(), crate::error::Invalid> {
        use crate::istio::features;
        if ns(&cm.metadata) == ISTIO_NAMESPACE && name(&cm.metadata) == MESH_CONFIGMAP {
            (self.state.status_port, self.state.mesh) = mesh(cm)?;
        } else if features::is(cm, features::FEATURES_CONFIGMAP) {
            self.state.features = Some(features::parse(cm)?);
        } else if features::is(cm, features::PROVISIONING_CONFIGMAP) {
            self.state.dual_stack_ip = features::dual_stack_ip(cm)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> LiveState {
        // What runs counts; templates only stand in when no control-plane pod was captured.
        if self.state.control_plane.is_empty() {
            self.state.control_plane = self.template_images;
        }
        self.state.istio_crs.sort_by(|a, b| {
            (&a.metadata.creation_timestamp, &a.metadata.name)
                .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
        });
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(namespace: &str, name: &str) -> wire::PodObject {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace,
                "labels": {"app": "web", "tier": "front", "istio": "sidecar", "statefulset.kubernetes.io/pod-name": name},
                "annotations": {"sidecar.istio.io/status": "{}", "prometheus.io/port": "15020", "team": "a"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": true}]},
            "spec": {"containers": [{"name": "app", "image": "app:1"}],
                     "initContainers": [{"name": "istio-proxy", "image": "proxyv2:1.29.3", "restartPolicy": "Always"}]},
            "status": {"phase": "Running"}
        }))
        .expect("a pod")
    }

    fn pdb(namespace: &str, selector: serde_json::Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({
            "metadata": {"name": "pdb", "namespace": namespace},
            "spec": {"selector": selector}
        }))
        .expect("a PodDisruptionBudget")
    }

    #[test]
    fn pods_keep_the_labels_the_planner_or_a_budget_of_their_namespace_reads() {
        let mut b = Builder::default();
        b.pdb(&pdb("shop", json!({"matchLabels": {"app": "web"}})));
        b.pdb(&pdb(
            "shop",
            json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
        ));
        b.pdb(&pdb("other", json!({"matchLabels": {"team": "x"}})));
        b.pod(pod("shop", "web-1-a"));
        b.pod(pod("plain", "web-1-b"));
        let state = b.finish();
        let keys = |p: &Pod| p.labels.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&state.pods[0]), ["app", "istio", "tier"]);
        assert_eq!(keys(&state.pods[1]), ["istio"]);
        let annotations: Vec<_> = state.pods[0].annotations.keys().collect();
        assert_eq!(annotations, ["prometheus.io/port"]);
        assert!(state.pods[0].injected);
        assert!(state.pdbs[0].covers(&state.pods[0]));
    }

    #[test]
    fn pods_of_one_workload_share_what_they_have_in_common() {
        let mut b = Builder::default();
        b.pod(pod("shop", "web-1-a"));
        b.pod(pod("shop", "web-1-b"));
        let state = b.finish();
        let (a, c) = (&state.pods[0], &state.pods[1]);
        assert_ne!(a.name, c.name);
        assert!(Arc::ptr_eq(&a.namespace, &c.namespace));
        assert!(Arc::ptr_eq(&a.labels, &c.labels));
        assert!(Arc::ptr_eq(&a.annotations, &c.annotations));
        let proxy = |p: &Pod| p.proxy.clone().expect("a proxy");
        assert!(Arc::ptr_eq(&proxy(a), &proxy(c)));
        assert!(proxy(a).native);
        let owner = |p: &Pod| p.owner.clone().expect("an owner").name;
        assert!(Arc::ptr_eq(&owner(a), &owner(c)));
    }

    #[test]
    #[should_panic(expected = "before pods")]
    fn budgets_after_pods_are_a_programming_error() {
        let mut b = Builder::default();
        b.pod(pod("shop", "web-1-a"));
        b.pdb(&pdb("shop", json!({})));
    }
}

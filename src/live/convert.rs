//! Kubernetes objects -> the live model. Used by the snapshot reader and the cluster reader alike.

use super::*;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub const PROXY_CONTAINER: &str = "istio-proxy";
pub const STATUS_ANNOTATION: &str = "sidecar.istio.io/status";
pub const ISTIO_NAMESPACE: &str = "istio-system";
pub const MANAGER_NAME: &str = "istio-controller-manager";
pub const VERSION_LABEL: &str = "app.kubernetes.io/version";
/// Env vars of `istio-proxy` that the planner compares.
pub const PROXY_ENV: &[&str] = &[
    "ISTIO_META_DNS_CAPTURE",
    "ISTIO_DELTA_XDS",
    "ENABLE_DEFERRED_CLUSTER_CREATION",
    "ENABLE_DELIMITED_STATS_TAG_REGEX",
    "ENABLE_DEFERRED_STATS_CREATION",
    "BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS",
];
/// Containers whose images tell the control plane's Istio version.
const CONTROL_PLANE_CONTAINERS: &[&str] = &["discovery", "istio-proxy", "install-cni"];

fn kept_annotation(key: &str) -> bool {
    key.starts_with("sidecar.istio.io/")
        || key.starts_with("prometheus.io/")
        || key.starts_with("prometheus.istio.io/")
        || key.starts_with(TOOL_PREFIX)
}

fn ns(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

fn controller(meta: &ObjectMeta) -> Option<OwnerRef> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| OwnerRef {
            kind: Kind::from_name(&o.kind),
            name: o.name.clone(),
        })
}

fn skip(meta: &ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(SKIP_ANNOTATION))
        .is_some_and(|v| v == "true")
}

fn tool_annotations(meta: Option<&ObjectMeta>) -> BTreeMap<String, String> {
    meta.and_then(|m| m.annotations.as_ref())
        .map(|a| {
            a.iter()
                .filter(|(k, _)| k.starts_with(TOOL_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn owner(meta: &ObjectMeta, kind: Kind, template: Option<&ObjectMeta>, spec: OwnerSpec) -> Owner {
    Owner {
        key: ObjectKey::new(kind, ns(meta), name(meta)),
        owner: controller(meta),
        labels: meta.labels.clone().unwrap_or_default(),
        skip: skip(meta),
        template_annotations: tool_annotations(template),
        spec,
    }
}

pub fn deployment(d: &Deployment) -> Owner {
    let spec = d.spec.as_ref();
    let status = d.status.as_ref();
    let strategy = spec.and_then(|s| s.strategy.as_ref());
    let deadline_exceeded = status.and_then(|s| s.conditions.as_ref()).is_some_and(|c| {
        c.iter().any(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
    });
    let rollout = RolloutStatus {
        generation: d.metadata.generation.unwrap_or(0),
        observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
        replicas: status.and_then(|s| s.replicas).unwrap_or(0),
        updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
        available: status.and_then(|s| s.available_replicas).unwrap_or(0),
        deadline_exceeded,
        update_revision: None,
    };
    owner(
        &d.metadata,
        Kind::Deployment,
        spec.and_then(|s| s.template.metadata.as_ref()),
        OwnerSpec::Deployment {
            paused: spec.and_then(|s| s.paused).unwrap_or(false),
            replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            recreate: strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate"),
            max_surge: strategy
                .and_then(|s| s.rolling_update.as_ref())
                .and_then(|r| r.max_surge.clone()),
            status: rollout,
        },
    )
}

pub fn stateful_set(s: &StatefulSet) -> Owner {
    let spec = s.spec.as_ref();
    let status = s.status.as_ref();
    let strategy = spec.and_then(|s| s.update_strategy.as_ref());
    let rollout = RolloutStatus {
        generation: s.metadata.generation.unwrap_or(0),
        observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
        replicas: status.map_or(0, |s| s.replicas),
        updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
        available: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        deadline_exceeded: false,
        update_revision: status.and_then(|s| s.update_revision.clone()),
    };
    owner(
        &s.metadata,
        Kind::StatefulSet,
        spec.and_then(|s| s.template.metadata.as_ref()),
        OwnerSpec::StatefulSet {
            replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            on_delete: strategy.and_then(|s| s.type_.as_deref()) == Some("OnDelete"),
            partition: strategy
                .and_then(|s| s.rolling_update.as_ref())
                .and_then(|r| r.partition)
                .unwrap_or(0),
            status: rollout,
        },
    )
}

pub fn daemon_set(d: &DaemonSet) -> Owner {
    let spec = d.spec.as_ref();
    let status = d.status.as_ref();
    let rollout = RolloutStatus {
        generation: d.metadata.generation.unwrap_or(0),
        observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
        replicas: status.map_or(0, |s| s.desired_number_scheduled),
        updated: status.and_then(|s| s.updated_number_scheduled).unwrap_or(0),
        available: status.and_then(|s| s.number_available).unwrap_or(0),
        deadline_exceeded: false,
        update_revision: None,
    };
    owner(
        &d.metadata,
        Kind::DaemonSet,
        spec.and_then(|s| s.template.metadata.as_ref()),
        OwnerSpec::DaemonSet {
            on_delete: spec
                .and_then(|s| s.update_strategy.as_ref())
                .and_then(|s| s.type_.as_deref())
                == Some("OnDelete"),
            status: rollout,
        },
    )
}

pub fn replica_set(r: &ReplicaSet) -> Owner {
    let revision = r
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .and_then(|v| v.parse().ok());
    owner(
        &r.metadata,
        Kind::ReplicaSet,
        r.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.metadata.as_ref()),
        OwnerSpec::ReplicaSet {
            revision,
            replicas: r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        },
    )
}

pub fn replication_controller(r: &ReplicationController) -> Owner {
    owner(
        &r.metadata,
        Kind::ReplicationController,
        r.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.metadata.as_ref()),
        OwnerSpec::ReplicationController {
            replicas: r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        },
    )
}

pub fn job(j: &Job) -> Owner {
    owner(&j.metadata, Kind::Job, None, OwnerSpec::Job)
}

pub fn cron_job(c: &CronJob) -> Owner {
    owner(&c.metadata, Kind::CronJob, None, OwnerSpec::CronJob)
}

fn pick_proxy(spec: &PodSpec) -> Option<(&Container, bool)> {
    if let Some(c) = spec.containers.iter().find(|c| c.name == PROXY_CONTAINER) {
        return Some((c, false));
    }
    spec.init_containers
        .iter()
        .flatten()
        .find(|c| c.name == PROXY_CONTAINER)
        .map(|c| (c, c.restart_policy.as_deref() == Some("Always")))
}

fn quantity(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    key: &str,
) -> Option<String> {
    map.and_then(|m| m.get(key)).map(|q| q.0.clone())
}

fn proxy(c: &Container, native: bool) -> Proxy {
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
    }
}

/// Reduces a pod; pods that no longer run (Succeeded, Failed, being deleted) are dropped.
pub fn pod(p: &k8s_openapi::api::core::v1::Pod) -> Option<Pod> {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) || p.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let spec = p.spec.as_ref()?;
    let all = p.metadata.annotations.as_ref();
    Some(Pod {
        namespace: ns(&p.metadata).to_string(),
        name: name(&p.metadata).to_string(),
        owner: controller(&p.metadata),
        labels: p.metadata.labels.clone().unwrap_or_default(),
        annotations: all
            .map(|a| {
                a.iter()
                    .filter(|(k, _)| kept_annotation(k) && k.as_str() != STATUS_ANNOTATION)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        injected: all.is_some_and(|a| a.contains_key(STATUS_ANNOTATION)),
        restart_policy_never: spec.restart_policy.as_deref() == Some("Never"),
        // In a gateway pod the proxy is the application; elsewhere it is only the sidecar.
        has_readiness_probe: spec.containers.iter().any(|c| {
            (c.name != PROXY_CONTAINER || is_gateway_pod(&p.metadata))
                && c.readiness_probe.is_some()
        }),
        proxy: pick_proxy(spec).map(|(c, native)| proxy(c, native)),
    })
}

fn is_gateway_pod(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get("istio"))
        .is_some_and(|v| v == "ingressgateway" || v == "egressgateway")
}

pub fn pdb(p: &PodDisruptionBudget) -> Pdb {
    Pdb {
        namespace: ns(&p.metadata).to_string(),
        name: name(&p.metadata).to_string(),
        selector: p.spec.as_ref().and_then(|s| s.selector.clone()),
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
    let proxy_image = d
        .spec
        .as_ref()
        .into_iter()
        .flat_map(|s| s.template.spec.iter())
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.env.iter().flatten())
        .find(|e| e.name == "proxyv2")
        .and_then(|e| e.value.clone());
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

fn control_plane_images(object: String, spec: Option<&PodSpec>, out: &mut Vec<ControlPlaneImage>) {
    let containers = spec.into_iter().flat_map(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
    });
    for c in containers {
        if CONTROL_PLANE_CONTAINERS.contains(&c.name.as_str()) {
            out.push(ControlPlaneImage {
                object: object.clone(),
                container: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
            });
        }
    }
}

/// `defaultConfig.statusPort` from the mesh ConfigMap.
pub fn status_port(cm: &ConfigMap) -> Result<Option<u16>, String> {
    let Some(mesh) = cm.data.as_ref().and_then(|d| d.get("mesh")) else {
        return Ok(None);
    };
    let value: serde_json::Value =
        serde_saphyr::from_str(mesh).map_err(|e| format!("data.mesh: not YAML: {e}"))?;
    match value.pointer("/defaultConfig/statusPort") {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .map(Some)
            .ok_or_else(|| format!("data.mesh: defaultConfig.statusPort `{v}` is not a port")),
    }
}

/// Collects objects one at a time into a [`LiveState`].
#[derive(Default)]
pub struct Builder {
    state: LiveState,
    template_images: Vec<ControlPlaneImage>,
}

impl Builder {
    pub fn istio(&mut self, istio: Istio) {
        self.state.istio_crs.push(istio);
    }

    pub fn pod(&mut self, p: &k8s_openapi::api::core::v1::Pod) {
        if is_control_plane(&p.metadata) {
            let object = format!("Pod {}/{}", ns(&p.metadata), name(&p.metadata));
            control_plane_images(object, p.spec.as_ref(), &mut self.state.control_plane);
        }
        if let Some(pod) = pod(p) {
            self.state.pods.push(pod);
        }
    }

    pub fn deployment(&mut self, d: &Deployment) {
        if is_manager(&d.metadata) {
            self.state.manager = Some(module_release(d));
        }
        if is_control_plane(&d.metadata) {
            let object = format!("Deployment {}/{}", ns(&d.metadata), name(&d.metadata));
            let spec = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
            control_plane_images(object, spec, &mut self.template_images);
        }
        self.owner(deployment(d));
    }

    pub fn daemon_set(&mut self, d: &DaemonSet) {
        if is_control_plane(&d.metadata) {
            let object = format!("DaemonSet {}/{}", ns(&d.metadata), name(&d.metadata));
            let spec = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
            control_plane_images(object, spec, &mut self.template_images);
        }
        self.owner(daemon_set(d));
    }

    pub fn owner(&mut self, o: Owner) {
        self.state.owners.insert(o.key.clone(), o);
    }

    pub fn pdb(&mut self, p: &PodDisruptionBudget) {
        self.state.pdbs.push(pdb(p));
    }

    pub fn mesh_config(&mut self, cm: &ConfigMap) -> Result<(), String> {
        if ns(&cm.metadata) == ISTIO_NAMESPACE && name(&cm.metadata) == "istio" {
            self.state.status_port = status_port(cm)?;
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

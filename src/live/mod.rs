//! The live state of a cluster, reduced to what the planner needs.
//!
//! Built from Kubernetes objects by [`convert`], either read from a saved file ([`snapshot`]) or
//! from the API server. Pods keep only a few fields, so memory grows with the number of workloads
//! far more than with the size of pod objects.
pub mod cluster;
pub mod convert;
pub mod kinds;
pub mod kubeconfig;
pub mod rollout;
pub mod snapshot;
pub mod wire;

use crate::istio::features::Features;
use crate::istio::{Istio, Version};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::{Expression, Selector, SelectorExt};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Annotation prefix of everything this tool writes or reads as its own.
pub const TOOL_PREFIX: &str = "istio-rollout/";
/// Opt-out annotation on a workload or pod (`"true"` = never restart it).
pub const SKIP_ANNOTATION: &str = "istio-rollout/skip";
/// The Kyma restarter's planned opt-out annotation, honoured like [`SKIP_ANNOTATION`].
pub const KYMA_EXCLUDE_ANNOTATION: &str = "restarter.istio-operator.kyma-project.io/exclude";
/// The opt-out annotations, in the order they are named when several are set.
pub const OPT_OUT_ANNOTATIONS: [&str; 2] = [SKIP_ANNOTATION, KYMA_EXCLUDE_ANNOTATION];

/// The opt-out annotation set to `"true"` among `annotations`, if any.
pub fn opted_out<'a>(mut get: impl FnMut(&str) -> Option<&'a String>) -> Option<&'static str> {
    OPT_OUT_ANNOTATIONS
        .into_iter()
        .find(|a| get(a).is_some_and(|v| v == "true"))
}
/// Pod-template annotation: when the tool restarted the workload.
pub const RESTARTED_AT_ANNOTATION: &str = "istio-rollout/restarted-at";
/// Pod-template annotation: what the restart was for (target version and settings).
pub const RESTARTED_FOR_ANNOTATION: &str = "istio-rollout/restarted-for";
/// Pod-template annotation of the Kyma Istio operator's own restarts.
pub const OPERATOR_RESTARTED_AT_ANNOTATION: &str = "istio-operator.kyma-project.io/restartedAt";

/// The kinds that own pods, plus `Pod` itself for pods without an owner. What each owner kind
/// is and does lives in [`kinds`]. Serialised as its name (`"Deployment"`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    ReplicationController,
    Job,
    CronJob,
    Pod,
    Other(String),
}

impl Kind {
    pub fn from_name(kind: &str) -> Kind {
        match kind {
            "Deployment" => Kind::Deployment,
            "StatefulSet" => Kind::StatefulSet,
            "DaemonSet" => Kind::DaemonSet,
            "ReplicaSet" => Kind::ReplicaSet,
            "ReplicationController" => Kind::ReplicationController,
            "Job" => Kind::Job,
            "CronJob" => Kind::CronJob,
            "Pod" => Kind::Pod,
            other => Kind::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::ReplicationController => "ReplicationController",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::Pod => "Pod",
            Kind::Other(k) => k,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Identifies a namespaced object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        ObjectKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// The controlling owner reference of an object (kind and name; same namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRef {
    pub kind: Kind,
    /// Shared by every pod of the owner.
    pub name: Arc<str>,
}

/// Everything the live state says about the installed module and Istio.
#[derive(Clone, Debug, Default)]
pub struct LiveState {
    /// Every `Istio` CR in the cluster, oldest first (the operator reconciles only the oldest).
    pub istio_crs: Vec<Istio>,
    /// The installed module (`kyma-system/istio-controller-manager`), if any.
    pub manager: Option<ModuleRelease>,
    /// Images of the Istio control plane (istiod, gateways, CNI) as they run.
    pub control_plane: Vec<ControlPlaneImage>,
    /// `defaultConfig.statusPort` of the mesh config (ConfigMap `istio-system/istio`).
    pub status_port: Option<u16>,
    /// The sidecar settings the operator installed into the mesh config; `None` without it.
    pub mesh: Option<Mesh>,
    /// The flags of ConfigMap `kyma-system/istio-features`; `None` when it is absent.
    pub features: Option<Features>,
    /// `networkDetails.dualStackIPEnabled` of ConfigMap `kyma-system/kyma-provisioning-info`.
    pub dual_stack_ip: bool,
    /// Workload objects that own pods, by key.
    pub owners: BTreeMap<ObjectKey, Owner>,
    pub pods: Vec<Pod>,
    pub pdbs: Vec<Pdb>,
    /// Every Namespace's labels, by name (`--namespace-selector`); empty for a saved live state
    /// that holds no Namespace objects.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

/// What the mesh config (ConfigMap `istio-system/istio`, key `mesh`) says about the settings the
/// operator renders from the CR for new sidecars. It shows what the operator has installed when
/// its `lastAppliedConfiguration` does not (a CR in Warning records neither the proxy fields nor
/// the rest of the spec).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mesh {
    /// `enablePrometheusMerge`; `None` when the key is absent.
    pub prometheus_merge: Option<bool>,
    /// `defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE` is `"true"`.
    pub dns_capture: bool,
    /// `defaultConfig.proxyStatsMatcher.inclusionRegexps`, sorted, each once.
    pub stats_inclusion: Vec<String>,
}

/// What a module release manifest (or the installed manager Deployment) says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleRelease {
    pub version: Option<Version>,
    /// The exact sidecar image the module injects (`proxyv2` env var of the manager).
    pub proxy_image: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlPlaneImage {
    /// `Pod istio-system/istiod-abc` or `Deployment istio-system/istiod`.
    pub object: String,
    pub container: String,
    pub image: String,
}

/// A workload object that owns pods.
#[derive(Clone, Debug)]
pub struct Owner {
    pub key: ObjectKey,
    pub owner: Option<OwnerRef>,
    pub labels: BTreeMap<String, String>,
    /// The opt-out annotation (`istio-rollout/skip` or the Kyma restarter's `exclude`) set to
    /// `"true"` on the object.
    pub skip: Option<&'static str>,
    /// The pod template's annotations that this tool owns (`istio-rollout/...`).
    pub template_annotations: BTreeMap<String, String>,
    /// What the object looked like when read: `apply` compares it right before it patches.
    pub seen: Seen,
    pub spec: OwnerSpec,
}

/// The marks of a workload's pod template at one read: a new generation or another operator
/// restart annotation means someone changed the template since.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// `metadata.generation` (0 when unset).
    pub generation: i64,
    /// The Kyma operator's restart annotation on the pod template
    /// ([`OPERATOR_RESTARTED_AT_ANNOTATION`]).
    pub operator_restarted_at: Option<String>,
}

#[derive(Clone, Debug)]
pub enum OwnerSpec {
    Deployment {
        paused: bool,
        replicas: i32,
        recreate: bool,
        max_surge: Option<IntOrString>,
        /// `spec.strategy.rollingUpdate.maxUnavailable` (unset: the API default, 25%).
        max_unavailable: Option<IntOrString>,
        status: RolloutStatus,
    },
    StatefulSet {
        replicas: i32,
        on_delete: bool,
        partition: i32,
        status: RolloutStatus,
    },
    DaemonSet {
        on_delete: bool,
        status: RolloutStatus,
    },
    ReplicaSet {
        revision: Option<i64>,
        replicas: i32,
    },
    ReplicationController {
        replicas: i32,
    },
    Job,
    CronJob,
}

/// The status fields that tell whether a rollout is complete (kubectl's rules).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolloutStatus {
    pub generation: i64,
    pub observed_generation: i64,
    /// Deployment/StatefulSet: `status.replicas`; DaemonSet: `desiredNumberScheduled`.
    pub replicas: i32,
    /// Deployment/StatefulSet: `updatedReplicas`; DaemonSet: `updatedNumberScheduled`.
    pub updated: i32,
    /// Deployment: `availableReplicas`; StatefulSet: `readyReplicas`; DaemonSet: `numberAvailable`.
    pub available: i32,
    /// Deployment: condition Progressing with reason ProgressDeadlineExceeded.
    pub deadline_exceeded: bool,
    /// StatefulSet: `status.updateRevision` (pods of the newest revision carry it).
    pub update_revision: Option<String>,
}

/// A string map shared by every pod that has the same one.
pub type SharedMap = Arc<BTreeMap<String, String>>;

/// A pod, reduced to what the planner reads. Pods of one workload share their namespace, owner
/// name, kept labels, kept annotations and proxy (interned by [`convert::Builder`]), so a pod
/// costs little more than its name: memory grows with the number of workloads.
#[derive(Clone, Debug, Default)]
pub struct Pod {
    pub namespace: Arc<str>,
    pub name: String,
    pub owner: Option<OwnerRef>,
    /// Only labels the planner reads ([`PLANNER_LABELS`]) and those a PodDisruptionBudget
    /// selector of the pod's namespace names.
    pub labels: SharedMap,
    /// Only annotations the planner reads (`sidecar.istio.io/*`, `prometheus.*`, `istio-rollout/*`,
    /// `proxy.istio.io/config`),
    /// without `sidecar.istio.io/status`, whose presence is [`Pod::injected`].
    pub annotations: SharedMap,
    pub injected: bool,
    pub restart_policy_never: bool,
    /// Some container other than the sidecar has a readiness probe.
    pub has_readiness_probe: bool,
    pub proxy: Option<Arc<Proxy>>,
}

/// Pod labels the planner reads itself (gateways, Kyma modules, StatefulSet revisions).
pub const PLANNER_LABELS: &[&str] = &["istio", KYMA_MODULE_LABEL, "controller-revision-hash"];

/// The `istio-proxy` container of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Proxy {
    pub image: String,
    /// Injected as a native sidecar (init container with `restartPolicy: Always`).
    pub native: bool,
    /// Only the env vars the planner compares (proxy metadata flags).
    pub env: BTreeMap<String, String>,
    pub requests: ResourcePair,
    pub limits: ResourcePair,
    /// What the injector recorded in the `PROXY_CONFIG` env var, when it is there and is JSON.
    pub config: Option<CarriedConfig>,
    /// The traffic init container the injector added beside the sidecar (CNI off or on).
    pub traffic_init: TrafficInit,
}

/// Which init container sets up (or checks) the pod's traffic redirection: `istio-init` when
/// Istio CNI is off, `istio-validation` when it is on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrafficInit {
    /// Neither (for example a pod that does not redirect traffic).
    #[default]
    None,
    IstioInit,
    IstioValidation,
}

impl TrafficInit {
    pub const ISTIO_INIT: &'static str = "istio-init";
    pub const ISTIO_VALIDATION: &'static str = "istio-validation";

    pub fn as_str(self) -> &'static str {
        match self {
            TrafficInit::None => "none",
            TrafficInit::IstioInit => Self::ISTIO_INIT,
            TrafficInit::IstioValidation => Self::ISTIO_VALIDATION,
        }
    }
}

/// The effective ProxyConfig a sidecar was started with (`PROXY_CONFIG`: the mesh defaultConfig
/// overlaid by the pod's `proxy.istio.io/config`), reduced to the fields the planner judges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CarriedConfig {
    /// `proxyMetadata`, values as strings.
    pub proxy_metadata: BTreeMap<String, String>,
    /// `proxyStatsMatcher.inclusionRegexps`, sorted and deduplicated (a set); empty when unset.
    pub stats_regexps: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourcePair {
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

/// A PodDisruptionBudget: which pods it covers and how many may go now.
#[derive(Clone, Debug)]
pub struct Pdb {
    pub namespace: String,
    pub name: String,
    /// `None` when the budget has no selector, or one the API server would not have accepted (an
    /// unknown operator, `In` without values): it covers no pod.
    pub selector: Option<Selector>,
    pub disruptions_allowed: i32,
}

impl Pdb {
    pub fn covers(&self, pod: &Pod) -> bool {
        self.selects(&pod.namespace, &pod.labels)
    }

    /// Whether the budget covers a pod of `namespace` with these labels. An empty selector
    /// (policy/v1) selects every pod of the namespace.
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        namespace == self.namespace && self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }

    /// The label keys the selector reads.
    pub fn selector_keys(&self) -> impl Iterator<Item = String> {
        self.selector
            .clone()
            .into_iter()
            .flatten()
            .map(|e| match e {
                Expression::In(k, _)
                | Expression::NotIn(k, _)
                | Expression::Equal(k, _)
                | Expression::NotEqual(k, _)
                | Expression::Exists(k)
                | Expression::DoesNotExist(k) => k,
            })
    }
}

/// The label that marks Kyma module workloads, and the namespace of Kyma itself.
pub const KYMA_MODULE_LABEL: &str = "kyma-project.io/module";
pub const KYMA_NAMESPACE: &str = "kyma-system";

impl LiveState {
    /// The Istio version the control plane runs, if all its images agree.
    pub fn control_plane_versions(&self) -> Vec<Version> {
        let mut v: Vec<Version> = self
            .control_plane
            .iter()
            .filter_map(|c| crate::istio::ImageRef::parse(&c.image).version())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The `Istio` CR the operator reconciles: the one named like the desired one, else the oldest.
    pub fn istio_cr(&self, namespace: &str, name: &str) -> Option<&Istio> {
        self.istio_crs
            .iter()
            .find(|i| {
                i.metadata.namespace.as_deref() == Some(namespace)
                    && i.metadata.name.as_deref() == Some(name)
            })
            .or_else(|| self.istio_crs.first())
    }
}

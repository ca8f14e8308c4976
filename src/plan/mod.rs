//! The pure planner: `plan(&Desired, &LiveState, &Options) -> Plan`.
//!
//! Level-triggered: every decision compares what pods run now with what git asks for, so after a
//! successful rollout the same inputs give an empty plan.
pub mod cr;
pub mod gateway;
pub mod operator;
pub mod quantity;
pub mod rules;
mod workloads;

use crate::desired::{Desired, Source};
use crate::istio::Version;
use crate::live::LiveState;
use serde::Serialize;
use std::collections::BTreeMap;

/// Version of the JSON format (`--output json`). Bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// Why a workload must restart. Serialised in kebab-case (`istio-version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    IstioVersion,
    PrometheusMerge,
    CompatibilityMode,
    DnsProxying,
    ProxyResources,
    IngressGatewayConfig,
    Uninstall,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::IstioVersion => "istio-version",
            Reason::PrometheusMerge => "prometheus-merge",
            Reason::CompatibilityMode => "compatibility-mode",
            Reason::DnsProxying => "dns-proxying",
            Reason::ProxyResources => "proxy-resources",
            Reason::IngressGatewayConfig => "ingress-gateway-config",
            Reason::Uninstall => "uninstall",
        }
    }
}

/// What `apply` does with a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Rolling restart through the pod template (Deployment; RollingUpdate StatefulSet/DaemonSet).
    Restart,
    /// Pods go away only one by one: evicted through the Eviction API, honouring PDBs.
    Evict,
    /// Cannot be restarted by a tool (Jobs, CronJobs, bare pods, unknown owners): a person must act.
    Manual,
    /// Apply would refuse (paused Deployment, partitioned StatefulSet, failed rollout, ...).
    Blocked,
    /// A rollout is already under way: apply waits for it and checks again.
    Wait,
    /// Excluded: custom proxy image, opt-out annotation, or the user's selectors.
    Skip,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Restart,
        Action::Evict,
        Action::Manual,
        Action::Blocked,
        Action::Wait,
        Action::Skip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Evict => "evict",
            Action::Manual => "manual",
            Action::Blocked => "blocked",
            Action::Wait => "wait",
            Action::Skip => "skip",
        }
    }

    /// Whether an entry with this action leaves something pending.
    pub fn is_pending(self) -> bool {
        self != Action::Skip
    }
}

/// One rule's verdict on one pod, in words.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub reason: Reason,
    pub detail: String,
}

impl Finding {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Finding {
            reason,
            detail: detail.into(),
        }
    }
}

/// One workload (the object acted on) and everything planned for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub action: Action,
    pub reasons: Vec<Reason>,
    /// The reasons in words, each with the number of pods it applies to.
    pub details: Vec<String>,
    /// What the action means for this workload and what a person should do, if anything.
    pub note: String,
    pub pods: Vec<String>,
    pub warnings: Vec<String>,
    /// A Kyma module workload (namespace `kyma-system` or label `kyma-project.io/module`).
    pub kyma: bool,
    /// Pod-template annotations `apply` sets (`restart` entries only); `restarted-at` is filled
    /// in at apply time.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub template_annotations: BTreeMap<String, String>,
    /// This tool's pod-template annotations as they are now (from an earlier restart).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub template_annotations_before: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VersionPair {
    pub module: Option<Version>,
    pub istio: Option<Version>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Versions {
    pub live: VersionPair,
    pub target: VersionPair,
    /// The exact sidecar image of the target release, when known.
    pub proxy_image: Option<String>,
    /// Where the target Istio version came from.
    pub istio_from: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControlPlane {
    /// Distinct Istio versions the control plane runs now.
    pub versions: Vec<Version>,
    /// The control plane runs the target version only: version restarts can start.
    pub ready: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub restart: usize,
    pub evict: usize,
    pub manual: usize,
    pub blocked: usize,
    pub wait: usize,
    pub skip: usize,
    /// Workloads with sidecars that need nothing.
    pub in_sync: usize,
    /// Pods in the listed entries.
    pub pods: usize,
    /// Whether anything is pending (the exit code of `plan` is 1 when true).
    pub pending: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub format_version: u32,
    pub source: Source,
    pub versions: Versions,
    pub control_plane: ControlPlane,
    pub uninstall: bool,
    pub cr: cr::CrChange,
    pub workloads: Vec<Entry>,
    /// Plan-wide warnings (several CRs, missing objects, ...).
    pub notices: Vec<String>,
    pub summary: Summary,
}

/// How the user narrows the plan.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `namespace/name`, `Kind/namespace/name`; `*` matches any run of characters.
    pub exclude: Vec<String>,
    /// Only these namespaces (empty: all).
    pub namespaces: Vec<String>,
}

impl Plan {
    pub fn is_pending(&self) -> bool {
        self.summary.pending
    }
}

/// Computes the plan. Pure: the same inputs give the same plan.
pub fn plan(desired: &Desired, live: &LiveState, opts: &Options) -> Plan {
    let istio = desired.istio.as_ref();
    let spec = istio.map(|i| &i.spec);
    let targets = rules::Targets {
        uninstall: istio.is_none(),
        istio: desired.istio_version,
        proxy_image: desired.proxy_image.clone(),
        prometheus_merge: spec.is_some_and(|s| s.prometheus_merge()),
        status_port: live.status_port.unwrap_or(rules::DEFAULT_STATUS_PORT),
        compatibility_mode: spec.is_some_and(|s| s.compatibility_mode()),
        dns_proxying: spec.and_then(|s| s.dns_proxying()),
        proxy_resources: spec.and_then(|s| s.proxy_resources().cloned()),
    };
    let mut notices = Vec::new();
    let cp_versions = live.control_plane_versions();
    let ready = match desired.istio_version {
        Some(t) => cp_versions == [t],
        None => true,
    };
    if let (false, Some(t)) = (ready, desired.istio_version) {
        let now = if cp_versions.is_empty() {
            "no control-plane version could be read".to_string()
        } else {
            format!("it runs {}", join(&cp_versions))
        };
        notices.push(format!(
            "the control plane does not run Istio {t} yet ({now}): version restarts must wait for it, or the old proxy is injected again"
        ));
    }
    if live.istio_crs.len() > 1 {
        let names: Vec<String> = live
            .istio_crs
            .iter()
            .map(|i| {
                format!(
                    "{}/{}",
                    i.metadata.namespace.as_deref().unwrap_or(""),
                    i.metadata.name.as_deref().unwrap_or("")
                )
            })
            .collect();
        notices.push(format!(
            "the cluster has {} Istio CRs ({}): the operator reconciles only the oldest",
            names.len(),
            names.join(", ")
        ));
    }
    let cr_change = cr::diff(desired, live);
    let gateway = gateway::findings(desired, live);
    let signature = gateway::signature(desired);
    let (mut workloads, in_sync) = workloads::entries(
        live,
        &targets,
        gateway,
        signature,
        ready,
        opts,
        &mut notices,
    );
    workloads.sort_by(|a, b| {
        (!a.kyma, &a.namespace, &a.kind, &a.name).cmp(&(!b.kyma, &b.namespace, &b.kind, &b.name))
    });

    let mut summary = Summary {
        in_sync,
        ..Summary::default()
    };
    for e in &workloads {
        *match e.action {
            Action::Restart => &mut summary.restart,
            Action::Evict => &mut summary.evict,
            Action::Manual => &mut summary.manual,
            Action::Blocked => &mut summary.blocked,
            Action::Wait => &mut summary.wait,
            Action::Skip => &mut summary.skip,
        } += 1;
        summary.pods += e.pods.len();
    }
    summary.pending =
        cr_change.action != cr::CrAction::None || workloads.iter().any(|e| e.action.is_pending());
    let live_istio = match cp_versions.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    Plan {
        format_version: FORMAT_VERSION,
        source: desired.source.clone(),
        versions: Versions {
            live: VersionPair {
                module: live.manager.as_ref().and_then(|m| m.version),
                istio: live_istio,
            },
            target: VersionPair {
                module: desired.module_version,
                istio: desired.istio_version,
            },
            proxy_image: desired.proxy_image.clone(),
            istio_from: desired.istio_version_from.clone(),
        },
        control_plane: ControlPlane {
            versions: cp_versions,
            ready,
        },
        uninstall: istio.is_none(),
        cr: cr_change,
        workloads,
        notices,
        summary,
    }
}

fn join(v: &[Version]) -> String {
    v.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

//! The pure planner: `plan(&Desired, &LiveState, &Options) -> Plan`.
//!
//! Level-triggered: every decision compares what pods run now with what git asks for, so after a
//! successful rollout the same inputs give an empty plan.
pub mod cr;
pub mod features;
pub mod gate;
pub mod gateway;
pub mod operator;
pub mod prometheus;
pub mod proxy_metadata;
pub mod quantity;
pub mod resources;
pub mod rules;
pub mod settings;
#[cfg(test)]
mod tests;
pub mod upgrade;
pub mod versions;
mod workloads;

use crate::desired::{Desired, Source};
use crate::istio::Version;
use crate::live::{Kind, LiveState, ObjectKey};
use serde::Serialize;
use std::collections::BTreeMap;

/// Version of the JSON format (`--output json`). Bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// Why a workload must restart. Serialised in kebab-case (`istio-version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    IstioVersion,
    /// The same Istio version in another build of the image (`1.29.1-1` -> `1.29.1-2`).
    ImageRebuild,
    PrometheusMerge,
    CompatibilityMode,
    DnsProxying,
    ProxyResources,
    /// `proxyStatsMatcher.inclusionRegexps` the sidecar started with (its `PROXY_CONFIG`).
    ProxyStatsMatcher,
    IngressGatewayConfig,
    /// The traffic init container against Istio CNI on or off (`istio-features` `disableCni`).
    Cni,
    /// `ISTIO_META_ENABLE_HBONE` against `istio-features` `enableAmbient`.
    Ambient,
    /// `ISTIO_DUAL_STACK` missing while `istio-features` `enableDualStack` is on.
    DualStack,
    Uninstall,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::IstioVersion => "istio-version",
            Reason::ImageRebuild => "image-rebuild",
            Reason::PrometheusMerge => "prometheus-merge",
            Reason::CompatibilityMode => "compatibility-mode",
            Reason::DnsProxying => "dns-proxying",
            Reason::ProxyResources => "proxy-resources",
            Reason::ProxyStatsMatcher => "proxy-stats-matcher",
            Reason::IngressGatewayConfig => "ingress-gateway-config",
            Reason::Cni => "cni",
            Reason::Ambient => "ambient",
            Reason::DualStack => "dual-stack",
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
    /// With `namespace` and `name`, the workload's key ([`Entry::key`]); serialised as its name.
    pub kind: Kind,
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
    /// The workload's template marks when planned: `apply` re-reads the workload right before
    /// it patches and waits instead when someone (the operator) changed it since.
    #[serde(skip)]
    pub seen: Option<crate::live::Seen>,
}

impl Entry {
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.kind.clone(), &self.namespace, &self.name)
    }
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
    /// Workloads with sidecars that `--namespace`, `--namespace-selector` or `--selector` left
    /// out: not listed, not judged.
    pub left_out: usize,
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
    /// Plan-wide errors: what the target would break (sidecars left out of support).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Plan-wide warnings (several CRs, missing objects, ...).
    pub notices: Vec<String>,
    pub summary: Summary,
    /// The pre-sync gate's verdict (`plan --fail-on`); absent without the flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<gate::Gate>,
}

/// How the user narrows the plan.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `namespace/name`, `Kind/namespace/name`; `*` matches any run of characters, `?` one.
    pub exclude: Vec<String>,
    /// Only these namespaces (empty: all).
    pub namespaces: Vec<String>,
    /// `--selector`: only workloads whose labels match (a bare pod: its own labels).
    pub selector: Option<LabelFilter>,
    /// `--namespace-selector`: only workloads in namespaces whose labels match.
    pub namespace_selector: Option<LabelFilter>,
    /// Leave out `image-rebuild` (same Istio version, another image build).
    pub no_image_rebuild: bool,
}

/// A label selector and the text it was given as (the plan names it when it leaves a workload out).
#[derive(Clone, Debug)]
pub struct LabelFilter {
    pub text: String,
    pub selector: kube::core::Selector,
}

impl Plan {
    pub fn is_pending(&self) -> bool {
        self.summary.pending
    }
}

/// Computes the plan. Pure: the same inputs give the same plan.
pub fn plan(desired: &Desired, live: &LiveState, opts: &Options) -> Plan {
    let istio = desired.istio.as_ref();
    let mut targets = settings::targets(desired, live);
    targets.image_rebuild = !opts.no_image_rebuild;
    let mut notices = Vec::new();
    let control_plane = versions::control_plane(desired, live, &mut notices);
    let ready = control_plane.ready;
    notices.extend(settings::several_crs_notice(desired, live));
    let cr_change = cr::diff(desired, live);
    let gateway = gateway::findings(desired, live, &mut notices);
    let signature = gateway::signature(desired);
    let (mut workloads, in_sync, left_out) = workloads::entries(
        live,
        &targets,
        gateway,
        signature,
        ready,
        opts,
        &mut notices,
    );
    // Kinds in alphabetical order of their names, as people read them.
    workloads.sort_by(|a, b| {
        (!a.kyma, &a.namespace, a.kind.as_str(), &a.name).cmp(&(
            !b.kyma,
            &b.namespace,
            b.kind.as_str(),
            &b.name,
        ))
    });

    if left_out > 0 {
        notices.push(format!(
            "{left_out} workload{} with sidecars outside the selection (--namespace, --namespace-selector, --selector) {} not in this plan",
            if left_out == 1 { "" } else { "s" },
            if left_out == 1 { "is" } else { "are" }
        ));
    }
    let mut summary = Summary {
        in_sync,
        left_out,
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
    let live_istio = match control_plane.versions.as_slice() {
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
        control_plane,
        uninstall: istio.is_none(),
        cr: cr_change,
        workloads,
        errors: versions::skew_error(desired.istio_version, live)
            .into_iter()
            .collect(),
        notices,
        summary,
        gate: None,
    }
}
#[cfg(test)]
mod names {
    use super::*;
    use crate::apply::report::Result as ApplyResult;
    use crate::istio::cr::ForwardClientCertDetails as Fccd;

    /// `as_str` is what JSON says, for every enum whose name is printed.
    #[test]
    fn names_are_the_serialised_ones() {
        fn check<T: Serialize>(values: &[T], name: impl Fn(&T) -> &'static str) {
            for v in values {
                assert_eq!(serde_json::to_value(v).unwrap(), name(v));
            }
        }
        check(&Action::ALL, |a| a.as_str());
        use Reason::*;
        let reasons = [
            IstioVersion,
            ImageRebuild,
            PrometheusMerge,
            CompatibilityMode,
            DnsProxying,
            ProxyResources,
            ProxyStatsMatcher,
            IngressGatewayConfig,
            Cni,
            Ambient,
            DualStack,
            Uninstall,
        ];
        check(&reasons, |r| r.as_str());
        use cr::CrAction;
        let cr = [
            CrAction::None,
            CrAction::Create,
            CrAction::Update,
            CrAction::Delete,
        ];
        check(&cr, |a| a.as_str());
        let fccd = [
            Fccd::AppendForward,
            Fccd::SanitizeSet,
            Fccd::Sanitize,
            Fccd::AlwaysForwardOnly,
            Fccd::ForwardOnly,
        ];
        check(&fccd, |f| f.as_str());
        check(&ApplyResult::ALL, |r| r.as_str());
        let kinds = [Kind::Deployment, Kind::Pod, Kind::Other("Rollout".into())];
        for k in kinds {
            assert_eq!(serde_json::to_value(&k).unwrap(), k.as_str());
        }
    }
}

//! `cni`, `ambient` and `dual-stack`: the module's feature flags (ConfigMap
//! `kyma-system/istio-features`) as every sidecar carries them.
//!
//! - `disableCni`: with Istio CNI on (the default) the injector adds `istio-validation`, with it
//!   off `istio-init`; a pod with the other one restarts (the operator does this too).
//! - `enableAmbient` (module 1.32.0+): every sidecar gets proxy metadata
//!   `ISTIO_META_ENABLE_HBONE=true`; judged both ways once the module knows the flag.
//! - `enableDualStack` (module 1.31.0+, and only on a cluster that `kyma-provisioning-info`
//!   provisioned dual-stack): every sidecar gets `ISTIO_DUAL_STACK=true`. It cannot be switched
//!   back, so only a sidecar that lacks it is planned.
//!
//! The operator restarts nothing for the last two; this tool does, level-triggered: a pod that
//! carries what the injector renders now is never planned. The flags come from git when git
//! holds the ConfigMap, else from the cluster; absent everywhere, the defaults (all off) hold.
//! A pod whose `proxy.istio.io/config` sets the metadata key itself is in sync with it.

use super::rules::Targets;
use super::{Finding, Reason};
use crate::desired::Desired;
use crate::istio::features::{AMBIENT_SINCE, DUAL_STACK_ENV, DUAL_STACK_SINCE, HBONE_ENV};
use crate::live::{LiveState, Proxy, TrafficInit};
use std::collections::BTreeMap;

/// What the feature flags make the injector render into every sidecar.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureTargets {
    /// Istio CNI on (`disableCni` false or unset): `istio-validation`, else `istio-init`.
    pub cni: bool,
    /// `ISTIO_META_ENABLE_HBONE`: `None` when the module does not know `enableAmbient` (before
    /// 1.32.0, or its version is unknown), so it is not judged.
    pub ambient: Option<bool>,
    /// `ISTIO_DUAL_STACK=true` is wanted: the flag, a dual-stack cluster and module 1.31.0+.
    pub dual_stack: bool,
}

impl FeatureTargets {
    pub fn new(desired: &Desired, live: &LiveState) -> Self {
        let flags = desired
            .features
            .as_ref()
            .map(|(_, f)| *f)
            .or(live.features)
            .unwrap_or_default();
        // The module that renders the sidecars: git's, else the installed one.
        let module = desired
            .module_version
            .or_else(|| live.manager.as_ref().and_then(|m| m.version));
        let since = |v| module.is_some_and(|m| m >= v);
        FeatureTargets {
            cni: !flags.disable_cni,
            ambient: since(AMBIENT_SINCE).then_some(flags.enable_ambient),
            dual_stack: since(DUAL_STACK_SINCE) && flags.enable_dual_stack && live.dual_stack_ip,
        }
    }
}

/// `cni`: the traffic init container against Istio CNI on or off.
pub fn cni(proxy: &Proxy, t: &Targets) -> Option<Finding> {
    let detail = match (t.features.cni, proxy.traffic_init) {
        (true, TrafficInit::IstioInit) => "istio-init -> istio-validation (Istio CNI on)",
        (false, TrafficInit::IstioValidation) => "istio-validation -> istio-init (Istio CNI off)",
        _ => return None,
    };
    Some(Finding::new(Reason::Cni, detail))
}

fn carries(metadata: &BTreeMap<String, String>, key: &str) -> bool {
    metadata.get(key).is_some_and(|v| v == "true")
}

/// `ambient`: `ISTIO_META_ENABLE_HBONE` as `enableAmbient` asks, once the module knows the flag.
pub fn ambient(
    metadata: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
    t: &Targets,
) -> Option<Finding> {
    let want = t.features.ambient?;
    if overrides.contains_key(HBONE_ENV) {
        return None;
    }
    let has = carries(metadata, HBONE_ENV);
    let word = |b: bool| if b { "on" } else { "off" };
    (want != has).then(|| {
        Finding::new(
            Reason::Ambient,
            format!(
                "{HBONE_ENV} {} -> {} (enableAmbient)",
                word(has),
                word(want)
            ),
        )
    })
}

/// `dual-stack`: a sidecar without `ISTIO_DUAL_STACK=true` while `enableDualStack` is on.
pub fn dual_stack(
    metadata: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
    t: &Targets,
) -> Option<Finding> {
    if !t.features.dual_stack
        || overrides.contains_key(DUAL_STACK_ENV)
        || carries(metadata, DUAL_STACK_ENV)
    {
        return None;
    }
    Some(Finding::new(
        Reason::DualStack,
        format!("{DUAL_STACK_ENV} missing (enableDualStack)"),
    ))
}

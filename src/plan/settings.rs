//! The sidecar settings git asks for, with the module's defaults where git leaves a field unset.
//!
//! The CRD has no defaults: a field git drops is a change back to the module's default, never
//! "no opinion". Unset `enableDNSProxying` is off, unset `prometheusMerge` and `compatibilityMode`
//! are false, unset proxy resources are the module's default profile.

use super::Reason;
use super::resources::ResourcesTarget;
use super::rules::{DEFAULT_STATUS_PORT, Targets};
use crate::desired::Desired;
use crate::istio::cr::NAMESPACE;
use crate::istio::{Istio, IstioSpec};
use crate::live::LiveState;

/// The live CR git's CR is compared with: the one of the same name, else the oldest.
pub fn live_cr<'a>(desired: &Desired, live: &'a LiveState) -> Option<&'a Istio> {
    let name = desired
        .istio
        .as_ref()
        .and_then(|i| i.metadata.name.as_deref())
        .unwrap_or("default");
    live.istio_cr(NAMESPACE, name)
}

pub fn targets(desired: &Desired, live: &LiveState) -> Targets {
    let spec = desired.istio.as_ref().map(|i| &i.spec);
    let cr = live_cr(desired, live);
    let applied = cr
        .and_then(super::operator::last_applied)
        .and_then(Result::ok)
        .map(|a| a.spec);
    let resources = |s: Option<&IstioSpec>| s.and_then(|s| s.proxy_resources().cloned());
    Targets {
        other_cr_wins: other_cr_wins(desired, live),
        uninstall: spec.is_none(),
        istio: desired.istio_version,
        proxy_image: desired.proxy_image.clone(),
        image_rebuild: true,
        prometheus_merge: spec.is_some_and(|s| s.prometheus_merge()),
        status_port: live.status_port.unwrap_or(DEFAULT_STATUS_PORT),
        compatibility_mode: spec.is_some_and(|s| s.compatibility_mode()),
        dns_proxying: spec.and_then(|s| s.dns_proxying()).unwrap_or(false),
        proxy_stats_matcher: spec.map(stats_regexps).unwrap_or_default(),
        proxy_resources: ResourcesTarget::new(
            resources(spec).as_ref(),
            resources(cr.map(|c| &c.spec)).as_ref(),
            resources(applied.as_ref()).as_ref(),
        ),
        features: super::features::FeatureTargets::new(desired, live),
    }
}

/// `spec.config.proxyStatsMatcher.inclusionRegexps` as a set (sorted); unset is the module
/// default, none.
pub fn stats_regexps(spec: &IstioSpec) -> Vec<String> {
    let mut r: Vec<String> = spec
        .config
        .as_ref()
        .and_then(|c| c.proxy_stats_matcher.as_ref())
        .and_then(|m| m.inclusion_regexps.clone())
        .unwrap_or_default();
    r.sort();
    r.dedup();
    r
}

fn cr_name(i: &Istio) -> String {
    format!(
        "{}/{}",
        i.metadata.namespace.as_deref().unwrap_or(""),
        i.metadata.name.as_deref().unwrap_or("")
    )
}

/// The CR the operator reconciles (the oldest), when it is not git's.
pub fn other_cr_wins(desired: &Desired, live: &LiveState) -> Option<String> {
    let git = cr_name(desired.istio.as_ref()?);
    let oldest = cr_name(live.istio_crs.first()?);
    (oldest != git).then_some(oldest)
}

/// A notice when the cluster has several Istio CRs, naming the one that wins.
pub fn several_crs_notice(desired: &Desired, live: &LiveState) -> Option<String> {
    if live.istio_crs.len() < 2 {
        return None;
    }
    let names: Vec<String> = live.istio_crs.iter().map(cr_name).collect();
    let mut n = format!(
        "the cluster has {} Istio CRs ({}): the operator reconciles only the oldest, {}",
        names.len(),
        names.join(", "),
        names[0]
    );
    if let (Some(git), Some(_)) = (desired.istio.as_ref(), other_cr_wins(desired, live)) {
        n.push_str(&format!(
            "; git's CR {} is not it, so its settings never take and restarts for them are blocked",
            cr_name(git)
        ));
    }
    Some(n)
}

/// The reasons that come from the CR's settings (not from the module version).
pub fn from_settings(r: Reason) -> bool {
    matches!(
        r,
        Reason::PrometheusMerge
            | Reason::CompatibilityMode
            | Reason::DnsProxying
            | Reason::ProxyResources
            | Reason::ProxyStatsMatcher
            | Reason::IngressGatewayConfig
    )
}

/// When git's CR is not the one the operator reconciles, the injector keeps rendering the other
/// CR's settings: restarting for git's would change nothing. `Ok(note)`: the entry is blocked;
/// `Err(warning)`: it restarts for other reasons, but its settings part does not take.
pub fn other_cr_verdict(t: &Targets, reasons: &[Reason]) -> Option<Result<String, String>> {
    let winner = t.other_cr_wins.as_ref()?;
    if !reasons.iter().any(|r| from_settings(*r)) {
        return None;
    }
    if reasons.iter().all(|r| from_settings(*r)) {
        Some(Ok(format!(
            "the operator reconciles only the oldest Istio CR, {winner}, not git's: these settings never take; delete {winner} (or make git's CR that one), then plan again"
        )))
    } else {
        Some(Err(format!(
            "the settings part of this restart does not take: the operator reconciles {winner}, not git's CR"
        )))
    }
}

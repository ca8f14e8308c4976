//! `dns-proxying` and `compatibility-mode`: proxy metadata flags in the `istio-proxy` env.
//!
//! The module writes both into the mesh's `defaultConfig.proxyMetadata`; a pod's
//! `proxy.istio.io/config` annotation overrides that per field, so a pod that sets a flag itself is
//! in sync with it whatever the CR says.

use super::rules::Targets;
use super::{Finding, Reason};
use crate::istio::version::compatibility_proxy_flags;
use crate::live::Pod;
use crate::live::Proxy;
use crate::live::convert::PROXY_CONFIG_ANNOTATION;
use std::collections::BTreeMap;

pub const DNS_CAPTURE: &str = "ISTIO_META_DNS_CAPTURE";

/// The `proxyMetadata` keys the pod's `proxy.istio.io/config` sets (YAML or JSON). An annotation
/// that does not parse overrides nothing (the injector would refuse it).
pub fn overrides(pod: &Pod) -> BTreeMap<String, String> {
    let Some(raw) = pod.annotations.get(PROXY_CONFIG_ANNOTATION) else {
        return BTreeMap::new();
    };
    let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(raw) else {
        return BTreeMap::new();
    };
    v.get("proxyMetadata")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), String::from);
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn compatibility_mode(
    proxy: &Proxy,
    overrides: &BTreeMap<String, String>,
    t: &Targets,
) -> Option<Finding> {
    let target = t.istio?;
    // Flags the pod sets itself are its own.
    let flags: Vec<_> = compatibility_proxy_flags(target)
        .iter()
        .filter(|(k, _)| !overrides.contains_key(*k))
        .collect();
    if flags.is_empty() {
        return None;
    }
    let present = flags
        .iter()
        .filter(|(k, v)| proxy.env.get(*k).map(String::as_str) == Some(*v))
        .count();
    let minor = format!("{}.{}", target.major, target.minor);
    if t.compatibility_mode && present < flags.len() {
        Some(Finding::new(
            Reason::CompatibilityMode,
            format!("compatibility flags of Istio {minor} missing (mode is on)"),
        ))
    } else if !t.compatibility_mode && present > 0 {
        Some(Finding::new(
            Reason::CompatibilityMode,
            format!("compatibility flags of Istio {minor} present (mode is off)"),
        ))
    } else {
        None
    }
}

pub fn dns_proxying(
    proxy: &Proxy,
    overrides: &BTreeMap<String, String>,
    t: &Targets,
) -> Option<Finding> {
    if overrides.contains_key(DNS_CAPTURE) {
        return None;
    }
    let want = t.dns_proxying;
    let has = proxy.env.get(DNS_CAPTURE).is_some_and(|v| v == "true");
    let word = |b: bool| if b { "on" } else { "off" };
    (want != has).then(|| {
        Finding::new(
            Reason::DnsProxying,
            format!("DNS proxying {} -> {}", word(has), word(want)),
        )
    })
}

//! `dns-proxying`, `compatibility-mode` and `proxy-stats-matcher`: the ProxyConfig a sidecar
//! started with.
//!
//! The module writes these into the mesh's `defaultConfig` (`proxyMetadata`, `proxyStatsMatcher`);
//! a pod's `proxy.istio.io/config` annotation overrides that per field, so a pod that sets one
//! itself is in sync with it whatever the CR says. The injector records the effective ProxyConfig
//! in `istio-proxy`'s `PROXY_CONFIG` env var and one env var per `proxyMetadata` key: a pod that
//! carries `PROXY_CONFIG` is judged from it (its `proxyMetadata`, its `proxyStatsMatcher`); one
//! without it from its env vars, and its stats matcher is not judged.

use super::rules::Targets;
use super::{Finding, Reason};
use crate::istio::version::compatibility_proxy_flags;
use crate::live::Pod;
use crate::live::Proxy;
use crate::live::convert::PROXY_CONFIG_ANNOTATION;
use std::collections::BTreeMap;

pub const DNS_CAPTURE: &str = "ISTIO_META_DNS_CAPTURE";

/// The pod's `proxy.istio.io/config` (YAML or JSON). An annotation that does not parse overrides
/// nothing (the injector would refuse it).
pub fn annotation_config(pod: &Pod) -> Option<serde_json::Value> {
    let raw = pod.annotations.get(PROXY_CONFIG_ANNOTATION)?;
    serde_saphyr::from_str::<serde_json::Value>(raw).ok()
}

/// The `proxyMetadata` keys the pod's `proxy.istio.io/config` sets.
pub fn overrides(annotation: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    let Some(v) = annotation else {
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

/// The proxy metadata the sidecar started with: `PROXY_CONFIG`'s when it has one, else its env.
pub fn metadata(proxy: &Proxy) -> &BTreeMap<String, String> {
    proxy
        .config
        .as_ref()
        .map_or(&proxy.env, |c| &c.proxy_metadata)
}

/// `proxy-stats-matcher`: the inclusion regexps the sidecar started with (a set) against git's.
/// Judged only for pods that carry `PROXY_CONFIG`; a pod whose `proxy.istio.io/config` sets
/// `proxyStatsMatcher` itself is in sync with it.
pub fn stats_matcher(
    proxy: &Proxy,
    annotation: Option<&serde_json::Value>,
    t: &Targets,
) -> Option<Finding> {
    let carried = proxy.config.as_ref()?;
    if annotation.is_some_and(|a| a.get("proxyStatsMatcher").is_some()) {
        return None;
    }
    let want = &t.proxy_stats_matcher;
    (carried.stats_regexps != *want).then(|| {
        let show = |r: &[String]| {
            if r.is_empty() {
                "none".to_string()
            } else {
                format!("[{}]", r.join(", "))
            }
        };
        Finding::new(
            Reason::ProxyStatsMatcher,
            format!(
                "proxyStatsMatcher inclusionRegexps {} -> {}",
                show(&carried.stats_regexps),
                show(want)
            ),
        )
    })
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
    let carried = metadata(proxy);
    let present = flags
        .iter()
        .filter(|(k, v)| carried.get(*k).map(String::as_str) == Some(*v))
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
    let has = metadata(proxy)
        .get(DNS_CAPTURE)
        .is_some_and(|v| v == "true");
    let word = |b: bool| if b { "on" } else { "off" };
    (want != has).then(|| {
        Finding::new(
            Reason::DnsProxying,
            format!("DNS proxying {} -> {}", word(has), word(want)),
        )
    })
}

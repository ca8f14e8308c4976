//! `ingress-gateway-config`: gateway settings in git that differ from what the operator last
//! applied. Only Deployment `istio-system/istio-ingressgateway` restarts for them.

use super::{Finding, Reason};
use crate::desired::Desired;
use crate::istio::IstioSpec;
use crate::istio::cr::{ForwardClientCertDetails, LAST_APPLIED_ANNOTATION, NAMESPACE};
use crate::live::LiveState;

pub const GATEWAY_NAMESPACE: &str = "istio-system";
pub const GATEWAY_NAME: &str = "istio-ingressgateway";

/// The gateway-relevant settings, with the module's effective defaults filled in.
#[derive(Debug, PartialEq)]
struct GatewaySettings {
    num_trusted_proxies: Option<u32>,
    forward_client_cert_details: ForwardClientCertDetails,
    trust_domain: String,
    stats_inclusion: Vec<String>,
}

/// Whether two specs agree on the fields the operator records after the gateway restart
/// (numTrustedProxies, forwardClientCertDetails, trustDomain). proxyStatsMatcher, which also
/// restarts the gateway, is recorded with the proxy fields, only after a sidecar pass without
/// warnings.
pub fn same_recorded_settings(a: &IstioSpec, b: &IstioSpec) -> bool {
    let (a, b) = (settings(a), settings(b));
    (
        a.num_trusted_proxies,
        a.forward_client_cert_details,
        a.trust_domain,
    ) == (
        b.num_trusted_proxies,
        b.forward_client_cert_details,
        b.trust_domain,
    )
}

fn settings(spec: &IstioSpec) -> GatewaySettings {
    let c = spec.config.as_ref();
    GatewaySettings {
        num_trusted_proxies: c.and_then(|c| c.num_trusted_proxies),
        forward_client_cert_details: c
            .and_then(|c| c.forward_client_cert_details)
            .unwrap_or(ForwardClientCertDetails::SanitizeSet),
        trust_domain: c
            .and_then(|c| c.trust_domain.clone())
            .unwrap_or_else(|| "cluster.local".into()),
        // A set: the operator sorts it, so a reorder or a repeat is no change.
        stats_inclusion: {
            let mut v = c
                .and_then(|c| c.proxy_stats_matcher.as_ref())
                .and_then(|m| m.inclusion_regexps.clone())
                .unwrap_or_default();
            v.sort();
            v.dedup();
            v
        },
    }
}

/// The ingress gateway's findings, empty when nothing differs or nothing was applied yet. A
/// `lastAppliedConfiguration` that does not parse is said in a notice and counts as nothing
/// applied (every setting git makes differs, as the operator sees it).
pub fn findings(desired: &Desired, live: &LiveState, notices: &mut Vec<String>) -> Vec<Finding> {
    let Some(want) = desired.istio.as_ref() else {
        return Vec::new();
    };
    let name = want.metadata.name.as_deref().unwrap_or("default");
    let Some(cr) = live.istio_cr(NAMESPACE, name) else {
        return Vec::new();
    };
    let applied = match super::operator::last_applied(cr) {
        None => return Vec::new(),
        Some(Ok(a)) => a.spec,
        Some(Err(e)) => {
            notices.push(format!(
                "the annotation {LAST_APPLIED_ANNOTATION} of Istio CR {}/{} does not parse ({e}): planned as if the operator had applied nothing",
                cr.metadata.namespace.as_deref().unwrap_or_default(),
                cr.metadata.name.as_deref().unwrap_or_default()
            ));
            IstioSpec::default()
        }
    };
    let (w, a) = (settings(&want.spec), settings(&applied));
    let mut out = Vec::new();
    let show = |v: Option<u32>| v.map_or("default".to_string(), |v| v.to_string());
    if w.num_trusted_proxies != a.num_trusted_proxies {
        out.push(format!(
            "numTrustedProxies {} -> {}",
            show(a.num_trusted_proxies),
            show(w.num_trusted_proxies)
        ));
    }
    if w.forward_client_cert_details != a.forward_client_cert_details {
        out.push(format!(
            "forwardClientCertDetails {} -> {}",
            a.forward_client_cert_details.as_str(),
            w.forward_client_cert_details.as_str()
        ));
    }
    if w.trust_domain != a.trust_domain {
        out.push(format!(
            "trustDomain {} -> {}",
            a.trust_domain, w.trust_domain
        ));
    }
    if w.stats_inclusion != a.stats_inclusion {
        out.push("proxyStatsMatcher.inclusionRegexps changed".to_string());
    }
    out.into_iter()
        .map(|d| {
            Finding::new(
                Reason::IngressGatewayConfig,
                format!("{d} (operator last applied the old value)"),
            )
        })
        .collect()
}

/// A compact statement of the desired gateway settings, for the restart annotation.
pub fn signature(desired: &Desired) -> String {
    let Some(want) = desired.istio.as_ref() else {
        return String::new();
    };
    let s = settings(&want.spec);
    let fccd = s.forward_client_cert_details.as_str();
    format!(
        "numTrustedProxies:{};forwardClientCertDetails:{fccd};trustDomain:{};statsInclusion:{}",
        s.num_trusted_proxies
            .map_or("default".into(), |v| v.to_string()),
        s.trust_domain,
        s.stats_inclusion.len()
    )
}

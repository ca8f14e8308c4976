//! Why a pod needs a restart: one function per rule, each comparing what the pod runs with what
//! git asks for. Nothing here remembers the past, so a pod that runs the target is never planned.

use super::quantity;
use super::{Finding, Reason};
use crate::istio::cr::Resources;
use crate::istio::version::compatibility_proxy_flags;
use crate::istio::{ImageRef, Version};
use crate::live::{Pod, Proxy};

/// Pod annotation naming a custom proxy image: such pods are never restarted.
pub const PROXY_IMAGE_ANNOTATION: &str = "sidecar.istio.io/proxyImage";
pub const PROMETHEUS_PATH: &str = "/stats/prometheus";
pub const DEFAULT_STATUS_PORT: u16 = 15020;

/// What every injected pod should look like, derived from the desired state and the mesh config.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    pub uninstall: bool,
    pub istio: Option<Version>,
    pub proxy_image: Option<String>,
    pub prometheus_merge: bool,
    pub status_port: u16,
    pub compatibility_mode: bool,
    /// `None`: the CR leaves DNS proxying to the module default, which this tool does not judge.
    pub dns_proxying: Option<bool>,
    /// `None`: the CR leaves sidecar resources to the module default.
    pub proxy_resources: Option<Resources>,
}

/// Gateways are restarted by their own rule, not as sidecars.
pub fn is_gateway(pod: &Pod) -> bool {
    matches!(
        pod.labels.get("istio").map(String::as_str),
        Some("ingressgateway" | "egressgateway")
    )
}

/// Every rule that applies to one pod. Reads only the pod's proxy, annotations, labels and
/// `injected`: the planner shares one result between pods for which those are the same.
pub fn check_pod(pod: &Pod, t: &Targets) -> Vec<Finding> {
    let Some(proxy) = &pod.proxy else {
        return Vec::new();
    };
    if is_gateway(pod) {
        return Vec::new();
    }
    if t.uninstall {
        return vec![Finding::new(
            Reason::Uninstall,
            "istio-proxy sidecar to be removed",
        )];
    }
    if !pod.injected {
        return Vec::new();
    }
    let mut out = Vec::new();
    out.extend(istio_version(proxy, t));
    out.extend(prometheus_merge(pod, t));
    out.extend(compatibility_mode(proxy, t));
    out.extend(dns_proxying(proxy, t));
    out.extend(proxy_resources(pod, proxy, t));
    out
}

fn istio_version(proxy: &Proxy, t: &Targets) -> Option<Finding> {
    let target = t.istio?;
    let image = ImageRef::parse(&proxy.image);
    match image.version() {
        Some(v) if v == target => None,
        Some(v) => Some(Finding::new(
            Reason::IstioVersion,
            format!("istio-proxy {v} -> {target}"),
        )),
        None => {
            // A digest-only pin is in sync when it is the very image the release names.
            let wanted = t.proxy_image.as_deref().map(ImageRef::parse);
            if image.digest.is_some() && wanted.and_then(|w| w.digest) == image.digest {
                return None;
            }
            Some(Finding::new(
                Reason::IstioVersion,
                format!(
                    "istio-proxy image `{}` names no version -> {target}",
                    proxy.image
                ),
            ))
        }
    }
}

/// Pods that opt out of scraping or metrics merging never get the merge annotations.
pub fn prometheus_opt_out(pod: &Pod) -> bool {
    pod.annotations
        .get("prometheus.io/scrape")
        .is_some_and(|v| v == "false")
        || pod
            .annotations
            .get("prometheus.istio.io/merge-metrics")
            .is_some_and(|v| v == "false")
}

fn prometheus_merge(pod: &Pod, t: &Targets) -> Option<Finding> {
    if prometheus_opt_out(pod) {
        return None;
    }
    let port = t.status_port.to_string();
    let merged = pod
        .annotations
        .get("prometheus.io/path")
        .map(String::as_str)
        == Some(PROMETHEUS_PATH)
        && pod.annotations.get("prometheus.io/port") == Some(&port);
    match (t.prometheus_merge, merged) {
        (true, false) => Some(Finding::new(
            Reason::PrometheusMerge,
            "prometheus merge annotations missing (merge is on)",
        )),
        (false, true) => Some(Finding::new(
            Reason::PrometheusMerge,
            "prometheus merge annotations present (merge is off)",
        )),
        _ => None,
    }
}

fn compatibility_mode(proxy: &Proxy, t: &Targets) -> Option<Finding> {
    let target = t.istio?;
    let flags = compatibility_proxy_flags(target);
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

fn dns_proxying(proxy: &Proxy, t: &Targets) -> Option<Finding> {
    let want = t.dns_proxying?;
    let has = proxy
        .env
        .get("ISTIO_META_DNS_CAPTURE")
        .is_some_and(|v| v == "true");
    let word = |b: bool| if b { "on" } else { "off" };
    (want != has).then(|| {
        Finding::new(
            Reason::DnsProxying,
            format!("DNS proxying {} -> {}", word(has), word(want)),
        )
    })
}

fn proxy_resources(pod: &Pod, proxy: &Proxy, t: &Targets) -> Vec<Finding> {
    let Some(desired) = t.proxy_resources.as_ref() else {
        return Vec::new();
    };
    let desired = Some(desired);
    let req = desired.and_then(|r| r.requests.as_ref());
    let lim = desired.and_then(|r| r.limits.as_ref());
    let checks = [
        (
            "requests.cpu",
            "sidecar.istio.io/proxyCPU",
            req.and_then(|q| q.cpu.as_ref()),
            &proxy.requests.cpu,
        ),
        (
            "requests.memory",
            "sidecar.istio.io/proxyMemory",
            req.and_then(|q| q.memory.as_ref()),
            &proxy.requests.memory,
        ),
        (
            "limits.cpu",
            "sidecar.istio.io/proxyCPULimit",
            lim.and_then(|q| q.cpu.as_ref()),
            &proxy.limits.cpu,
        ),
        (
            "limits.memory",
            "sidecar.istio.io/proxyMemoryLimit",
            lim.and_then(|q| q.memory.as_ref()),
            &proxy.limits.memory,
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(field, annotation, from_cr, actual)| {
            // The pod's own annotation wins over the CR, as it does at injection.
            let want = pod.annotations.get(annotation).or(from_cr)?;
            let have = actual.as_deref().unwrap_or("unset");
            (!quantity::same(want, have)).then(|| {
                Finding::new(
                    Reason::ProxyResources,
                    format!("istio-proxy {field} {have} -> {want}"),
                )
            })
        })
        .collect()
}

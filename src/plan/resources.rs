//! `proxy-resources`: the sidecar's requests and limits against what the injector would render.
//!
//! Istio's injection template takes the resources either from the pod's
//! `sidecar.istio.io/proxy*` annotations (once any of the four is set, the global proxy resources
//! are not used at all) or from the mesh's global proxy resources, which the module fills from
//! `spec.components.proxy.k8s.resources` over its own default profile.

use super::quantity;
use super::{Finding, Reason};
use crate::istio::cr::Resources;
use crate::live::{Pod, Proxy};

pub const PROXY_CPU: &str = "sidecar.istio.io/proxyCPU";
pub const PROXY_CPU_LIMIT: &str = "sidecar.istio.io/proxyCPULimit";
pub const PROXY_MEMORY: &str = "sidecar.istio.io/proxyMemory";
pub const PROXY_MEMORY_LIMIT: &str = "sidecar.istio.io/proxyMemoryLimit";

/// The module's default sidecar resources, `(requests cpu, requests memory, limits cpu, limits
/// memory)`: the profile for larger clusters and the lighter one for clusters under 5 vCPUs or
/// 10 GB (the module picks one by cluster size, which the live state does not tell).
pub const MODULE_DEFAULTS: [[&str; 4]; 2] = [
    ["10m", "192Mi", "1000m", "1024Mi"],
    ["10m", "32Mi", "250m", "254Mi"],
];

/// What the sidecar resources should be.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ResourcesTarget {
    /// Neither git nor the cluster's CR sets them: the module default stands, pods are not judged.
    #[default]
    NotJudged,
    /// Git sets them: each field git sets is compared (the others stay the module default).
    Cr(Resources),
    /// Git no longer sets them but the live CR or its `lastAppliedConfiguration` does: every
    /// sidecar goes back to the module default.
    ModuleDefault,
}

impl ResourcesTarget {
    /// What git sets against what the cluster's CR sets or the operator last applied.
    pub fn new(
        git: Option<&Resources>,
        live: Option<&Resources>,
        applied: Option<&Resources>,
    ) -> Self {
        let set = |r: Option<&Resources>| r.is_some_and(|r| *r != Resources::default());
        match git {
            Some(r) if set(Some(r)) => ResourcesTarget::Cr(r.clone()),
            _ if set(live) || set(applied) => ResourcesTarget::ModuleDefault,
            _ => ResourcesTarget::NotJudged,
        }
    }

    /// A compact statement for the restart annotation.
    pub fn signature(&self) -> String {
        match self {
            ResourcesTarget::NotJudged | ResourcesTarget::ModuleDefault => "module-default".into(),
            ResourcesTarget::Cr(r) => {
                let q = |o: Option<&String>| o.cloned().unwrap_or_else(|| "-".into());
                let (req, lim) = (r.requests.as_ref(), r.limits.as_ref());
                format!(
                    "{}/{}/{}/{}",
                    q(req.and_then(|q| q.cpu.as_ref())),
                    q(req.and_then(|q| q.memory.as_ref())),
                    q(lim.and_then(|q| q.cpu.as_ref())),
                    q(lim.and_then(|q| q.memory.as_ref()))
                )
            }
        }
    }
}

/// Whether the pod sets any of the four resource annotations.
pub fn annotated(pod: &Pod) -> bool {
    [PROXY_CPU, PROXY_CPU_LIMIT, PROXY_MEMORY, PROXY_MEMORY_LIMIT]
        .iter()
        .any(|a| pod.annotations.contains_key(*a))
}

/// The four fields in the order requests.cpu, requests.memory, limits.cpu, limits.memory.
const FIELDS: [&str; 4] = [
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

fn actual(proxy: &Proxy) -> [Option<&str>; 4] {
    [
        proxy.requests.cpu.as_deref(),
        proxy.requests.memory.as_deref(),
        proxy.limits.cpu.as_deref(),
        proxy.limits.memory.as_deref(),
    ]
}

/// What the annotations render: each given value, and a missing request defaulted from its limit
/// by the API server. A resource neither annotation names is not judged (a LimitRange may fill it).
fn from_annotations(pod: &Pod) -> [Option<&str>; 4] {
    let a = |k: &str| pod.annotations.get(k).map(String::as_str);
    [
        a(PROXY_CPU).or(a(PROXY_CPU_LIMIT)),
        a(PROXY_MEMORY).or(a(PROXY_MEMORY_LIMIT)),
        a(PROXY_CPU_LIMIT),
        a(PROXY_MEMORY_LIMIT),
    ]
}

fn from_cr(r: &Resources) -> [Option<&str>; 4] {
    let (req, lim) = (r.requests.as_ref(), r.limits.as_ref());
    [
        req.and_then(|q| q.cpu.as_deref()),
        req.and_then(|q| q.memory.as_deref()),
        lim.and_then(|q| q.cpu.as_deref()),
        lim.and_then(|q| q.memory.as_deref()),
    ]
}

fn field_findings(want: [Option<&str>; 4], have: [Option<&str>; 4], why: &str) -> Vec<Finding> {
    (0..4)
        .filter_map(|i| {
            let want = want[i]?;
            let have = have[i].unwrap_or("unset");
            (!quantity::same(want, have)).then(|| {
                Finding::new(
                    Reason::ProxyResources,
                    format!("istio-proxy {} {have} -> {want}{why}", FIELDS[i]),
                )
            })
        })
        .collect()
}

pub fn check(pod: &Pod, proxy: &Proxy, target: &ResourcesTarget) -> Vec<Finding> {
    if *target == ResourcesTarget::NotJudged {
        return Vec::new();
    }
    let have = actual(proxy);
    if annotated(pod) {
        return field_findings(from_annotations(pod), have, " (pod annotation)");
    }
    match target {
        ResourcesTarget::NotJudged => Vec::new(),
        ResourcesTarget::Cr(r) => field_findings(from_cr(r), have, ""),
        ResourcesTarget::ModuleDefault => {
            let is_default = MODULE_DEFAULTS.iter().any(|profile| {
                profile
                    .iter()
                    .zip(have)
                    .all(|(want, have)| have.is_some_and(|h| quantity::same(want, h)))
            });
            if is_default {
                return Vec::new();
            }
            let show = have.map(|h| h.unwrap_or("unset"));
            vec![Finding::new(
                Reason::ProxyResources,
                format!(
                    "istio-proxy resources requests {}/{} limits {}/{} -> the module default (git no longer sets spec.components.proxy.k8s.resources)",
                    show[0], show[1], show[2], show[3]
                ),
            )]
        }
    }
}

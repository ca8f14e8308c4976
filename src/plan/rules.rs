//! Why a pod needs a restart: [`check_pod`] runs every rule family, each comparing what the pod
//! runs with what git asks for (the Istio version here; `prometheus`, `proxy_metadata`,
//! `resources` and `features` in their own files). Nothing remembers the past, so a pod that runs the target is
//! never planned.

use super::features::{self, FeatureTargets};
use super::proxy_metadata;
use super::resources::{self, ResourcesTarget};
use super::{Finding, Reason};
use crate::istio::{ImageRef, Version};
use crate::live::{Pod, Proxy};

/// Pod annotation naming a custom proxy image: such pods are never restarted.
pub const PROXY_IMAGE_ANNOTATION: &str = "sidecar.istio.io/proxyImage";
pub const PROMETHEUS_PATH: &str = "/stats/prometheus";
pub const DEFAULT_STATUS_PORT: u16 = 15020;

/// What every injected pod should look like, derived from the desired state and the mesh config.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    /// Git's CR is not the one the operator reconciles: the name of the one it does.
    pub other_cr_wins: Option<String>,
    pub uninstall: bool,
    pub istio: Option<Version>,
    pub proxy_image: Option<String>,
    /// Judge `image-rebuild` (a build suffix change with the same Istio version).
    pub image_rebuild: bool,
    pub prometheus_merge: bool,
    pub status_port: u16,
    pub compatibility_mode: bool,
    /// `spec.config.enableDNSProxying`; unset is the module default, off.
    pub dns_proxying: bool,
    /// `spec.config.proxyStatsMatcher.inclusionRegexps`, sorted; unset is none.
    pub proxy_stats_matcher: Vec<String>,
    pub proxy_resources: ResourcesTarget,
    /// What the module's feature flags (`kyma-system/istio-features`) render into sidecars.
    pub features: FeatureTargets,
}

/// The module's own gateways (in `istio-system`, not webhook-injected) are restarted by their
/// own rule, not as sidecars. An injected gateway elsewhere is a workload like any other.
pub fn is_gateway(pod: &Pod) -> bool {
    &*pod.namespace == super::gateway::GATEWAY_NAMESPACE
        && matches!(
            pod.labels.get("istio").map(String::as_str),
            Some("ingressgateway" | "egressgateway")
        )
}

/// Every rule that applies to one pod. Reads only the pod's namespace, proxy, annotations, labels
/// and `injected`: the planner shares one result between pods for which those are the same.
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
    out.extend(super::prometheus::check(pod, t));
    let annotation = proxy_metadata::annotation_config(pod);
    let overrides = proxy_metadata::overrides(annotation.as_ref());
    out.extend(proxy_metadata::compatibility_mode(proxy, &overrides, t));
    out.extend(proxy_metadata::dns_proxying(proxy, &overrides, t));
    out.extend(proxy_metadata::stats_matcher(proxy, annotation.as_ref(), t));
    out.extend(resources::check(pod, proxy, &t.proxy_resources));
    out.extend(features::cni(proxy, t));
    let metadata = proxy_metadata::metadata(proxy);
    out.extend(features::ambient(metadata, &overrides, t));
    out.extend(features::dual_stack(metadata, &overrides, t));
    out
}

fn istio_version(proxy: &Proxy, t: &Targets) -> Option<Finding> {
    let target = t.istio?;
    let image = ImageRef::parse(&proxy.image);
    match image.version() {
        Some(v) if v == target => image_rebuild(&image, t),
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

/// The numeric build suffix of a tag (`1.29.1-2` -> `2`); flavours such as `-distroless` are none.
fn build(tag: Option<&str>) -> Option<&str> {
    let (_, b) = tag?.split_once('-')?;
    (!b.is_empty() && b.bytes().all(|c| c.is_ascii_digit())).then_some(b)
}

/// `image-rebuild`: the release names a build of the target version (the FIPS images' `-N`) that
/// the pod does not run.
fn image_rebuild(image: &ImageRef, t: &Targets) -> Option<Finding> {
    if !t.image_rebuild {
        return None;
    }
    let wanted = ImageRef::parse(t.proxy_image.as_deref()?);
    let want = build(wanted.tag.as_deref())?;
    let have = build(image.tag.as_deref());
    (have != Some(want)).then(|| {
        Finding::new(
            Reason::ImageRebuild,
            format!(
                "istio-proxy image build {} -> {} (same Istio version)",
                image.tag.as_deref().unwrap_or("untagged"),
                wanted.tag.as_deref().unwrap_or_default()
            ),
        )
    })
}

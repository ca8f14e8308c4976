//! The control plane against the target: whether restarts can start now, and the version skew
//! that sidecars left behind would have.

use super::ControlPlane;
use super::rules::is_gateway;
use crate::desired::Desired;
use crate::istio::{ImageRef, Version};
use crate::live::{LiveState, Pod};

fn join(v: &[Version]) -> String {
    v.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the control plane runs and whether the planned restarts can start: for an upgrade once it
/// runs the target only (else the old proxy is injected again), for an uninstall once it is gone
/// (else the sidecar is injected again).
pub fn control_plane(
    desired: &Desired,
    live: &LiveState,
    notices: &mut Vec<String>,
) -> ControlPlane {
    let versions = live.control_plane_versions();
    let ready = match desired.istio_version {
        Some(t) => versions == [t],
        None if desired.istio.is_none() => versions.is_empty(),
        None => true,
    };
    if !ready {
        match desired.istio_version {
            Some(t) => {
                let now = if versions.is_empty() {
                    "no control-plane version could be read".to_string()
                } else {
                    format!("it runs {}", join(&versions))
                };
                notices.push(format!(
                    "the control plane does not run Istio {t} yet ({now}): version restarts must wait for it, or the old proxy is injected again"
                ));
            }
            None => notices.push(format!(
                "Istio still runs (the control plane runs {}): sidecar removals wait until it is uninstalled, or the sidecar is injected again",
                join(&versions)
            )),
        }
    }
    ControlPlane { versions, ready }
}

/// The first Istio version whose control plane no longer supports sidecars on `v`: a control
/// plane may be at most one minor version ahead of its data plane.
pub fn unsupported_from(v: Version) -> Version {
    Version::new(v.major, v.minor + 2, 0)
}

pub(crate) fn sidecar_version(pod: &Pod) -> Option<Version> {
    ImageRef::parse(&pod.proxy.as_ref()?.image).version()
}

/// For a workload that stays behind (skipped, manual, blocked): from which Istio version on its
/// oldest sidecar is out of support. `None` when it does not run an older version than the target.
pub fn stays_behind<'a>(
    target: Option<Version>,
    pods: impl Iterator<Item = &'a Pod>,
) -> Option<String> {
    let target = target?;
    let oldest = pods.filter_map(sidecar_version).min()?;
    (oldest < target).then(|| {
        let from = unsupported_from(oldest);
        format!(
            "stays on Istio {oldest}: out of support once the control plane runs Istio {}.{} or later{}",
            from.major,
            from.minor,
            if target >= from { " (the target does)" } else { "" }
        )
    })
}

/// The error when the target would leave sidecars two or more minor versions behind.
pub fn skew_error(target: Option<Version>, live: &LiveState) -> Option<String> {
    let target = target?;
    let mut behind: Vec<(Version, String)> = live
        .pods
        .iter()
        .filter(|p| p.injected && !is_gateway(p))
        .filter_map(|p| Some((sidecar_version(p)?, p)))
        .filter(|(v, _)| target >= unsupported_from(*v))
        .map(|(v, p)| (v, format!("{}/{}", p.namespace, p.name)))
        .collect();
    if behind.is_empty() {
        return None;
    }
    behind.sort();
    let oldest = behind[0].0;
    let names: Vec<&str> = behind.iter().take(5).map(|(_, n)| n.as_str()).collect();
    let more = if behind.len() > 5 {
        format!(" and {} more", behind.len() - 5)
    } else {
        String::new()
    };
    Some(format!(
        "Istio {target} would leave {} two or more minor versions behind, out of support (the oldest runs {oldest}): {}{more}; a control plane supports sidecars at most one minor version older",
        if behind.len() == 1 {
            "1 sidecar".to_string()
        } else {
            format!("{} sidecars", behind.len())
        },
        names.join(", ")
    ))
}

//! `prometheus-merge`: the pod's scrape annotations against what Istio's injector does with them.
//!
//! At injection, merging is on for a pod when `prometheus.io/scrape` does not parse as false and
//! `prometheus.istio.io/merge-metrics` parses as true, or is unset (or unparsable) while the mesh
//! has merging on. A merged pod gets `prometheus.io/path: /stats/prometheus` and
//! `prometheus.io/port: <statusPort>`, except that a pod whose own port already is the status port
//! is left alone. Booleans parse the way Go's `strconv.ParseBool` does.

use super::rules::{PROMETHEUS_PATH, Targets};
use super::{Finding, Reason};
use crate::live::Pod;

pub const SCRAPE: &str = "prometheus.io/scrape";
pub const MERGE_METRICS: &str = "prometheus.istio.io/merge-metrics";
pub const PATH: &str = "prometheus.io/path";
pub const PORT: &str = "prometheus.io/port";

/// Go's `strconv.ParseBool`: `None` for anything else.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn annotation_bool(pod: &Pod, key: &str) -> Option<bool> {
    pod.annotations.get(key).and_then(|v| parse_bool(v))
}

/// The pod opted out: the injector never touches its annotations, so they are its own.
pub fn opted_out(pod: &Pod) -> bool {
    annotation_bool(pod, SCRAPE) == Some(false)
        || annotation_bool(pod, MERGE_METRICS) == Some(false)
}

/// Whether the injector merges this pod's metrics.
pub fn merges(pod: &Pod, mesh_merge: bool) -> bool {
    !opted_out(pod) && annotation_bool(pod, MERGE_METRICS).unwrap_or(mesh_merge)
}

pub fn check(pod: &Pod, t: &Targets) -> Option<Finding> {
    if opted_out(pod) {
        return None;
    }
    let port = t.status_port.to_string();
    let a = |k: &str| pod.annotations.get(k).map(String::as_str);
    let on_status_port = a(PORT) == Some(port.as_str());
    let forced = annotation_bool(pod, MERGE_METRICS) == Some(true) && !t.prometheus_merge;
    if merges(pod, t.prometheus_merge) {
        // Merged, or left alone because the app's own port already is the status port.
        (!on_status_port).then(|| {
            let why = if forced {
                format!("merge is on for this pod ({MERGE_METRICS})")
            } else {
                "merge is on".to_string()
            };
            Finding::new(
                Reason::PrometheusMerge,
                format!("prometheus merge annotations missing ({why})"),
            )
        })
    } else {
        (on_status_port && a(PATH) == Some(PROMETHEUS_PATH)).then(|| {
            Finding::new(
                Reason::PrometheusMerge,
                "prometheus merge annotations present (merge is off)",
            )
        })
    }
}

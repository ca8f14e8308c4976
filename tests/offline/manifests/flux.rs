//! manifests/flux: the Flux Kustomization that runs the Job, in agreement with it.

use super::seconds;
use crate::common::manifests::*;

#[test]
fn flux_kustomization_has_its_required_fields() {
    let k = one("flux/flux-kustomization.yaml");
    assert_eq!(k["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(k["kind"], "Kustomization");
    assert!(k["metadata"]["name"].is_string() && k["metadata"]["namespace"].is_string());
    let spec = &k["spec"];
    // Required by the v1 API: interval, prune, sourceRef.{kind,name}.
    assert!(spec["interval"].is_string(), "spec.interval");
    assert!(spec["prune"].is_boolean(), "spec.prune");
    assert!(
        ["GitRepository", "OCIRepository", "Bucket"]
            .iter()
            .any(|s| spec["sourceRef"]["kind"] == *s)
            && spec["sourceRef"]["name"].is_string(),
        "spec.sourceRef"
    );
    seconds(spec["interval"].as_str().unwrap());
    assert!(
        spec["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("manifests/flux")),
        "spec.path is the istio-rollout Flux kustomization"
    );
    assert!(
        spec["dependsOn"]
            .as_array()
            .is_some_and(|d| !d.is_empty() && d.iter().all(|d| d["name"].is_string())),
        "spec.dependsOn names the Kustomization that applies the Istio CR"
    );
    assert_eq!(
        spec["wait"], true,
        "spec.wait: the Job's result is the Kustomization's health"
    );
    assert_eq!(
        spec["force"], true,
        "spec.force: recreate the Job when its template changes"
    );
    let timeout = seconds(spec["timeout"].as_str().expect("spec.timeout"));
    let job = &jobs("flux")[0];
    let deadline = job["spec"]["activeDeadlineSeconds"].as_u64().unwrap();
    assert!(
        timeout > deadline,
        "spec.timeout ({timeout}s) must outlast the Job's activeDeadlineSeconds ({deadline}s)"
    );
    assert!(!flux_vars_of("flux").is_empty());
}

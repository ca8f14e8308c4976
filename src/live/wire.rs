//! Pods as the API server (or a saved file) sends them, decoded into only the fields the planner
//! reads. serde skips every other field without allocating for it: a pod is about 9 KB of JSON,
//! mostly `managedFields`, volumes, probes and status, none of which the planner needs.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;

/// A `v1/Pod`, reduced at decoding time.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodObject {
    #[serde(default)]
    pub metadata: PodMeta,
    pub spec: Option<PodSpec>,
    pub status: Option<PodStatus>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMeta {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub owner_references: Option<Vec<OwnerReference>>,
    /// Only whether it is set matters.
    pub deletion_timestamp: Option<IgnoredAny>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct OwnerReference {
    pub kind: String,
    pub name: String,
    pub controller: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub restart_policy: Option<String>,
    #[serde(default)]
    pub containers: Vec<Container>,
    pub init_containers: Option<Vec<Container>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    /// `Always` on an init container: a native sidecar.
    pub restart_policy: Option<String>,
    pub env: Option<Vec<EnvVar>>,
    pub resources: Option<Resources>,
    /// Only whether it is set matters.
    pub readiness_probe: Option<IgnoredAny>,
}

/// An env var; `valueFrom` is not read (the planner compares literal values only).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Resources {
    pub requests: Option<BTreeMap<String, Quantity>>,
    pub limits: Option<BTreeMap<String, Quantity>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodStatus {
    pub phase: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_planner_fields_and_skips_the_rest() {
        let json = r#"{
          "apiVersion": "v1", "kind": "Pod",
          "metadata": {"name": "a", "namespace": "ns", "uid": "u",
            "labels": {"app": "a"}, "annotations": {"x": "y"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a-1", "uid": "r", "controller": true}],
            "deletionTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
          "spec": {"restartPolicy": "Never", "volumes": [{"name": "v", "emptyDir": {}}],
            "containers": [{"name": "app", "image": "app:1", "readinessProbe": {"httpGet": {"port": 80}},
              "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}],
              "resources": {"requests": {"cpu": "10m"}}}],
            "initContainers": [{"name": "istio-proxy", "image": "proxyv2:1", "restartPolicy": "Always"}]},
          "status": {"phase": "Running", "podIP": "10.0.0.1"}
        }"#;
        let p: PodObject = serde_json::from_str(json).expect("decodes");
        assert_eq!(p.metadata.name.as_deref(), Some("a"));
        assert!(p.metadata.deletion_timestamp.is_some());
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("ReplicaSet", Some(true))
        );
        let spec = p.spec.expect("spec");
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        let app = &spec.containers[0];
        assert!(app.readiness_probe.is_some());
        assert_eq!(app.env.as_ref().unwrap()[1].value, None);
        let cpu = &app.resources.as_ref().unwrap().requests.as_ref().unwrap()["cpu"];
        assert_eq!(cpu.0, "10m");
        let init = &spec.init_containers.unwrap()[0];
        assert_eq!(init.restart_policy.as_deref(), Some("Always"));
        assert!(init.readiness_probe.is_none());
        assert_eq!(p.status.unwrap().phase.as_deref(), Some("Running"));
    }
}

//! Table tests of the planner's rules, one file per rule family, with small builders: pods and
//! other objects as the API server sends them (JSON), read through the same conversion the
//! snapshot reader uses, and desired states parsed like git's files.

mod control_plane;
mod cr_and_defaults;
mod features;
mod gate;
mod gateways;
mod image_rebuild;
mod prometheus;
mod proxy_config;
mod proxy_metadata;
mod resources;
mod rollouts;
mod several_crs;
mod skew;

use crate::desired::{self, Desired, File, Source};
use crate::live::{LiveState, snapshot};
use crate::plan::{Entry, Options, Plan, Reason, plan};
use serde_json::{Value, json};

pub const T: &str = "1.30.2";
pub const HUB: &str = "europe-docker.pkg.dev/kyma-project/prod/external/istio";

pub fn image(version: &str) -> String {
    format!("{HUB}/proxyv2:{version}-distroless")
}

/// An injected pod on the target version, shaped step by step.
#[derive(Clone)]
pub struct PodB(pub Value);

pub fn pod(ns: &str, name: &str) -> PodB {
    PodB(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name},
                     "annotations": {"sidecar.istio.io/status": "{}"}},
        "spec": {"containers": [
            {"name": "app", "image": "app:1", "readinessProbe": {"httpGet": {"port": 80}}},
            {"name": "istio-proxy", "image": image(T)}
        ]},
        "status": {"phase": "Running"}
    }))
}

impl PodB {
    pub fn owner(mut self, kind: &str, name: &str) -> Self {
        self.0["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": true}]);
        self
    }
    fn proxy(&mut self) -> &mut Value {
        let c = self.0["spec"]["containers"].as_array_mut().unwrap();
        c.iter_mut().find(|c| c["name"] == "istio-proxy").unwrap()
    }
    pub fn version(mut self, v: &str) -> Self {
        self.proxy()["image"] = json!(image(v));
        self
    }
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.0["metadata"]["annotations"][k] = json!(v);
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0["metadata"]["labels"][k] = json!(v);
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        let p = self.proxy();
        if p.get("env").is_none() {
            p["env"] = json!([]);
        }
        p["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": k, "value": v}));
        self
    }
    /// `requests.cpu`, `requests.memory`, `limits.cpu`, `limits.memory`; `""` leaves one out.
    pub fn resources(mut self, [rc, rm, lc, lm]: [&str; 4]) -> Self {
        let pair = |cpu: &str, mem: &str| {
            let mut m = serde_json::Map::new();
            if !cpu.is_empty() {
                m.insert("cpu".into(), json!(cpu));
            }
            if !mem.is_empty() {
                m.insert("memory".into(), json!(mem));
            }
            Value::Object(m)
        };
        self.proxy()["resources"] = json!({"requests": pair(rc, rm), "limits": pair(lc, lm)});
        self
    }
    pub fn build(self) -> Value {
        self.0
    }
}

/// Deployment `ns/web` (complete rollout) with ReplicaSet `web-1` and one pod shaped by `f`.
pub fn web(f: impl Fn(PodB) -> PodB) -> Vec<Value> {
    vec![
        deployment("ns", "web", 1),
        replica_set("ns", "web-1", "web"),
        f(pod("ns", "web-1-a").owner("ReplicaSet", "web-1")).build(),
    ]
}

pub fn deployment(ns: &str, name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": ns, "generation": 1},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}}},
           "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                      "readyReplicas": replicas, "availableReplicas": replicas}})
}

pub fn replica_set(ns: &str, name: &str, deployment: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
           "metadata": {"name": name, "namespace": ns,
                        "annotations": {"deployment.kubernetes.io/revision": "1"},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment, "uid": "u", "controller": true}]},
           "spec": {"replicas": 1, "selector": {"matchLabels": {}}}})
}

/// A live Istio CR with this spec and, if given, `lastAppliedConfiguration`.
pub fn live_cr(name: &str, spec: Value, last_applied: Option<&str>) -> Value {
    let mut v = json!({"apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
                       "metadata": {"name": name, "namespace": "kyma-system",
                                    "creationTimestamp": "2026-01-01T00:00:00Z"},
                       "spec": spec});
    if let Some(a) = last_applied {
        v["metadata"]["annotations"] =
            json!({"operator.kyma-project.io/lastAppliedConfiguration": a});
    }
    v
}

/// The control plane of an installed Istio version: an istiod pod and the manager Deployment.
pub fn control_plane(istio: &str) -> Vec<Value> {
    vec![
        istiod("istiod-1", istio),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "istio-controller-manager", "namespace": "kyma-system",
                            "labels": {"app.kubernetes.io/version": "1.30.0", "kyma-project.io/module": "istio"}},
               "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "manager", "image": "m",
                        "env": [{"name": "proxyv2", "value": image(istio)}]}]}}}}),
    ]
}

pub fn istiod(name: &str, istio: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "istio-system",
                        "labels": {"kyma-project.io/module": "istio", "app": "istiod"}},
           "spec": {"containers": [{"name": "discovery", "image": format!("{HUB}/pilot:{istio}-distroless")}]},
           "status": {"phase": "Running"}})
}

pub fn live(objects: Vec<Value>) -> LiveState {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    snapshot::parse("test", &list.to_string()).expect("the test live state parses")
}

fn source() -> Source {
    Source {
        repo: "repo".into(),
        reference: "main".into(),
        commit: "0".repeat(40),
        path: ".".into(),
    }
}

/// Git's CR `kyma-system/default` with this spec; the target Istio version is `istio`.
pub fn desired(spec: Value, istio: &str) -> Desired {
    let cr = json!({"apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
                    "metadata": {"name": "default", "namespace": "kyma-system"}, "spec": spec});
    let files = vec![File {
        path: "istio.yaml".into(),
        contents: cr.to_string().into_bytes(),
    }];
    let opts = desired::Options {
        istio_version_override: Some(istio.parse().unwrap()),
        ..Default::default()
    };
    desired::parse(source(), &files, &opts).expect("the test desired state parses")
}

pub fn uninstall() -> Desired {
    let opts = desired::Options {
        allow_uninstall: true,
        ..Default::default()
    };
    desired::parse(source(), &[], &opts).expect("uninstall parses")
}

/// Plans `objects` plus a control plane on the target. The live CR equals git's unless the objects
/// bring one.
pub fn run_desired(d: &Desired, mut objects: Vec<Value>) -> Plan {
    if !objects.iter().any(|o| o["metadata"]["name"] == "istiod-1") {
        objects.extend(control_plane(
            &d.istio_version.map_or(T.into(), |v| v.to_string()),
        ));
    }
    if let (Some(cr), false) = (&d.istio, objects.iter().any(|o| o["kind"] == "Istio")) {
        objects.push(serde_json::to_value(cr).unwrap());
    }
    plan(d, &live(objects), &Options::default())
}

pub fn run(spec: Value, objects: Vec<Value>) -> Plan {
    run_desired(&desired(spec, T), objects)
}

pub fn find<'a>(p: &'a Plan, kind: &str, ns: &str, name: &str) -> Option<&'a Entry> {
    p.workloads
        .iter()
        .find(|e| e.kind.as_str() == kind && e.namespace == ns && e.name == name)
}

/// The reasons planned for Deployment `ns/web`.
pub fn web_reasons(p: &Plan) -> Vec<Reason> {
    find(p, "Deployment", "ns", "web")
        .map(|e| e.reasons.clone())
        .unwrap_or_default()
}

//! Builders for Kubernetes objects, live states and desired states (the planner, render and
//! CLI tests), and the bundled example's files.

use istio_rollout::desired::{self, Desired, File, Source};
use istio_rollout::live::{LiveState, snapshot};
use serde_json::{Value, json};

pub const HUB: &str = "europe-docker.pkg.dev/kyma-project/prod/external/istio";

pub fn proxy_image(version: &str) -> String {
    format!("{HUB}/proxyv2:{version}-distroless")
}

/// A pod with an injected sidecar, built step by step.
#[derive(Clone)]
pub struct PodB {
    pub v: Value,
}

pub fn pod(ns: &str, name: &str) -> PodB {
    PodB {
        v: json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name},
                         "annotations": {"sidecar.istio.io/status": "{}"}},
            "spec": {"restartPolicy": "Always", "containers": [
                {"name": "app", "image": "app:1", "readinessProbe": {"httpGet": {"path": "/", "port": 80}}},
                {"name": "istio-proxy", "image": proxy_image("1.29.3")}
            ]},
            "status": {"phase": "Running"}
        }),
    }
}

impl PodB {
    pub fn owner(mut self, api: &str, kind: &str, name: &str) -> Self {
        self.v["metadata"]["ownerReferences"] = json!([{"apiVersion": api, "kind": kind, "name": name, "uid": "u", "controller": true}]);
        self
    }
    pub fn rs(self, name: &str) -> Self {
        self.owner("apps/v1", "ReplicaSet", name)
    }
    fn proxy_mut(&mut self) -> &mut Value {
        let spec = &mut self.v["spec"];
        if let Some(c) = spec["containers"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .position(|c| c["name"] == "istio-proxy")
        {
            return &mut spec["containers"][c];
        }
        let i = spec["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c["name"] == "istio-proxy")
            .unwrap();
        &mut spec["initContainers"][i]
    }
    pub fn image(mut self, image: &str) -> Self {
        self.proxy_mut()["image"] = json!(image);
        self
    }
    pub fn version(self, v: &str) -> Self {
        self.image(&proxy_image(v))
    }
    /// Moves istio-proxy into the init containers with `restartPolicy: Always`.
    pub fn native(mut self) -> Self {
        let spec = self.v["spec"].as_object_mut().unwrap();
        let containers = spec["containers"].as_array_mut().unwrap();
        let i = containers
            .iter()
            .position(|c| c["name"] == "istio-proxy")
            .unwrap();
        let mut proxy = containers.remove(i);
        proxy["restartPolicy"] = json!("Always");
        spec.insert("initContainers".into(), json!([proxy]));
        self
    }
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.v["metadata"]["annotations"][k] = json!(v);
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.v["metadata"]["labels"][k] = json!(v);
        self
    }
    pub fn merged(self, port: &str) -> Self {
        self.annotation("prometheus.io/path", "/stats/prometheus")
            .annotation("prometheus.io/port", port)
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        let p = self.proxy_mut();
        if p.get("env").is_none() {
            p["env"] = json!([]);
        }
        p["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": k, "value": v}));
        self
    }
    pub fn resources(mut self, r: Value) -> Self {
        self.proxy_mut()["resources"] = r;
        self
    }
    pub fn not_injected(mut self) -> Self {
        self.v["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("sidecar.istio.io/status");
        self
    }
    pub fn restart_never(mut self) -> Self {
        self.v["spec"]["restartPolicy"] = json!("Never");
        self
    }
    pub fn no_readiness(mut self) -> Self {
        self.v["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("readinessProbe");
        self
    }
    pub fn phase(mut self, p: &str) -> Self {
        self.v["status"]["phase"] = json!(p);
        self
    }
    pub fn build(self) -> Value {
        self.v
    }
}

fn complete_status(replicas: i64) -> Value {
    json!({"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
           "readyReplicas": replicas, "availableReplicas": replicas})
}

pub fn deployment(ns: &str, name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": ns, "generation": 1, "labels": {"app": name}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}}},
           "status": complete_status(replicas)})
}

pub fn replica_set(ns: &str, name: &str, deployment: Option<&str>, revision: u32) -> Value {
    let mut v = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
           "metadata": {"name": name, "namespace": ns,
                        "annotations": {"deployment.kubernetes.io/revision": revision.to_string()}},
           "spec": {"replicas": 2, "selector": {"matchLabels": {}}}});
    if let Some(d) = deployment {
        v["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": d, "uid": "u", "controller": true}]);
    }
    v
}

pub fn stateful_set(ns: &str, name: &str, replicas: i64, strategy: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": name, "namespace": ns, "generation": 1},
           "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                    "updateStrategy": strategy,
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}}},
           "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas,
                      "updateRevision": format!("{name}-1"), "currentRevision": format!("{name}-1")}})
}

pub fn daemon_set(ns: &str, name: &str, strategy: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
           "metadata": {"name": name, "namespace": ns, "generation": 1},
           "spec": {"selector": {"matchLabels": {"app": name}}, "updateStrategy": {"type": strategy},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}}},
           "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
                      "updatedNumberScheduled": 2, "numberAvailable": 2, "numberReady": 2, "numberMisscheduled": 0}})
}

pub fn simple(
    api: &str,
    kind: &str,
    ns: &str,
    name: &str,
    owner: Option<(&str, &str, &str)>,
) -> Value {
    let mut v =
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns}});
    if let Some((a, k, n)) = owner {
        v["metadata"]["ownerReferences"] =
            json!([{"apiVersion": a, "kind": k, "name": n, "uid": "u", "controller": true}]);
    }
    v
}

/// The control plane of an installed Istio version (istiod pod, manager Deployment).
pub fn control_plane(istio: &str, module: &str) -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "istiod-1", "namespace": "istio-system", "labels": {"kyma-project.io/module": "istio", "app": "istiod"}},
               "spec": {"containers": [{"name": "discovery", "image": format!("{HUB}/pilot:{istio}-distroless")}]},
               "status": {"phase": "Running"}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "istio-controller-manager", "namespace": "kyma-system",
                            "labels": {"app.kubernetes.io/version": module, "kyma-project.io/module": "istio"}},
               "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "manager", "image": "m",
                        "env": [{"name": "proxyv2", "value": proxy_image(istio)}]}]}}}}),
    ]
}

pub fn live(objects: Vec<Value>) -> LiveState {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    snapshot::parse("test", &list.to_string()).expect("the test live state parses")
}

pub fn source() -> Source {
    Source {
        repo: "repo".into(),
        reference: "main".into(),
        commit: "0".repeat(40),
        path: ".".into(),
    }
}

/// A desired state with this CR spec and target Istio version.
pub fn desired(spec: Value, istio: &str) -> Desired {
    let cr = json!({"apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
                    "metadata": {"name": "default", "namespace": "kyma-system"}, "spec": spec});
    let files = vec![
        File {
            path: "istio.yaml".into(),
            contents: serde_yaml_text(&cr).into_bytes(),
        },
        File {
            path: "ISTIO_MODULE_VERSION".into(),
            contents: b"1.30.0\n".to_vec(),
        },
    ];
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

fn serde_yaml_text(v: &Value) -> String {
    v.to_string() // JSON is YAML
}

/// The bundled example's desired files, as (path, contents), placed under `dir`.
/// A repository holding the bundled example under `istio/`, plus `extra` files.
pub fn example_repo(extra: &[(&str, &str)]) -> crate::common::repo::TestRepo {
    let r = crate::common::repo::TestRepo::new();
    let mut files = example_files("istio");
    files.extend(extra.iter().map(|(p, c)| (p.to_string(), c.to_string())));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    r.commit(&refs, &[], "desired state");
    r
}

pub fn example_files(dir: &str) -> Vec<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/gitops/istio");
    ["istio-manager.yaml", "istio-default-cr.yaml"]
        .iter()
        .map(|f| {
            (
                format!("{dir}/{f}"),
                std::fs::read_to_string(format!("{root}/{f}")).unwrap(),
            )
        })
        .collect()
}

//! Scenario 2 of BENCHMARKS.md: the pure planner on a large synthetic cluster, against parsing the
//! same live state from JSON (the baseline of the same run).
//!
//! `cargo bench --bench planner`; `BENCH_PODS` sets the number of injected pods (default 100,000).
//! Pods: 70% in Deployments of 100 (one ReplicaSet each), 25% in StatefulSets of 50, the rest in
//! DaemonSets of 20 (one pod per Node of 20), spread over 50 namespaces. Every sidecar runs Istio
//! 1.29.3 while git asks for module 1.28.0 (Istio 1.30.2) and the control plane already runs it,
//! so every workload is planned for a restart: the planner's most expensive case.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use istio_rollout::desired::{self, File, Source};
use istio_rollout::live::snapshot;
use istio_rollout::plan::{self, Options};
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Duration;

const HUB: &str = "europe-docker.pkg.dev/kyma-project/prod/external/istio";
const NAMESPACES: usize = 50;

fn pods_wanted() -> usize {
    std::env::var("BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn owner_ref(api: &str, kind: &str, name: &str, uid: &str) -> Value {
    json!([{"apiVersion": api, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}])
}

/// A pod as the injector leaves it: app container, native sidecar, validation init container.
fn pod(ns: &str, name: &str, app: &str, owner: Value, i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": ns, "uid": format!("pod-{i}"),
            "labels": {"app": app, "security.istio.io/tlsMode": "istio", "service.istio.io/canonical-name": app},
            "annotations": {
                "sidecar.istio.io/status": "{\"initContainers\":[\"istio-validation\",\"istio-proxy\"],\"containers\":null,\"volumes\":[\"istio-envoy\",\"istio-data\",\"istio-podinfo\",\"istio-token\",\"istiod-ca-cert\"],\"imagePullSecrets\":null,\"revision\":\"default\"}",
                "istio.io/rev": "default", "kubectl.kubernetes.io/default-container": "app"
            },
            "ownerReferences": owner
        },
        "spec": {
            "restartPolicy": "Always", "nodeName": format!("node-{}", i % 20),
            "initContainers": [
                {"name": "istio-validation", "image": format!("{HUB}/proxyv2:1.29.3-distroless"), "args": ["istio-iptables", "--run-validation"]},
                {"name": "istio-proxy", "image": format!("{HUB}/proxyv2:1.29.3-distroless"), "restartPolicy": "Always",
                 "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                 "env": [{"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"}, {"name": "PILOT_CERT_PROVIDER", "value": "istiod"}],
                 "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                 "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021}}}
            ],
            "containers": [
                {"name": "app", "image": "registry.example.com/app:1.0.0",
                 "resources": {"requests": {"cpu": "1m", "memory": "4Mi"}},
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}}
            ]
        },
        "status": {"phase": "Running", "podIP": format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
                   "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}]}
    })
}

fn template(app: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1.0.0",
           "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}}]}})
}

/// A `kubectl get -o json`-style List with about `n` injected pods and their owners.
pub fn live_state_json(n: usize) -> String {
    let mut items = Vec::with_capacity(n + n / 40 + 10);
    // The control plane already runs the target, so version restarts are ready to go.
    items.push(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "istiod-1", "namespace": "istio-system", "labels": {"kyma-project.io/module": "istio", "app": "istiod"}},
        "spec": {"containers": [{"name": "discovery", "image": format!("{HUB}/pilot:1.30.2-distroless")}]},
        "status": {"phase": "Running"}}));
    items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "istio-controller-manager", "namespace": "kyma-system",
                     "labels": {"app.kubernetes.io/version": "1.28.0", "kyma-project.io/module": "istio"}},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "manager", "image": "m",
                 "env": [{"name": "proxyv2", "value": format!("{HUB}/proxyv2:1.30.2-distroless")}]}]}}}}));
    let (deploy_pods, sts_pods) = (n * 70 / 100, n * 25 / 100);
    let mut i = 0;
    let mut w = 0;
    while i < deploy_pods {
        let ns = format!("ns-{:02}", w % NAMESPACES);
        let name = format!("deploy-{w}");
        let rs = format!("{name}-5d8f7c9b4");
        let replicas = 100.min(deploy_pods - i);
        items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "uid": format!("d-{w}"), "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template(&name)},
            "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}}));
        items.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs, "namespace": ns, "uid": format!("rs-{w}"),
                         "annotations": {"deployment.kubernetes.io/revision": "1"},
                         "ownerReferences": owner_ref("apps/v1", "Deployment", &name, &format!("d-{w}"))},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template(&name)},
            "status": {"replicas": replicas, "readyReplicas": replicas}}));
        for p in 0..replicas {
            let owner = owner_ref("apps/v1", "ReplicaSet", &rs, &format!("rs-{w}"));
            items.push(pod(&ns, &format!("{rs}-{p:05}"), &name, owner, i));
            i += 1;
        }
        w += 1;
    }
    while i < deploy_pods + sts_pods {
        let ns = format!("ns-{:02}", w % NAMESPACES);
        let name = format!("sts-{w}");
        let replicas = 50.min(deploy_pods + sts_pods - i);
        items.push(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": ns, "uid": format!("s-{w}"), "generation": 1},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "updateStrategy": {"type": "RollingUpdate"}, "template": template(&name)},
            "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas,
                       "currentRevision": format!("{name}-1"), "updateRevision": format!("{name}-1")}}));
        for p in 0..replicas {
            let owner = owner_ref("apps/v1", "StatefulSet", &name, &format!("s-{w}"));
            items.push(pod(&ns, &format!("{name}-{p}"), &name, owner, i));
            i += 1;
        }
        w += 1;
    }
    while i < n {
        let ns = format!("ns-{:02}", w % NAMESPACES);
        let name = format!("ds-{w}");
        let count = 20.min(n - i);
        items.push(json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": ns, "uid": format!("ds-{w}"), "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": name}}, "updateStrategy": {"type": "RollingUpdate"}, "template": template(&name)},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": count, "currentNumberScheduled": count,
                       "updatedNumberScheduled": count, "numberAvailable": count, "numberReady": count, "numberMisscheduled": 0}}));
        for p in 0..count {
            let owner = owner_ref("apps/v1", "DaemonSet", &name, &format!("ds-{w}"));
            items.push(pod(&ns, &format!("{name}-{p:05}"), &name, owner, i));
            i += 1;
        }
        w += 1;
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn desired_state() -> desired::Desired {
    let cr = "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata:\n  name: default\n  namespace: kyma-system\nspec: {}\n";
    let files = vec![
        File {
            path: "istio/cr.yaml".into(),
            contents: cr.as_bytes().to_vec(),
        },
        File {
            path: "istio/ISTIO_MODULE_VERSION".into(),
            contents: b"1.28.0\n".to_vec(),
        },
    ];
    let source = Source {
        repo: "bench".into(),
        reference: "main".into(),
        commit: "0".repeat(40),
        path: "istio".into(),
    };
    desired::parse(source, &files, &desired::Options::default()).expect("the desired state parses")
}

fn benches(c: &mut Criterion) {
    let n = pods_wanted();
    let text = live_state_json(n);
    let desired = desired_state();
    let live = snapshot::parse("bench", &text).expect("the synthetic live state parses");
    let opts = Options::default();
    let once = plan::plan(&desired, &live, &opts);
    let restarts = once
        .workloads
        .iter()
        .filter(|w| w.action == plan::Action::Restart)
        .count();
    eprintln!(
        "planner bench: {} pods, {} owners, {} MiB of JSON; the plan has {} entries, {restarts} restarts",
        live.pods.len(),
        live.owners.len(),
        text.len() >> 20,
        once.workloads.len()
    );
    assert!(restarts > 0, "the synthetic cluster must need restarts");

    let mut g = c.benchmark_group("planner");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_with_input(BenchmarkId::new("plan", n), &live, |b, live| {
        b.iter(|| plan::plan(black_box(&desired), black_box(live), &opts))
    });
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_with_input(BenchmarkId::new("parse_live_state", n), &text, |b, text| {
        b.iter(|| snapshot::parse("bench", black_box(text)).expect("parses"))
    });
    g.finish();
}

criterion_group!(planner, benches);
criterion_main!(planner);

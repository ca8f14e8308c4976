//! Every owner kind on the real control plane with the simulated Istio: what `plan` decides for
//! each, what `apply` does, and that the restarted and evicted pods really carry the new sidecar,
//! native or regular as before.

use crate::common::cli::istio_rollout;
use crate::common::repo::TestRepo;
use crate::support;
use crate::support::{create, own};
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

fn template(app: &str, annotations: Value) -> Value {
    json!({"metadata": {"labels": {"app": app}, "annotations": annotations},
           "spec": {"containers": [{"name": "app", "image": "example/app:1"}]}})
}

fn run(kc: &std::path::Path, repo: &TestRepo, args: &[&str]) -> (i32, Value) {
    let out = istio_rollout()
        .args(args)
        .args([
            "--repo",
            repo.path().to_str().unwrap(),
            "--path",
            "istio",
            "-o",
            "json",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

fn by_name(v: &Value, field: &str) -> BTreeMap<String, (String, String)> {
    own(v)
        .into_iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_string(),
                (
                    w["kind"].as_str().unwrap().to_string(),
                    w[field].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_owner_kind() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("kinds", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    let regular = json!({"sidecar.istio.io/nativeSidecar": "false"});
    let dep = |name: &str, extra: Value, annotations: Value| {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template(name, annotations)}});
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                d["spec"][k] = v;
            }
        }
        d
    };
    create(&client, &n, dep("native", json!({}), json!({}))).await;
    create(&client, &n, dep("regular", json!({}), regular.clone())).await;
    create(&client, &n, dep("paused", json!({}), json!({}))).await;
    create(&client, &n, dep("custom", json!({}), json!({"sidecar.istio.io/proxyImage": "registry.example/custom/proxyv2:1.29.3-patched"}))).await;
    for (name, strategy) in [("sts-ru", "RollingUpdate"), ("sts-od", "OnDelete")] {
        create(
            &client,
            &n,
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": 2, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "updateStrategy": {"type": strategy}, "template": template(name, json!({}))}}),
        )
        .await;
    }
    create(&client, &n, json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"},
        "spec": {"selector": {"matchLabels": {"app": "ds"}}, "template": template("ds", regular.clone())}})).await;
    create(&client, &n, json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "lonely"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "lonely"}}, "template": template("lonely", json!({}))}})).await;
    create(
        &client,
        &n,
        json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
        "spec": {"replicas": 1, "selector": {"app": "rc"}, "template": template("rc", json!({}))}}),
    )
    .await;
    create(&client, &n, json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": "example/job:1"}]}}}})).await;
    create(&client, &n, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "labels": {"app": "bare"}},
        "spec": {"containers": [{"name": "app", "image": "example/tool:1"}]}})).await;

    let pods = Api::<Pod>::namespaced(client.clone(), &n);
    // 2 native + 2 regular + 2 paused + 2 custom + 4 sts + ds (one per Node) + 2 lonely + 1 rc + 1 bare; the Job's pod completes.
    wait::until("every pod running", Duration::from_secs(90), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default()).await?;
            let running = list
                .items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .count();
            Ok((running >= 17).then_some(()))
        }
    })
    .await
    .unwrap();

    // Paused after its pods run (a Deployment created paused never makes pods).
    let deployments = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), &n);
    let pause = kube::api::Patch::Merge(json!({"spec": {"paused": true}}));
    deployments
        .patch("paused", &kube::api::PatchParams::default(), &pause)
        .await
        .unwrap();
    support::upgrade(&sim).await;
    let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");
    let kc = cluster.kubeconfig_path();
    let ns_flag = ["--namespace", n.as_str()];

    let (code, plan) = run(kc, &repo, &[&["plan"][..], &ns_flag].concat());
    assert_eq!(code, 1);
    let expected: BTreeMap<String, (String, String)> = [
        ("native", "Deployment", "restart"),
        ("regular", "Deployment", "restart"),
        ("paused", "Deployment", "blocked"),
        ("sts-ru", "StatefulSet", "restart"),
        ("sts-od", "StatefulSet", "evict"),
        ("ds", "DaemonSet", "restart"),
        ("lonely", "ReplicaSet", "evict"),
        ("rc", "ReplicationController", "evict"),
        ("bare", "Pod", "manual"),
    ]
    .iter()
    .map(|(n, k, a)| (n.to_string(), (k.to_string(), a.to_string())))
    .collect();
    let mut planned = by_name(&plan, "action");
    // The custom proxy image is skipped, which `own` leaves out with the other skips.
    assert!(
        plan["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "custom" && w["action"] == "skip"),
        "{plan:#}"
    );
    planned.remove("custom");
    assert_eq!(planned, expected, "{plan:#}");

    let (code, report) = run(
        kc,
        &repo,
        &[
            &["apply", "--max-concurrent", "4", "--timeout", "3m"][..],
            &ns_flag,
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{report:#}");
    let done: BTreeMap<String, String> = by_name(&report, "result")
        .into_iter()
        .map(|(k, (_, r))| (k, r))
        .collect();
    for (name, result) in [
        ("native", "restarted"),
        ("regular", "restarted"),
        ("sts-ru", "restarted"),
        ("ds", "restarted"),
        ("sts-od", "evicted"),
        ("lonely", "evicted"),
        ("rc", "evicted"),
        ("paused", "blocked"),
        ("bare", "manual"),
    ] {
        assert_eq!(
            done.get(name).map(String::as_str),
            Some(result),
            "{name}: {report:#}"
        );
    }

    // What remains is what needs a person; the rest really runs the new sidecar, in the same form.
    let (_, after) = run(kc, &repo, &[&["plan"][..], &ns_flag].concat());
    let left: Vec<String> = by_name(&after, "action").into_keys().collect();
    assert_eq!(left, vec!["bare", "paused"], "{after:#}");
    for p in pods.list(&ListParams::default()).await.unwrap().items {
        let app = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .cloned()
            .unwrap_or_default();
        if ["bare", "paused", "custom", ""].contains(&app.as_str())
            || p.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let spec = p.spec.unwrap();
        let native = spec
            .init_containers
            .iter()
            .flatten()
            .find(|c| c.name == "istio-proxy");
        let regular = spec.containers.iter().find(|c| c.name == "istio-proxy");
        let image = native
            .or(regular)
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        assert!(image.contains(":1.30.2"), "{app}: {image}");
        let want_regular = app == "regular" || app == "ds";
        assert_eq!(
            regular.is_some(),
            want_regular,
            "{app}: sidecar form changed"
        );
    }
}

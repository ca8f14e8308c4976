//! `apply` against a real API server with the simulated Istio module: restarts really replace
//! old sidecars, evictions go one pod at a time, and planning again afterwards is empty.

use crate::common::cli::istio_rollout;
use crate::common::repo::TestRepo;
use crate::support;
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

fn run(
    kubeconfig: &std::path::Path,
    repo: &TestRepo,
    command: &str,
    extra: &[&str],
) -> (i32, Value, String) {
    let out = istio_rollout()
        .args([
            command,
            "--repo",
            repo.path().to_str().unwrap(),
            "--path",
            "istio",
            "-o",
            "json",
        ])
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), json, stderr)
}

async fn proxy_images(client: &kube::Client, ns: &str, label: &str) -> Vec<String> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(label))
        .await
        .unwrap();
    pods.items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .flat_map(|p| {
            let spec = p.spec.as_ref().unwrap();
            spec.containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .filter(|c| c.name == "istio-proxy")
                .filter_map(|c| c.image.clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_restarts_and_evicts_then_plan_is_empty() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("apply", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();

    support::create_deployment(&client, &n, "web", 2).await;
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "updateStrategy": {"type": "OnDelete"},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "app", "image": "example/db:1"}]}}}
    }))
    .unwrap();
    Api::<StatefulSet>::namespaced(client.clone(), &n)
        .create(&PostParams::default(), &sts)
        .await
        .unwrap();
    wait::deployment_rollout(&client, &n, "web", Duration::from_secs(60))
        .await
        .unwrap();
    wait::until("db ready", Duration::from_secs(60), || {
        let api = Api::<StatefulSet>::namespaced(client.clone(), &n);
        async move {
            let s = api.get("db").await?;
            Ok((s.status.and_then(|s| s.ready_replicas).unwrap_or(0) >= 2).then_some(()))
        }
    })
    .await
    .unwrap();
    assert!(
        proxy_images(&client, &n, "app=web")
            .await
            .iter()
            .all(|i| i.contains(":1.29.3"))
    );

    support::upgrade(&sim).await;
    let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");
    // The tool runs as the ServiceAccount bound by manifests/base, with exactly that ClusterRole.
    support::apply_dir(
        &client,
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/base"),
    )
    .await;
    let kc_file = cluster
        .kubeconfig_as("istio-rollout", "istio-rollout", repo.path())
        .await
        .unwrap();
    let kc = kc_file.as_path();

    let (code, before, _) = run(kc, &repo, "plan", &["--namespace", &n]);
    assert_eq!(code, 1);
    let actions: Vec<(&str, &str)> = support::own(&before)
        .into_iter()
        .map(|w| (w["name"].as_str().unwrap(), w["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, vec![("web", "restart"), ("db", "evict")]);

    let (code, report, stderr) = run(kc, &repo, "apply", &["--namespace", &n, "--timeout", "2m"]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let results: Vec<(&str, &str)> = support::own(&report)
        .into_iter()
        .map(|w| (w["name"].as_str().unwrap(), w["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        vec![("web", "restarted"), ("db", "evicted")],
        "{report:#}"
    );
    assert_eq!(report["remaining"]["pending"], false, "{report:#}");

    // The restarted and evicted pods really carry the new sidecar.
    for label in ["app=web", "app=db"] {
        let images = proxy_images(&client, &n, label).await;
        assert_eq!(images.len(), 2, "{label}: {images:?}");
        assert!(
            images.iter().all(|i| i.contains(":1.30.2")),
            "{label}: {images:?}"
        );
    }
    let d = Api::<Deployment>::namespaced(client.clone(), &n)
        .get("web")
        .await
        .unwrap();
    let annotations = d
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap();
    assert_eq!(
        annotations["istio-rollout/restarted-for"],
        "istio-version=1.30.2"
    );
    assert!(!annotations.contains_key("kubectl.kubernetes.io/restartedAt"));

    // Level-triggered: planning again is empty, and applying again changes nothing.
    let (code, after, _) = run(kc, &repo, "plan", &["--namespace", &n]);
    assert_eq!(code, 0, "{after:#}");
    let generation = Api::<Deployment>::namespaced(client.clone(), &n)
        .get("web")
        .await
        .unwrap()
        .metadata
        .generation;
    let (code, again, _) = run(kc, &repo, "apply", &["--namespace", &n]);
    assert_eq!(code, 0);
    assert!(support::own(&again).is_empty(), "{again:#}");
    let generation_after = Api::<Deployment>::namespaced(client.clone(), &n)
        .get("web")
        .await
        .unwrap()
        .metadata
        .generation;
    assert_eq!(generation, generation_after, "nothing restarted twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_permission_is_named() {
    let cluster = Cluster::shared();
    let ns = cluster.namespace("rbac", false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A ServiceAccount with no permissions at all.
    let kc = cluster
        .kubeconfig_as(ns.name(), "nobody", dir.path())
        .await
        .unwrap();
    let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");
    let out = istio_rollout()
        .args([
            "plan",
            "--repo",
            repo.path().to_str().unwrap(),
            "--path",
            "istio",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("list istios.operator.kyma-project.io (all namespaces): forbidden (403)"),
        "{stderr}"
    );
    assert!(stderr.contains("grant this permission"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

//! `apply`'s safety limits on the real control plane: the concurrency limit, and evictions that a
//! PodDisruptionBudget blocks until it allows one.

use crate::common::cli::istio_rollout;
use crate::common::repo::TestRepo;
use crate::support;
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

fn apply_command(
    kubeconfig: &std::path::Path,
    repo: &TestRepo,
    ns: &str,
    extra: &[&str],
) -> tokio::process::Command {
    let mut c = tokio::process::Command::from(istio_rollout());
    c.args([
        "apply",
        "--repo",
        repo.path().to_str().unwrap(),
        "--path",
        "istio",
        "-o",
        "json",
        "--namespace",
        ns,
    ])
    .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
    .args(extra)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    c
}

fn rolling(d: &Deployment) -> bool {
    let s = d.status.clone().unwrap_or_default();
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    d.metadata.generation.unwrap_or(0) > s.observed_generation.unwrap_or(0)
        || s.updated_replicas.unwrap_or(0) < want
        || s.replicas.unwrap_or(0) > s.updated_replicas.unwrap_or(0)
        || s.available_replicas.unwrap_or(0) < s.updated_replicas.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn max_concurrent_bounds_the_rollouts_under_way() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("concurrency", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    let api = Api::<Deployment>::namespaced(client.clone(), &n);
    let names: Vec<String> = (0..6).map(|i| format!("svc-{i}")).collect();
    for name in &names {
        api.create(&PostParams::default(), &support::deployment(name, 1))
            .await
            .unwrap();
    }
    for name in &names {
        wait::deployment_rollout(&client, &n, name, Duration::from_secs(60))
            .await
            .unwrap();
    }
    support::upgrade(&sim).await;
    let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");

    let child = apply_command(
        cluster.kubeconfig_path(),
        &repo,
        &n,
        &["--max-concurrent", "2"],
    )
    .spawn()
    .unwrap();
    let watcher = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut max_seen = 0;
            let mut seen_any = false;
            for _ in 0..1200 {
                let list = api.list(&ListParams::default()).await.unwrap();
                let now = list.items.iter().filter(|d| rolling(d)).count();
                max_seen = max_seen.max(now);
                seen_any |= now > 0;
                let done = list.items.iter().all(|d| {
                    d.spec
                        .as_ref()
                        .and_then(|s| s.template.metadata.as_ref())
                        .and_then(|m| m.annotations.as_ref())
                        .is_some_and(|a| a.contains_key("istio-rollout/restarted-for"))
                }) && now == 0;
                if done {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (max_seen, seen_any)
        })
    };
    let report = support::succeeded(child).await;
    let (max_seen, seen_any) = watcher.await.unwrap();
    assert_eq!(support::own(&report).len(), 6);
    assert!(
        support::own(&report)
            .into_iter()
            .all(|w| w["result"] == "restarted"),
        "{report:#}"
    );
    assert!(seen_any, "the watcher saw no rollout at all");
    assert!(
        max_seen <= 2,
        "{max_seen} rollouts were under way at once with --max-concurrent 2"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pdb_blocks_evictions_until_it_allows_one() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("pdb", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
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
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}
    }))
    .unwrap();
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), &n);
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    wait::until(
        "the disruption controller to fill the PDB status",
        Duration::from_secs(60),
        || {
            let pdbs = pdbs.clone();
            async move {
                let p = pdbs.get("db").await?;
                Ok(p.status
                    .filter(|s| s.current_healthy == 2 && s.disruptions_allowed == 0)
                    .map(|_| ()))
            }
        },
    )
    .await
    .unwrap();
    support::upgrade(&sim).await;
    let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");
    let pods = Api::<Pod>::namespaced(client.clone(), &n);
    let uid = |p: Pod| p.metadata.uid.unwrap();
    let before = uid(pods.get("db-0").await.unwrap());

    let child = apply_command(cluster.kubeconfig_path(), &repo, &n, &["--timeout", "90s"])
        .spawn()
        .unwrap();
    // While the budget allows no disruption, no pod goes.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        uid(pods.get("db-0").await.unwrap()),
        before,
        "evicted although the PDB allowed no disruption"
    );
    // Once it allows one, the evictions go through, one at a time.
    pdbs.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
    )
    .await
    .unwrap();
    let report = support::succeeded(child).await;
    assert_eq!(support::own(&report)[0]["result"], "evicted", "{report:#}");
    assert_ne!(uid(pods.get("db-0").await.unwrap()), before);
}

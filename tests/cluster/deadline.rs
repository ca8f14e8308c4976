//! A rollout that exceeds its progress deadline fails that workload only; the others go on.
//! It fills every simulated Node with one pod of the stuck workload; it holds `cluster.sim()`, so
//! no other test that makes pods runs meanwhile.

use crate::common::cli::istio_rollout;
use crate::support;
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn progress_deadline_fails_only_that_workload() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("deadline", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len();
    let api = Api::<Deployment>::namespaced(client.clone(), &n);
    // One pod per Node and no room to surge: a restart can never make progress.
    let stuck: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "stuck"},
        "spec": {"replicas": nodes, "progressDeadlineSeconds": 5,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "selector": {"matchLabels": {"app": "stuck"}},
                 "template": {"metadata": {"labels": {"app": "stuck"}},
                              "spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                                          {"labelSelector": {"matchLabels": {"app": "stuck"}}, "topologyKey": "kubernetes.io/hostname"}]}},
                                       "containers": [{"name": "app", "image": "example/app:1"}]}}}
    }))
    .unwrap();
    let fine: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "fine"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "fine"}},
                 "template": {"metadata": {"labels": {"app": "fine"}}, "spec": {"containers": [{"name": "app", "image": "example/app:1"}]}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &stuck).await.unwrap();
    api.create(&PostParams::default(), &fine).await.unwrap();
    wait::deployment_rollout(&client, &n, "stuck", Duration::from_secs(60))
        .await
        .unwrap();
    wait::deployment_rollout(&client, &n, "fine", Duration::from_secs(60))
        .await
        .unwrap();
    support::upgrade(&sim).await;

    let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");
    let out = istio_rollout()
        .args([
            "apply",
            "--repo",
            repo.path().to_str().unwrap(),
            "--path",
            "istio",
            "-o",
            "json",
            "--namespace",
            &n,
        ])
        .args([
            "--kubeconfig",
            cluster.kubeconfig_path().to_str().unwrap(),
            "--timeout",
            "90s",
            "--log-format",
            "json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{report:#}");
    let result = |name: &str| {
        report["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .map(|w| (w["result"].clone(), w["message"].clone()))
            .unwrap()
    };
    let (stuck_result, stuck_message) = result("stuck");
    assert_eq!(stuck_result, "failed", "{report:#}");
    assert!(
        stuck_message
            .as_str()
            .unwrap()
            .contains("progress deadline exceeded"),
        "{report:#}"
    );
    assert_eq!(result("fine").0, "restarted", "{report:#}");

    // A Job's logs tell each outcome as it happens: one JSON line per workload, n of M.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let outcomes: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("workload ") && m.ends_with(" done"))
        })
        .collect();
    assert_eq!(outcomes.len(), 2, "{stderr}");
    let mut ns_seen: Vec<u64> = outcomes
        .iter()
        .map(|l| l["fields"]["n"].as_u64().unwrap())
        .collect();
    ns_seen.sort();
    assert_eq!(ns_seen, [1, 2], "{stderr}");
    let stuck_line = outcomes
        .iter()
        .find(|l| {
            l["fields"]["workload"]
                .as_str()
                .unwrap()
                .ends_with("/stuck")
        })
        .unwrap_or_else(|| panic!("no line for stuck: {stderr}"));
    assert_eq!(stuck_line["level"], "WARN", "{stuck_line}");
    assert_eq!(stuck_line["fields"]["result"], "failed", "{stuck_line}");
    assert_eq!(stuck_line["fields"]["of"], 2, "{stuck_line}");
    assert!(stuck_line["fields"]["seconds"].as_f64().unwrap() > 0.0);
    assert!(
        stuck_line["fields"]["note"]
            .as_str()
            .unwrap()
            .contains("progress deadline exceeded"),
        "{stuck_line}"
    );

    // ... and the failure is a Warning Event on the workload (the scheduler's own Warnings about
    // the pods that find no room are not ours).
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &n);
    let warnings: Vec<_> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reporting_controller.as_deref() == Some("istio-rollout")
        })
        .map(|e| {
            (
                e.regarding.and_then(|r| r.name).unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let (name, reason, note) = &warnings[0];
    assert_eq!((name.as_str(), reason.as_str()), ("stuck", "RestartFailed"));
    assert!(note.contains("progress deadline exceeded"), "{note}");
}

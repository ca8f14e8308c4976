//! The cluster reader against a real API server with the simulated Istio module: `plan` reads
//! the cluster, and `snapshot` writes a file that plans the same.

use crate::common::cli::istio_rollout;
use crate::common::repo::TestRepo;
use crate::support;
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

fn plan_json(kubeconfig: &std::path::Path, repo: &TestRepo, extra: &[&str]) -> (i32, Value) {
    let out = istio_rollout()
        .args([
            "plan",
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
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "stderr: {stderr}");
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_reads_the_cluster_and_snapshot_round_trips() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("read", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();

    support::create_deployment(&client, &n, "web", 2).await;
    let bare: Pod = serde_json::from_value(json!({
        "metadata": {"name": "bare"},
        "spec": {"containers": [{"name": "app", "image": "example/tool:1"}]}
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), &n)
        .create(&PostParams::default(), &bare)
        .await
        .unwrap();
    wait::deployment_rollout(&client, &n, "web", Duration::from_secs(60))
        .await
        .unwrap();

    // The operator upgraded the control plane; the sidecars still run the old proxy.
    support::upgrade(&sim).await;

    let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");
    let kubeconfig = cluster.kubeconfig_path();
    let (code, plan) = plan_json(kubeconfig, &repo, &["--namespace", &n]);
    assert_eq!(code, 1, "{plan:#}");
    assert_eq!(plan["versions"]["live"]["istio"], "1.30.2");
    assert_eq!(plan["control_plane"]["ready"], true);
    let entries: Vec<(String, String, String)> = plan["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["namespace"] == n.as_str())
        .map(|w| {
            (
                w["kind"].as_str().unwrap().into(),
                w["name"].as_str().unwrap().into(),
                w["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("Deployment".into(), "web".into(), "restart".into()),
            ("Pod".into(), "bare".into(), "manual".into())
        ]
    );
    let web = plan["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "web")
        .unwrap();
    assert_eq!(web["reasons"], json!(["istio-version"]));
    assert_eq!(web["pods"].as_array().unwrap().len(), 2);

    // A snapshot plans exactly like the cluster it was taken from.
    let snap = istio_rollout()
        .args(["snapshot", "--kubeconfig", kubeconfig.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        snap.status.success(),
        "{}",
        String::from_utf8_lossy(&snap.stderr)
    );
    let file = repo.path().join("live.yaml");
    std::fs::write(&file, &snap.stdout).unwrap();
    let from_file = istio_rollout()
        .args([
            "plan",
            "--repo",
            repo.path().to_str().unwrap(),
            "--path",
            "istio",
            "-o",
            "json",
            "--namespace",
            &n,
        ])
        .args(["--live-state", file.to_str().unwrap()])
        .output()
        .unwrap();
    let from_file: Value = serde_json::from_slice(&from_file.stdout).unwrap();
    assert_eq!(from_file, plan);

    // The Namespace labels come from the cluster (list namespaces) and from the snapshot alike.
    let actions = |p: &Value| -> Vec<String> {
        p["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["namespace"] == n.as_str())
            .map(|w| w["action"].as_str().unwrap().to_string())
            .collect()
    };
    let live_file = ["--live-state", file.to_str().unwrap()];
    for (selector, want) in [
        ("istio-injection=enabled", vec!["restart", "manual"]),
        // Not selected: not in the plan at all, only counted (summary.left_out).
        ("istio-injection in (disabled)", vec![]),
    ] {
        let args = ["-n", &n, "--namespace-selector", selector];
        let (_, from_cluster) = plan_json(kubeconfig, &repo, &args);
        assert_eq!(
            actions(&from_cluster),
            want,
            "--namespace-selector {selector}"
        );
        if want.is_empty() {
            assert_eq!(from_cluster["summary"]["left_out"], 2, "{from_cluster:#}");
        }
        let out = istio_rollout()
            .args([
                "plan",
                "--repo",
                repo.path().to_str().unwrap(),
                "--path",
                "istio",
                "-o",
                "json",
            ])
            .args(args)
            .args(live_file)
            .output()
            .unwrap();
        let from_snapshot: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            from_snapshot, from_cluster,
            "--namespace-selector {selector} from the snapshot"
        );
    }
    // -l on the workloads' labels: a key nobody has selects nothing, its absence everything.
    let (_, none) = plan_json(kubeconfig, &repo, &["-n", &n, "-l", "no-such-label"]);
    assert!(actions(&none).is_empty(), "{none:#}");
    assert_eq!(none["summary"]["left_out"], 2, "{none:#}");
    let (_, all) = plan_json(kubeconfig, &repo, &["-n", &n, "-l", "!no-such-label"]);
    assert_eq!(actions(&all), ["restart", "manual"]);

    // snapshot -n: only that namespace's workloads, besides the control plane's.
    let snap = istio_rollout()
        .args([
            "snapshot",
            "-n",
            &n,
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        snap.status.success(),
        "{}",
        String::from_utf8_lossy(&snap.stderr)
    );
    let text = String::from_utf8(snap.stdout).unwrap();
    let docs = crate::common::manifests::yaml_docs(&text, "snapshot -n");
    for d in &docs {
        if let Some(ns) = d["metadata"]["namespace"].as_str() {
            assert!(
                [n.as_str(), "istio-system", "kyma-system"].contains(&ns),
                "snapshot -n {n} wrote {} {ns}/{}",
                d["kind"],
                d["metadata"]["name"]
            );
        }
    }
    assert!(docs.iter().any(|d| d["kind"] == "Namespace"));
    std::fs::write(&file, &text).unwrap();
    let narrow = istio_rollout()
        .args([
            "plan",
            "--repo",
            repo.path().to_str().unwrap(),
            "--path",
            "istio",
            "-o",
            "json",
            "-n",
            &n,
        ])
        .args(live_file)
        .output()
        .unwrap();
    let narrow: Value = serde_json::from_slice(&narrow.stdout).unwrap();
    assert_eq!(
        narrow, plan,
        "a snapshot of one namespace plans it as the cluster does"
    );
}

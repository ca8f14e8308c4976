//! The pre-sync gate on the real control plane: the command of the Argo CD PreSync Job
//! (manifests/argocd-presync), run as the gate's ServiceAccount with only the read-only role,
//! before a module upgrade (git asks for module 1.30.0 / Istio 1.30.2, the cluster runs 1.27.4 /
//! 1.29.3). It refuses while one-replica Deployments would go down (Recreate, maxUnavailable 1),
//! or, with
//! `--fail-on manual`, while a bare pod has a sidecar; it passes once they are safe, and an
//! override lets it pass and is recorded.

use crate::common::cli::istio_rollout;
use crate::common::manifests::*;
use crate::manifests::jobs::job_command;
use crate::manifests::{GATE_NAMESPACE, GATE_SERVICE_ACCOUNT, apply_gate};
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// The gate Job's command as its manifest says (arguments, environment), with the repository
/// pointed at this checkout (its HEAD holds examples/gitops/istio), only namespace `ns` planned,
/// JSON output, and `extra` arguments and environment.
pub(crate) fn gate(
    kubeconfig: &Path,
    tmp: &Path,
    ns: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, Value, String) {
    let mut cmd = job_command("argocd-presync", tmp);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["--namespace", ns, "-o", "json", "--kubeconfig"])
        .arg(kubeconfig)
        .args(extra);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let plan: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {stderr}\n{}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), plan, stderr)
}

/// `(condition, [workload names])` of the conditions that fail the run.
fn tripped(plan: &Value) -> Vec<(String, Vec<String>)> {
    plan["gate"]["found"]
        .as_array()
        .expect("the plan has a gate")
        .iter()
        .filter(|f| f["fails"] == true)
        .map(|f| {
            let names = f["workloads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| {
                    format!(
                        "{} {}",
                        w["kind"].as_str().unwrap(),
                        w["name"].as_str().unwrap()
                    )
                })
                .collect();
            (f["condition"].as_str().unwrap().to_string(), names)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gate_refuses_an_unsafe_upgrade_and_passes_a_safe_one() {
    let cluster = Cluster::shared();
    // The plan depends on the simulated Istio's versions: hold it at its defaults (1.27.4).
    let _sim = cluster.sim().await.unwrap();
    let client = cluster.client().await.unwrap();
    apply_gate(&client).await;
    let ns = cluster.namespace("gate", true).await.unwrap();
    let n = ns.name().to_string();
    let deployments = Api::<Deployment>::namespaced(client.clone(), &n);
    let mut single = crate::support::deployment("single", 1);
    single.spec.as_mut().unwrap().strategy =
        Some(serde_json::from_value(json!({"type": "Recreate"})).unwrap());
    deployments
        .create(&PostParams::default(), &single)
        .await
        .unwrap();
    // One replica that may go before its replacement is ready (maxUnavailable 1, although it
    // surges): only maxUnavailable, as the API server returns it, tells.
    let mut may_drop = crate::support::deployment("may-drop", 1);
    may_drop.spec.as_mut().unwrap().strategy = Some(
        serde_json::from_value(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}),
        )
        .unwrap(),
    );
    deployments
        .create(&PostParams::default(), &may_drop)
        .await
        .unwrap();
    deployments
        .create(
            &PostParams::default(),
            &crate::support::deployment("pair", 2),
        )
        .await
        .unwrap();
    for name in ["single", "may-drop", "pair"] {
        wait::deployment_rollout(&client, &n, name, Duration::from_secs(60))
            .await
            .unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = cluster
        .kubeconfig_as(GATE_NAMESPACE, GATE_SERVICE_ACCOUNT, tmp.path())
        .await
        .unwrap();

    // Unsafe: the Recreate Deployment and the one that may drop its pod would go down when the
    // operator restarts them.
    let (code, plan, stderr) = gate(&kubeconfig, tmp.path(), &n, &[], &[]);
    assert_eq!(code, 5, "{plan:#}\n{stderr}");
    assert_eq!(
        tripped(&plan),
        [(
            "unavailable".to_string(),
            vec![
                "Deployment may-drop".to_string(),
                "Deployment single".to_string()
            ]
        )],
        "{plan:#}"
    );
    assert_eq!(plan["gate"]["refused"], true);
    assert_eq!(
        plan["gate"]["found"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["condition"] == "unavailable")
            .unwrap()["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["why"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [
            "1 replica, maxSurge 1 and maxUnavailable 1: no pod has to stay available while it restarts",
            "strategy Recreate: its only pod goes down before the new one starts"
        ]
    );

    // A snapshot taken with the same role carries what the gate judges (strategy, maxSurge,
    // maxUnavailable): planning from it refuses the same workloads.
    let snapshot = istio_rollout()
        .arg("snapshot")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert!(
        snapshot.status.success(),
        "{}",
        String::from_utf8_lossy(&snapshot.stderr)
    );
    let live = tmp.path().join("live.yaml");
    std::fs::write(&live, &snapshot.stdout).unwrap();
    let from_file = istio_rollout()
        .args(["plan", "--path", "examples/gitops/istio", "-o", "json"])
        .args(["--namespace", &n, "--fail-on", "unavailable", "--repo"])
        .arg(repo())
        .arg("--live-state")
        .arg(&live)
        .output()
        .unwrap();
    let from_file_plan: Value = serde_json::from_slice(&from_file.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&from_file.stderr)));
    assert_eq!(from_file.status.code(), Some(5), "{from_file_plan:#}");
    assert_eq!(tripped(&from_file_plan), tripped(&plan));

    // Overridden: exit 0, recorded.
    let reason = "downtime of single and may-drop accepted (test)";
    let (code, plan, _) = gate(
        &kubeconfig,
        tmp.path(),
        &n,
        &[],
        &[(istio_rollout::cli::GATE_OVERRIDE_ENV, reason)],
    );
    assert_eq!(code, 0, "{plan:#}");
    assert_eq!(
        plan["gate"]["override"],
        json!({"by": istio_rollout::cli::GATE_OVERRIDE_ENV, "reason": reason})
    );

    // Made safe (rolling updates that surge): the same upgrade passes, restarts still pending.
    for (name, strategy) in [
        ("single", json!({"type": "RollingUpdate"})),
        (
            "may-drop",
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
        ),
    ] {
        deployments
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"strategy": strategy}})),
            )
            .await
            .unwrap();
        wait::deployment_rollout(&client, &n, name, Duration::from_secs(60))
            .await
            .unwrap();
    }
    let (code, plan, stderr) = gate(&kubeconfig, tmp.path(), &n, &[], &[]);
    assert_eq!(code, 0, "{plan:#}\n{stderr}");
    assert_eq!(tripped(&plan), []);
    assert_eq!(plan["gate"]["refused"], false);
    assert_eq!(
        plan["summary"]["pending"], true,
        "the restarts are still to come"
    );

    // A bare pod with a sidecar: only `manual` refuses it.
    let pods = Api::<Pod>::namespaced(client.clone(), &n);
    let bare: Pod = serde_json::from_value(json!({
        "metadata": {"name": "debug", "labels": {"app": "debug"}},
        "spec": {"containers": [{"name": "app", "image": "example/app:1"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &bare).await.unwrap();
    wait::until(
        "the bare pod to run with a sidecar",
        Duration::from_secs(60),
        || {
            let pods = pods.clone();
            async move {
                let p = pods.get("debug").await?;
                let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                let injected = p
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("sidecar.istio.io/status"));
                Ok((running && injected).then_some(()))
            }
        },
    )
    .await
    .unwrap();
    let (code, plan, _) = gate(&kubeconfig, tmp.path(), &n, &[], &[]);
    assert_eq!(
        code, 0,
        "the manifest's conditions leave manual out: {plan:#}"
    );
    let (code, plan, _) = gate(&kubeconfig, tmp.path(), &n, &["--fail-on", "manual"], &[]);
    assert_eq!(code, 5, "{plan:#}");
    assert_eq!(
        tripped(&plan),
        [("manual".to_string(), vec!["Pod debug".to_string()])],
        "{plan:#}"
    );
    pods.delete("debug", &DeleteParams::default())
        .await
        .unwrap();
}

//! One runner at a time: `apply` holds the Lease `kyma-system/istio-rollout` (manifests/base
//! grants it) while it acts. Another holder's live Lease makes it give up with exit 6 or wait;
//! an expired one is taken over; the Lease is released when the run ends. Two applies started
//! together are the chaos suite's scenario (e).
//!
//! The tests hold the simulation (`cluster.sim()`): they share the one Lease of the cluster.

use crate::common::cli::istio_rollout;
use crate::support;
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const LEASE_NS: &str = "kyma-system";
const LEASE: &str = "istio-rollout";

/// Replaces the cluster's Lease with one `holder` renewed `renewed_ago` ago for `duration_s`.
async fn foreign_lease(
    client: &kube::Client,
    holder: &str,
    renewed_ago: Duration,
    duration_s: i32,
) {
    let api = Api::<Lease>::namespaced(client.clone(), LEASE_NS);
    let _ = api.delete(LEASE, &DeleteParams::default()).await;
    wait::until("the old Lease gone", Duration::from_secs(10), || {
        let api = api.clone();
        async move { Ok(api.get_opt(LEASE).await?.is_none().then_some(())) }
    })
    .await
    .unwrap();
    let at = chrono_micro(renewed_ago);
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": LEASE},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration_s,
                 "acquireTime": at, "renewTime": at, "leaseTransitions": 1}
    }))
    .unwrap();
    api.create(&PostParams::default(), &lease).await.unwrap();
}

/// A MicroTime `ago` before now, as JSON.
fn chrono_micro(ago: Duration) -> serde_json::Value {
    let t = k8s_openapi::jiff::Timestamp::now() - ago;
    serde_json::to_value(MicroTime(t)).unwrap()
}

async fn holder(client: &kube::Client) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), LEASE_NS)
        .get(LEASE)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.holder_identity)
}

fn apply(kubeconfig: &Path, repo: &Path, ns: &str, wait: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::from(istio_rollout());
    c.args(["apply", "--path", "istio", "-o", "json", "--namespace", ns])
        .args([
            "--lease",
            &format!("{LEASE_NS}/{LEASE}"),
            "--lease-wait",
            wait,
        ])
        .arg("--repo")
        .arg(repo)
        .arg("--kubeconfig")
        .arg(kubeconfig);
    c
}

async fn generation(client: &kube::Client, ns: &str, name: &str) -> i64 {
    Api::<Deployment>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap()
        .metadata
        .generation
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lease_is_waited_for_or_refused_and_an_expired_one_taken_over() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("lease", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    support::create_deployment(&client, &n, "web", 1).await;
    wait::deployment_rollout(&client, &n, "web", Duration::from_secs(60))
        .await
        .unwrap();
    support::upgrade(&sim).await;
    support::apply_dir(
        &client,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/base"),
    )
    .await;
    let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");
    // As the ServiceAccount of manifests/base: its Role is what lets it hold the Lease.
    let kc = cluster
        .kubeconfig_as("istio-rollout", "istio-rollout", repo.path())
        .await
        .unwrap();
    let before = generation(&client, &n, "web").await;

    // 1. Held by a live run: refused at once, exit 6, naming the holder; nothing restarted.
    foreign_lease(&client, "cronjob-run-1", Duration::ZERO, 60).await;
    let out = apply(&kc, repo.path(), &n, "0s").output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("Lease kyma-system/istio-rollout is held by cronjob-run-1")
            && stderr.contains("--lease-wait"),
        "{stderr}"
    );
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line on stderr: {stderr}"
    );
    assert_eq!(
        generation(&client, &n, "web").await,
        before,
        "restarted while refused"
    );
    assert_eq!(holder(&client).await.as_deref(), Some("cronjob-run-1"));

    // 2. Held, but not renewed: waited for until it expires (4 s), then taken; the run acts and
    // lets go.
    foreign_lease(&client, "hook-run-2", Duration::ZERO, 4).await;
    let started = Instant::now();
    let out = apply(&kc, repo.path(), &n, "60s").output().await.unwrap();
    let waited = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(waited >= Duration::from_secs(3), "did not wait: {waited:?}");
    assert_eq!(
        generation(&client, &n, "web").await,
        before + 1,
        "restarted once after the Lease was taken"
    );
    assert_eq!(
        holder(&client).await,
        None,
        "released after the run: {stderr}"
    );

    // 3. Expired long ago (a killed run): taken over at once, with --lease-wait 0s too.
    foreign_lease(&client, "killed-run-3", Duration::from_secs(300), 30).await;
    let out = apply(&kc, repo.path(), &n, "0s").output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lease = Api::<Lease>::namespaced(client.clone(), LEASE_NS)
        .get(LEASE)
        .await
        .unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity, None, "released");
    assert!(
        spec.lease_transitions.unwrap_or(0) >= 2,
        "taken over: {spec:?}"
    );
    let _ = Api::<Lease>::namespaced(client.clone(), LEASE_NS)
        .delete(LEASE, &DeleteParams::default())
        .await;
}

//! The operator wait's narrow read (`cluster::read_operator_view`) against the real API server:
//! a fixed number of requests however many pods the cluster runs, nothing outside the control
//! plane, and the simulated Istio's control plane in it.

use crate::support;
use istio_rollout::live::LiveState;
use istio_rollout::live::cluster::{self, PAGE_SIZE, Stats};
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use std::time::Duration;

/// Istio CRs, the module manager, control-plane pods, Deployments and DaemonSets, mesh ConfigMap.
const REQUESTS: u64 = 6;

async fn view(client: &kube::Client) -> (LiveState, Stats) {
    let mut stats = Stats::default();
    let live = cluster::read_operator_view(client, &mut stats)
        .await
        .unwrap();
    (live, stats)
}

/// Waits until the namespace holds `n` pods (the ReplicaSet controller creates them in batches).
async fn pods_in(client: &kube::Client, namespace: &str, n: usize) {
    let api = Api::<Pod>::namespaced(client.clone(), namespace);
    wait::until(
        &format!("{n} pods in {namespace}"),
        Duration::from_secs(120),
        || {
            let api = api.clone();
            async move {
                let have = api.list(&ListParams::default()).await?.items.len();
                Ok((have >= n).then_some(()))
            }
        },
    )
    .await
    .unwrap();
}

fn assert_operator_view(live: &LiveState, stats: &Stats) {
    assert_eq!(
        stats.requests - stats.retries,
        REQUESTS,
        "requests of the operator view: {stats:?}"
    );
    let outside: Vec<String> = live
        .pods
        .iter()
        .filter(|p| &*p.namespace != "istio-system")
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect();
    assert!(outside.is_empty(), "pods outside istio-system: {outside:?}");
    let owners: Vec<String> = live
        .owners
        .keys()
        .filter(|k| k.namespace != "istio-system")
        .map(|k| k.to_string())
        .collect();
    // The module manager is the only workload read outside the control plane.
    assert_eq!(
        owners,
        vec!["Deployment kyma-system/istio-controller-manager".to_string()]
    );

    // The simulated Istio at its defaults: module 1.27.4, istiod and the gateway on 1.29.3.
    let images: Vec<(&str, &str)> = live
        .control_plane
        .iter()
        .map(|c| (c.container.as_str(), c.image.as_str()))
        .collect();
    assert!(
        live.control_plane
            .iter()
            .all(|c| c.object.starts_with("Pod istio-system/")),
        "running pods, not templates: {:?}",
        live.control_plane
    );
    for (container, image) in [
        ("discovery", "/pilot:1.29.3"),
        ("istio-proxy", "/proxyv2:1.29.3"),
    ] {
        assert!(
            images
                .iter()
                .any(|(c, i)| *c == container && i.contains(image)),
            "{container} {image} in {images:?}"
        );
    }
    assert_eq!(
        live.control_plane_versions()
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>(),
        vec!["1.29.3"]
    );
    let manager = live.manager.as_ref().expect("the module manager");
    assert_eq!(
        manager.version.map(|v| v.to_string()).as_deref(),
        Some("1.27.4")
    );
    assert!(
        live.istio_cr("kyma-system", "default").is_some(),
        "the Istio CR kyma-system/default"
    );
    assert_eq!(live.status_port, Some(15020));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_view_reads_only_the_control_plane_whatever_the_pod_count() {
    let cluster = Cluster::shared();
    // Holds the simulated Istio at its defaults while this test reads it.
    let _sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("opview", false).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();

    let first = PAGE_SIZE as usize + 20;
    support::create_deployment(&client, &n, "many", first as i32).await;
    pods_in(&client, &n, first).await;
    let (live, stats) = view(&client).await;
    assert_operator_view(&live, &stats);

    // Half as many pods again: not one request more.
    let more = first + PAGE_SIZE as usize / 2;
    Api::<Deployment>::namespaced(client.clone(), &n)
        .patch(
            "many",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": more}})),
        )
        .await
        .unwrap();
    pods_in(&client, &n, more).await;
    let (again, again_stats) = view(&client).await;
    assert_operator_view(&again, &again_stats);

    // The full read, by contrast, sees them and pages through them.
    let mut full = Stats::default();
    let everything = cluster::read(&client, &mut full).await.unwrap();
    assert!(
        everything
            .pods
            .iter()
            .filter(|p| *p.namespace == *n)
            .count()
            >= more,
        "the full read sees the test pods"
    );
    assert!(full.requests > REQUESTS, "full read {full:?}");
}

//! Smoke tests of the throwaway control plane: the Kubernetes behaviour that istio-rollout
//! relies on really happens here (rollouts, PDB status, evictions, RBAC).

use std::time::Duration;

use anyhow::Result;
use istio_rollout_testenv::Cluster;
use istio_rollout_testenv::wait::{self, Rollout, deployment_rollout_state};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::Role;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::api::{EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(60);

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
            }
        }
    }))
    .unwrap()
}

async fn pods_of(client: &kube::Client, ns: &str, app: &str) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    Ok(pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await?
        .items)
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn deployment_rolls_out_on_a_simulated_node() -> Result<()> {
    let cluster = Cluster::shared();
    let ns = cluster.namespace("smoke-rollout", false).await?;
    let client = cluster.client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    deployments
        .create(&PostParams::default(), &deployment("web", 2))
        .await?;

    let d = wait::deployment_rollout(&client, ns.name(), "web", TIMEOUT).await?;
    assert_eq!(d.status.unwrap().available_replicas, Some(2));
    let pods = pods_of(&client, ns.name(), "web").await?;
    assert_eq!(pods.len(), 2);
    for pod in &pods {
        let node = pod
            .spec
            .as_ref()
            .unwrap()
            .node_name
            .clone()
            .unwrap_or_default();
        assert!(
            node.starts_with("kwok-node-"),
            "scheduled on a simulated node, got {node:?}"
        );
        assert_eq!(
            pod.status.as_ref().unwrap().phase.as_deref(),
            Some("Running")
        );
        assert!(is_ready(pod), "pod {:?} is Ready", pod.metadata.name);
    }
    Ok(())
}

#[tokio::test]
async fn template_annotation_patch_completes_a_rollout() -> Result<()> {
    let cluster = Cluster::shared();
    let ns = cluster.namespace("smoke-restart", false).await?;
    let client = cluster.client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    deployments
        .create(&PostParams::default(), &deployment("api", 3))
        .await?;
    let before = wait::deployment_rollout(&client, ns.name(), "api", TIMEOUT).await?;
    let old_pods: Vec<String> = pods_of(&client, ns.name(), "api")
        .await?
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();

    // What `kubectl rollout restart` does: a strategic-merge patch of a template annotation.
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"
    }}}}});
    let patched = deployments
        .patch("api", &PatchParams::default(), &Patch::Strategic(patch))
        .await?;
    assert!(patched.metadata.generation > before.metadata.generation);
    assert_ne!(
        deployment_rollout_state(&patched),
        Rollout::Complete,
        "a fresh patch is not complete yet"
    );

    let after = wait::deployment_rollout(&client, ns.name(), "api", TIMEOUT).await?;
    let status = after.status.unwrap();
    assert!(status.observed_generation >= after.metadata.generation);
    assert_eq!(status.updated_replicas, Some(3));
    // Old pods are deleted (kwok finishes the deletion), new ones carry the annotation.
    let pods = wait::until("old pods to be gone", TIMEOUT, || async {
        let pods = pods_of(&client, ns.name(), "api").await?;
        Ok((pods.len() == 3).then_some(pods))
    })
    .await?;
    for pod in pods {
        assert!(
            !old_pods.contains(pod.metadata.name.as_ref().unwrap()),
            "pod was replaced"
        );
        assert_eq!(
            pod.metadata
                .annotations
                .unwrap_or_default()
                .get("kubectl.kubernetes.io/restartedAt")
                .map(String::as_str),
            Some("2026-01-01T00:00:00Z")
        );
    }
    Ok(())
}

#[tokio::test]
async fn pdb_gets_status_and_blocks_an_eviction_with_429() -> Result<()> {
    let cluster = Cluster::shared();
    let ns = cluster.namespace("smoke-pdb", false).await?;
    let client = cluster.client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    deployments
        .create(&PostParams::default(), &deployment("db", 2))
        .await?;
    deployments
        .create(&PostParams::default(), &deployment("cache", 2))
        .await?;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns.name());
    for (app, budget) in [
        ("db", json!({"minAvailable": 2})),
        ("cache", json!({"maxUnavailable": 1})),
    ] {
        let mut spec = json!({"selector": {"matchLabels": {"app": app}}});
        spec.as_object_mut()
            .unwrap()
            .extend(budget.as_object().unwrap().clone());
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": app}, "spec": spec
        }))?;
        pdbs.create(&PostParams::default(), &pdb).await?;
    }
    wait::deployment_rollout(&client, ns.name(), "db", TIMEOUT).await?;
    wait::deployment_rollout(&client, ns.name(), "cache", TIMEOUT).await?;

    // The disruption controller fills in the status.
    for (app, allowed) in [("db", 0), ("cache", 1)] {
        let status = wait::until(&format!("PDB {app} status"), TIMEOUT, || async {
            let pdb = pdbs.get(app).await?;
            let status = pdb.status.unwrap_or_default();
            let observed = status
                .observed_generation
                .is_some_and(|g| Some(g) == pdb.metadata.generation);
            Ok((observed && status.current_healthy == 2).then_some(status))
        })
        .await?;
        assert_eq!(status.disruptions_allowed, allowed, "PDB {app}");
        assert_eq!(status.expected_pods, 2);
    }

    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let blocked = pods_of(&client, ns.name(), "db").await?[0]
        .metadata
        .name
        .clone()
        .unwrap();
    match pods.evict(&blocked, &EvictParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 429, "{status:?}"),
        other => panic!("eviction of {blocked} should be refused with 429, got {other:?}"),
    }
    let allowed = pods_of(&client, ns.name(), "cache").await?[0]
        .metadata
        .name
        .clone()
        .unwrap();
    pods.evict(&allowed, &EvictParams::default()).await?;
    Ok(())
}

#[tokio::test]
async fn service_account_without_permission_is_refused_with_403() -> Result<()> {
    let cluster = Cluster::shared();
    let ns = cluster.namespace("smoke-rbac", false).await?;
    let as_sa = cluster.client_as(ns.name(), "reader").await?;
    let pods: Api<Pod> = Api::namespaced(as_sa.clone(), ns.name());
    match pods.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("listing pods without a Role should be refused, got {other:?}"),
    }

    // Granting the permission makes the same client succeed: the token really is that SA's.
    let admin = cluster.client().await?;
    let role: Role = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    }))?;
    Api::<Role>::namespaced(admin.clone(), ns.name())
        .create(&PostParams::default(), &role)
        .await?;
    let binding: RoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "pod-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns.name()}]
    }))?;
    Api::<RoleBinding>::namespaced(admin, ns.name())
        .create(&PostParams::default(), &binding)
        .await?;
    wait::until(
        "the RoleBinding to take effect",
        Duration::from_secs(30),
        || async { Ok(pods.list(&ListParams::default()).await.ok().map(|_| ())) },
    )
    .await?;
    // Still no permission to delete.
    match pods
        .delete_collection(&Default::default(), &ListParams::default())
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403),
        other => panic!("deleting pods should be refused, got {other:?}"),
    }
    Ok(())
}

//! The simulated Istio module on the real control plane: the injector injects the installed
//! version, and after the test plays the operator's upgrade a restarted pod gets the new one.

use std::time::Duration;

use anyhow::Result;
use istio_rollout_testenv::injector::{ANNOTATION_STATUS, PROXY_CONTAINER};
use istio_rollout_testenv::sim::{
    self, DEFAULT_ISTIO_VERSION, HUB, KYMA_NAMESPACE, LAST_APPLIED_ANNOTATION,
};
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(60);

fn deployment(name: &str, annotations: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
            }
        }
    }))
    .unwrap()
}

/// Images of the `istio-proxy` containers (native or regular) of the app's current pods.
async fn proxy_images(client: &kube::Client, ns: &str, app: &str) -> Result<Vec<Option<String>>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let spec = p.spec.unwrap();
            spec.init_containers
                .into_iter()
                .flatten()
                .chain(spec.containers)
                .find(|c| c.name == PROXY_CONTAINER)
                .and_then(|c| c.image)
        })
        .collect())
}

fn proxy(version: &str) -> Option<String> {
    Some(format!("{HUB}/proxyv2:{version}-distroless"))
}

#[tokio::test]
async fn injector_injects_the_installed_version_and_the_upgraded_one_after_a_restart() -> Result<()>
{
    let cluster = Cluster::shared();
    let sim = cluster.sim().await?;
    let client = cluster.client().await?;
    let ns = cluster.namespace("sim-upgrade", true).await?;
    let plain = cluster.namespace("sim-plain", false).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    deployments
        .create(&PostParams::default(), &deployment("web", json!({})))
        .await?;
    deployments
        .create(
            &PostParams::default(),
            &deployment("optout", json!({"sidecar.istio.io/inject": "false"})),
        )
        .await?;
    Api::<Deployment>::namespaced(client.clone(), plain.name())
        .create(&PostParams::default(), &deployment("plain", json!({})))
        .await?;
    for (namespace, name) in [
        (ns.name(), "web"),
        (ns.name(), "optout"),
        (plain.name(), "plain"),
    ] {
        wait::deployment_rollout(&client, namespace, name, TIMEOUT).await?;
    }

    assert_eq!(
        proxy_images(&client, ns.name(), "web").await?,
        vec![proxy(DEFAULT_ISTIO_VERSION); 2]
    );
    assert_eq!(
        proxy_images(&client, ns.name(), "optout").await?,
        vec![None, None],
        "opted out"
    );
    assert_eq!(
        proxy_images(&client, plain.name(), "plain").await?,
        vec![None, None],
        "namespace not labelled"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let pod = pods
        .list(&ListParams::default().labels("app=web"))
        .await?
        .items
        .remove(0);
    let status: serde_json::Value =
        serde_json::from_str(&pod.metadata.annotations.unwrap()[ANNOTATION_STATUS])?;
    assert_eq!(
        status["initContainers"],
        json!(["istio-validation", "istio-proxy"]),
        "native sidecar"
    );

    // Play the operator: control plane first, then the CR status.
    sim.upgrade("1.29.0", "1.30.2").await?;
    let istiod = Api::<Deployment>::namespaced(client.clone(), "istio-system")
        .get("istiod")
        .await?;
    let image = istiod.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(image, Some(format!("{HUB}/pilot:1.30.2-distroless")));
    sim.set_cr_status("Ready", &sim::last_applied(&json!({}), "1.30.2"))
        .await?;
    let cr = sim.cr().await?;
    assert_eq!(cr.data["status"]["state"], "Ready");
    let applied: serde_json::Value =
        serde_json::from_str(&cr.metadata.annotations.unwrap()[LAST_APPLIED_ANNOTATION])?;
    assert_eq!(applied["IstioTag"], "1.30.2-distroless");
    let manager = Api::<Deployment>::namespaced(client.clone(), KYMA_NAMESPACE)
        .get("istio-controller-manager")
        .await?;
    assert_eq!(
        manager.metadata.labels.unwrap()["app.kubernetes.io/version"],
        "1.29.0"
    );

    // Running pods keep their old sidecar until restarted; a restart gets the new one.
    assert_eq!(
        proxy_images(&client, ns.name(), "web").await?,
        vec![proxy(DEFAULT_ISTIO_VERSION); 2]
    );
    let restart = json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"
    }}}}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Strategic(restart))
        .await?;
    wait::deployment_rollout(&client, ns.name(), "web", TIMEOUT).await?;
    let images = wait::until("the old pods to be gone", TIMEOUT, || async {
        let images = proxy_images(&client, ns.name(), "web").await?;
        Ok((images.len() == 2).then_some(images))
    })
    .await?;
    assert_eq!(images, vec![proxy("1.30.2"); 2]);
    Ok(())
}

#[tokio::test]
async fn injector_follows_prometheus_merge_and_compatibility_settings() -> Result<()> {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await?;
    sim.upgrade("1.10.0", "1.23.2").await?;
    sim.update_settings(|s| {
        s.prometheus_merge = true;
        s.compatibility_mode = true;
    })
    .await?;
    let client = cluster.client().await?;
    let ns = cluster.namespace("sim-settings", true).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    }))?;
    let created = pods.create(&PostParams::default(), &pod).await?;
    let annotations = created.metadata.annotations.unwrap();
    assert_eq!(annotations["prometheus.io/path"], "/stats/prometheus");
    assert_eq!(annotations["prometheus.io/port"], "15020");
    let spec = created.spec.unwrap();
    // Istio 1.23 predates native sidecars in Kyma: a regular container.
    let proxy = spec
        .containers
        .iter()
        .find(|c| c.name == PROXY_CONTAINER)
        .expect("regular sidecar");
    let env: Vec<_> = proxy
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.as_str(), e.value.as_deref()))
        .collect();
    assert!(
        env.contains(&("ENABLE_DEFERRED_CLUSTER_CREATION", Some("false"))),
        "{env:?}"
    );
    assert!(
        env.contains(&("ENABLE_DELIMITED_STATS_TAG_REGEX", Some("false"))),
        "{env:?}"
    );
    Ok(())
}

#[tokio::test]
async fn taking_the_sim_resets_the_cr_spec_whoever_wrote_it() -> Result<()> {
    let cluster = Cluster::shared();
    {
        let _sim = cluster.sim().await?;
        let client = cluster.client().await?;
        let crs: Api<kube::api::DynamicObject> =
            Api::namespaced_with(client, KYMA_NAMESPACE, &sim::istio_resource());
        let change = json!({
            "apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
            "metadata": {"name": "default"},
            "spec": {"config": {"numTrustedProxies": 2}},
        });
        crs.patch(
            "default",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(change),
        )
        .await?;
    }
    let sim = cluster.sim().await?;
    let cr = sim.cr().await?;
    assert_eq!(cr.data["spec"], json!({}), "reset to an empty spec");
    assert_eq!(cr.data["status"]["state"], "Ready");
    Ok(())
}

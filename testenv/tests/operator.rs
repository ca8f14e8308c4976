//! The autonomous simulated operator (`sim-istio operator`) on the real control plane: what it
//! does by itself after a module upgrade or a CR change, as the real Kyma Istio operator does.
//! Each test holds the simulation (the operator is cluster-wide) and makes the operator
//! autonomous only for as long as it runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use istio_rollout_testenv::injector::{PROXY_CONTAINER, proxy_image};
use istio_rollout_testenv::operator::{
    AutonomousOperator, OperatorSettings, RESTARTED_AT_ANNOTATION,
};
use istio_rollout_testenv::sim::{self, HUB, KYMA_NAMESPACE, LAST_APPLIED_ANNOTATION};
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(90);

fn proxy(version: &str) -> String {
    format!("{HUB}/proxyv2:{version}-distroless")
}

fn template(app: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}], "terminationGracePeriodSeconds": 1}
    })
}

async fn create<K>(client: &Client, ns: &str, body: Value) -> Result<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let object: K = serde_json::from_value(body)?;
    Ok(api.create(&PostParams::default(), &object).await?)
}

async fn deployment(client: &Client, ns: &str, name: &str, replicas: i32) -> Result<()> {
    create::<Deployment>(
        client,
        ns,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template(name)}
        }),
    )
    .await?;
    Ok(())
}

async fn bare_pod(client: &Client, ns: &str, name: &str) -> Result<()> {
    let mut spec = template(name);
    spec["apiVersion"] = json!("v1");
    spec["kind"] = json!("Pod");
    spec["metadata"]["name"] = json!(name);
    create::<Pod>(client, ns, spec).await?;
    Ok(())
}

/// Running, Ready and not being deleted.
fn is_up(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status.as_ref().is_some_and(|s| {
            s.phase.as_deref() == Some("Running")
                && s.conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

/// Waits until `count` pods labelled `app=<app>` are up; returns them.
async fn pods_up(client: &Client, ns: &str, app: &str, count: usize) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    wait::until(&format!("{count} pods of {app} up"), TIMEOUT, || async {
        let list = pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await?;
        let up: Vec<Pod> = list.items.into_iter().filter(is_up).collect();
        let all_gone = up.len() == count;
        Ok(all_gone.then_some(up))
    })
    .await
}

/// Waits until all up pods of `app` (exactly `count`) run the proxy `image`.
async fn pods_on(
    client: &Client,
    ns: &str,
    app: &str,
    count: usize,
    image: &str,
) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    wait::until(
        &format!("{count} pods of {app} on {image}"),
        TIMEOUT,
        || async {
            let list = pods
                .list(&ListParams::default().labels(&format!("app={app}")))
                .await?;
            let live: Vec<Pod> = list
                .items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            let done = live.len() == count
                && live
                    .iter()
                    .all(|p| is_up(p) && proxy_image(p).as_deref() == Some(image));
            Ok(done.then_some(live))
        },
    )
    .await
}

/// ReplicaSets of Deployment `name`: one per rollout (restart) it had.
async fn replica_sets(client: &Client, ns: &str, name: &str) -> Result<usize> {
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    Ok(sets
        .list(&ListParams::default().labels(&format!("app={name}")))
        .await?
        .items
        .iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "Deployment" && o.name == name)
        })
        .count())
}

fn restarted_at(
    template_annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<String> {
    template_annotations.and_then(|a| a.get(RESTARTED_AT_ANNOTATION).cloned())
}

async fn deployment_restarted_at(client: &Client, ns: &str, name: &str) -> Result<Option<String>> {
    let d = Api::<Deployment>::namespaced(client.clone(), ns)
        .get(name)
        .await?;
    Ok(restarted_at(
        d.spec
            .and_then(|s| s.template.metadata)
            .and_then(|m| m.annotations)
            .as_ref(),
    ))
}

fn crs(client: &Client) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), KYMA_NAMESPACE, &sim::istio_resource())
}

fn state(cr: &DynamicObject) -> &str {
    cr.data["status"]["state"].as_str().unwrap_or_default()
}

fn last_applied(cr: &DynamicObject) -> String {
    cr.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .cloned()
        .unwrap_or_default()
}

fn istio_tag(cr: &DynamicObject) -> String {
    serde_json::from_str::<Value>(&last_applied(cr))
        .ok()
        .and_then(|v| v["IstioTag"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn condition<'a>(cr: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    cr.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until the CR `name` satisfies `done`.
async fn wait_cr(
    client: &Client,
    name: &str,
    what: &str,
    done: impl Fn(&DynamicObject) -> bool,
) -> Result<DynamicObject> {
    let api = crs(client);
    let last = std::cell::RefCell::new(Value::Null);
    let result = wait::until(what, TIMEOUT, || async {
        let cr = api.get(name).await?;
        let ok = done(&cr);
        *last.borrow_mut() =
            json!({"lastApplied": last_applied(&cr), "status": cr.data["status"].clone()});
        Ok(ok.then_some(cr))
    })
    .await;
    result.with_context(|| format!("the CR was last {}", last.borrow()))
}

/// Records every `status.state` the CR `default` goes through, from now on.
fn record_states(client: &Client) -> (Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let api = crs(client);
    let sink = seen.clone();
    let task = tokio::spawn(async move {
        let config = watcher::Config::default().fields("metadata.name=default");
        let mut stream = watcher(api, config)
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(Ok(cr)) = stream.next().await {
            let s = state(&cr).to_string();
            let mut seen = sink.lock().unwrap();
            if seen.last() != Some(&s) {
                seen.push(s);
            }
        }
    });
    (seen, task)
}

fn settings() -> OperatorSettings {
    OperatorSettings::autonomous("60s", "3s", "2s")
}

#[tokio::test]
async fn a_module_upgrade_restarts_each_workload_once_in_one_reconcile() -> Result<()> {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await?;
    let client = cluster.client().await?;
    let ns = cluster.namespace("op-upgrade", true).await?;
    let n = ns.name();
    deployment(&client, n, "web", 2).await?;
    create::<ReplicaSet>(
        &client,
        n,
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "loose"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "loose"}}, "template": template("loose")}}),
    )
    .await?;
    create::<StatefulSet>(
        &client,
        n,
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"replicas": 1, "serviceName": "db", "updateStrategy": {"type": "OnDelete"},
                "selector": {"matchLabels": {"app": "db"}}, "template": template("db")}}),
    )
    .await?;
    create::<ReplicationController>(
        &client,
        n,
        json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "legacy"},
            "spec": {"replicas": 1, "selector": {"app": "legacy"}, "template": template("legacy")}}),
    )
    .await?;
    let old = proxy(sim::DEFAULT_ISTIO_VERSION);
    pods_on(&client, n, "web", 2, &old).await?;
    let loose_before = pods_on(&client, n, "loose", 1, &old).await?;
    let db_before = pods_on(&client, n, "db", 1, &old).await?;
    let legacy_before = pods_on(&client, n, "legacy", 1, &old).await?;

    let op = AutonomousOperator::start(cluster, &sim, settings()).await?;
    assert_eq!(
        replica_sets(&client, n, "web").await?,
        1,
        "the start-up reconcile restarts nothing"
    );
    let (states, recorder) = record_states(&client);

    // What a GitOps sync of module 1.29.0 does: only the manager changes.
    sim.deploy_module("1.29.0", "1.30.2").await?;
    let cr = wait_cr(
        &client,
        "default",
        "lastApplied IstioTag 1.30.2 and Ready",
        |cr| istio_tag(cr) == "1.30.2-distroless" && state(cr) == "Ready",
    )
    .await?;
    let status = op
        .wait_for("the reconcile of module 1.29.0", TIMEOUT, |s| {
            s.last_module_version.as_deref() == Some("1.29.0") && !s.reconciling
        })
        .await?;
    assert_eq!(status.last_outcome.as_deref(), Some("Ready"));
    assert_eq!(
        condition(&cr, "ProxySidecarRestartSucceeded").map(|c| c["status"].clone()),
        Some(json!("True"))
    );
    recorder.abort();
    let states = states.lock().unwrap().clone();
    assert!(
        states.contains(&"Processing".to_string()),
        "module 1.29.0 shows Processing while it reconciles: {states:?}"
    );

    // The control plane and what new pods get.
    let istiod = Api::<Deployment>::namespaced(client.clone(), "istio-system")
        .get("istiod")
        .await?;
    assert_eq!(
        istiod.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some(format!("{HUB}/pilot:1.30.2-distroless").as_str())
    );
    assert_eq!(sim.settings().await?.istio_version, "1.30.2");

    // The Deployment: one restart through the operator's template annotation.
    let at = deployment_restarted_at(&client, n, "web")
        .await?
        .context("web has the operator's restartedAt")?;
    assert!(
        at.parse::<k8s_openapi::jiff::Timestamp>().is_ok() && at.len() == 20 && at.ends_with('Z'),
        "RFC 3339, seconds: {at}"
    );
    pods_on(&client, n, "web", 2, &proxy("1.30.2")).await?;
    assert_eq!(
        replica_sets(&client, n, "web").await?,
        2,
        "restarted exactly once"
    );

    // Ownerless ReplicaSet and ReplicationController: their pods deleted, replaced.
    let loose = pods_on(&client, n, "loose", 1, &proxy("1.30.2")).await?;
    assert_ne!(loose[0].metadata.uid, loose_before[0].metadata.uid);
    let legacy = pods_on(&client, n, "legacy", 1, &proxy("1.30.2")).await?;
    assert_ne!(legacy[0].metadata.uid, legacy_before[0].metadata.uid);

    // OnDelete: patched and left.
    let db = Api::<StatefulSet>::namespaced(client.clone(), n)
        .get("db")
        .await?;
    assert!(
        restarted_at(
            db.spec
                .unwrap()
                .template
                .metadata
                .and_then(|m| m.annotations)
                .as_ref()
        )
        .is_some(),
        "the OnDelete StatefulSet is patched"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let db_now = pods_up(&client, n, "db", 1).await?;
    assert_eq!(
        db_now[0].metadata.uid, db_before[0].metadata.uid,
        "and never rolls"
    );
    assert_eq!(proxy_image(&db_now[0]), Some(old));

    op.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_bare_pod_keeps_warning_and_the_edge_triggered_rule_restarts_again_on_requeue()
-> Result<()> {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await?;
    let client = cluster.client().await?;
    let ns = cluster.namespace("op-storm", true).await?;
    let n = ns.name();
    deployment(&client, n, "web", 1).await?;
    bare_pod(&client, n, "bare").await?;
    let web_before = pods_up(&client, n, "web", 1).await?;
    pods_up(&client, n, "bare", 1).await?;
    let op = AutonomousOperator::start(cluster, &sim, settings()).await?;

    // A spec change of an edge-triggered field: every injected pod is to be restarted.
    sim.set_cr_spec(&json!({"config": {"enableDNSProxying": true}}))
        .await?;
    let cr = wait_cr(&client, "default", "Warning for the bare pod", |cr| {
        state(cr) == "Warning"
    })
    .await?;
    let c = condition(&cr, "ProxySidecarRestartSucceeded").context("the proxy condition")?;
    assert_eq!(c["status"], "False");
    assert_eq!(c["reason"], "ProxySidecarManualRestartRequired");
    let message = c["message"].as_str().unwrap_or_default();
    // Exactly this, unless another test's bare pod is still running somewhere in the cluster.
    assert!(
        message.starts_with("The sidecars of the following workloads could not be restarted: ")
            && message.contains(&format!("{n}/bare")),
        "{message}"
    );
    assert_eq!(
        last_applied(&cr),
        r#"{"config":{"telemetry":{"metrics":{}}},"IstioTag":"1.29.3-distroless"}"#,
        "the proxy part of lastApplied stays unchanged"
    );
    let first = deployment_restarted_at(&client, n, "web")
        .await?
        .context("web restarted by the first reconcile")?;
    wait::until("web's first restart to be there", TIMEOUT, || async {
        Ok((replica_sets(&client, n, "web").await? >= 2).then_some(()))
    })
    .await?;
    // The restart keeps the image: the one pod up must be the new one, not the old pod still
    // serving before the new ReplicaSet's pod is created.
    let new_pods = wait::until("web's restarted pod up", TIMEOUT, || async {
        let pods = pods_on(&client, n, "web", 1, &proxy(sim::DEFAULT_ISTIO_VERSION)).await?;
        Ok((pods[0].metadata.uid != web_before[0].metadata.uid).then_some(pods))
    })
    .await?;
    let env = new_pods[0]
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .and_then(|c| c.iter().find(|c| c.name == PROXY_CONTAINER))
        .and_then(|c| c.env.clone())
        .unwrap_or_default();
    assert!(
        env.iter().any(|e| e.name == "ISTIO_META_DNS_CAPTURE"),
        "the operator rendered enableDNSProxying into the injection"
    );

    // The Warning requeue (3 s here, an hour in a real cluster) fires the same rule again.
    let second = wait::until(
        "a second restart of web after the requeue",
        TIMEOUT,
        || async {
            let at = deployment_restarted_at(&client, n, "web").await?;
            Ok(at.filter(|at| *at != first))
        },
    )
    .await?;
    assert_ne!(second, first);
    wait::until("web's second restart to be there", TIMEOUT, || async {
        Ok((replica_sets(&client, n, "web").await? >= 3).then_some(()))
    })
    .await?;
    let status = op.status().await?;
    assert!(
        status.last_trigger.contains(&"requeue".to_string()) || status.reconciling,
        "{status:?}"
    );
    let cr = crs(&client).get("default").await?;
    assert_eq!(state(&cr), "Warning");
    op.stop().await?;
    // The operator is cluster-wide: a bare pod left running while the namespace terminates
    // would keep the next test's CR in Warning.
    let pods: Api<Pod> = Api::namespaced(client.clone(), n);
    pods.delete("bare", &DeleteParams::default().grace_period(0))
        .await?;
    wait::until("the bare pod to be gone", TIMEOUT, || async {
        Ok(pods.get_opt("bare").await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn from_module_1_31_the_cr_stays_ready_while_sidecars_restart() -> Result<()> {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await?;
    let client = cluster.client().await?;
    let ns = cluster.namespace("op-131", true).await?;
    let n = ns.name();
    deployment(&client, n, "web", 1).await?;
    pods_up(&client, n, "web", 1).await?;
    let op = AutonomousOperator::start(cluster, &sim, settings()).await?;
    let (states, recorder) = record_states(&client);

    sim.deploy_module("1.31.0", "1.30.4").await?;
    op.wait_for("the reconcile of module 1.31.0", TIMEOUT, |s| {
        s.last_module_version.as_deref() == Some("1.31.0") && !s.reconciling
    })
    .await?;
    let cr = crs(&client).get("default").await?;
    assert_eq!(istio_tag(&cr), "1.30.4-distroless");
    assert_eq!(state(&cr), "Ready");
    pods_on(&client, n, "web", 1, &proxy("1.30.4")).await?;
    assert_eq!(
        replica_sets(&client, n, "web").await?,
        2,
        "restarted by the operator"
    );
    recorder.abort();
    let states = states.lock().unwrap().clone();
    assert_eq!(
        states,
        vec!["Ready".to_string()],
        "never Processing during the upgrade"
    );
    op.stop().await?;
    Ok(())
}

#[tokio::test]
async fn the_version_gate_installs_nothing_for_two_minors_or_a_downgrade() -> Result<()> {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await?;
    let client = cluster.client().await?;
    let op = AutonomousOperator::start(cluster, &sim, settings()).await?;

    // Istio 1.29.3 to 1.31.0: two minors.
    sim.deploy_module("1.32.0", "1.31.0").await?;
    let cr = wait_cr(
        &client,
        "default",
        "Warning: version step not allowed",
        |cr| {
            state(cr) == "Warning"
                && condition(cr, "Ready")
                    .is_some_and(|c| c["reason"] == "IstioVersionUpdateNotAllowed")
        },
    )
    .await?;
    let description = cr.data["status"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains("exceed one minor version"),
        "{description}"
    );
    assert_eq!(istio_tag(&cr), "1.29.3-distroless", "nothing installed");
    assert_eq!(
        sim.settings().await?.istio_version,
        sim::DEFAULT_ISTIO_VERSION
    );
    let istiod = Api::<Deployment>::namespaced(client.clone(), "istio-system")
        .get("istiod")
        .await?;
    assert_eq!(
        istiod.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some(format!("{HUB}/pilot:{}-distroless", sim::DEFAULT_ISTIO_VERSION).as_str())
    );

    // A downgrade (module 1.20.0 ships Istio 1.26.1).
    sim.deploy_module("1.20.0", "1.26.1").await?;
    let cr = wait_cr(&client, "default", "Warning: downgrade", |cr| {
        cr.data["status"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("downgrade not supported"))
    })
    .await?;
    assert_eq!(state(&cr), "Warning");
    assert_eq!(istio_tag(&cr), "1.29.3-distroless");
    op.stop().await?;
    Ok(())
}

/// Deletes an extra Istio CR when dropped (also when the test fails).
struct ExtraCr(std::path::PathBuf, &'static str);

impl Drop for ExtraCr {
    fn drop(&mut self) {
        let (kubeconfig, name) = (self.0.clone(), self.1);
        let _ = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = Cluster::from_kubeconfig(kubeconfig)?.client().await?;
                crs(&client).delete(name, &DeleteParams::default()).await?;
                Ok(())
            })
        })
        .join();
    }
}

#[tokio::test]
async fn last_applied_is_written_as_the_operator_writes_it_and_the_gateway_follows_its_settings()
-> Result<()> {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await?;
    let client = cluster.client().await?;
    let op = AutonomousOperator::start(cluster, &sim, settings()).await?;
    let gateway_restarted_at = || async {
        let d = Api::<Deployment>::namespaced(client.clone(), "istio-system")
            .get("istio-ingressgateway")
            .await?;
        anyhow::Ok(restarted_at(
            d.spec
                .and_then(|s| s.template.metadata)
                .and_then(|m| m.annotations)
                .as_ref(),
        ))
    };
    let before = gateway_restarted_at().await?;

    sim.set_cr_spec(&json!({"config": {"numTrustedProxies": 1}}))
        .await?;
    let one = r#"{"config":{"numTrustedProxies":1,"telemetry":{"metrics":{}}},"IstioTag":"1.29.3-distroless"}"#;
    wait_cr(&client, "default", "numTrustedProxies applied", |cr| {
        last_applied(cr) == one && state(cr) == "Ready"
    })
    .await?;
    let after_one = gateway_restarted_at().await?;
    assert!(
        after_one.is_some() && after_one != before,
        "the gateway restarted for numTrustedProxies"
    );

    // spec: {} is written with the structs Go always writes; unset vs set restarts the gateway.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sim.set_cr_spec(&json!({})).await?;
    let empty = r#"{"config":{"telemetry":{"metrics":{}}},"IstioTag":"1.29.3-distroless"}"#;
    wait_cr(&client, "default", "the empty spec applied", |cr| {
        last_applied(cr) == empty && state(cr) == "Ready"
    })
    .await?;
    let after_empty = gateway_restarted_at().await?;
    assert_ne!(
        after_empty, after_one,
        "numTrustedProxies unset again is a change"
    );

    // An annotation-only change does not trigger a reconcile (no generation change).
    let reconciles = op.status().await?.reconciles;
    crs(&client)
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"example.com/note": "hello"}}})),
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        op.status().await?.reconciles,
        reconciles,
        "annotations do not trigger"
    );

    // A newer second CR is not reconciled: Warning, OlderCRExists.
    let _extra = ExtraCr(cluster.kubeconfig_path().to_path_buf(), "second");
    let second: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
        "metadata": {"name": "second", "namespace": KYMA_NAMESPACE},
        "spec": {"config": {"numTrustedProxies": 3}},
    }))?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reconciles = op.status().await?.reconciles;
    let default_version = crs(&client).get("default").await?.metadata.resource_version;
    crs(&client).create(&PostParams::default(), &second).await?;
    let cr = wait_cr(&client, "second", "the second CR in Warning", |cr| {
        state(cr) == "Warning"
    })
    .await?;
    assert_eq!(
        condition(&cr, "Ready").map(|c| c["reason"].clone()),
        Some(json!("OlderCRExists"))
    );
    // The new CR's event reconciles that CR only, as in the operator: the oldest one is not
    // reconciled again (no restarts, not even a status write).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let default = crs(&client).get("default").await?;
    assert_eq!(
        default.metadata.resource_version, default_version,
        "the oldest CR is left alone"
    );
    assert_eq!(state(&default), "Ready");
    assert_eq!(
        last_applied(&default),
        empty,
        "the oldest CR's spec is what counts"
    );
    assert_eq!(
        op.status().await?.reconciles,
        reconciles,
        "no reconcile of the module"
    );
    op.stop().await?;
    Ok(())
}

#[tokio::test]
async fn the_restarter_pages_through_every_running_pod() -> Result<()> {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await?;
    let client = cluster.client().await?;
    let ns = cluster.namespace("op-pages", true).await?;
    let n = ns.name();
    // Pods are listed in key order (namespace, name): "aaa" fills the first page of 30, so
    // "zzz" is only reached through the continue token.
    deployment(&client, n, "aaa", 32).await?;
    deployment(&client, n, "zzz", 1).await?;
    let old = proxy(sim::DEFAULT_ISTIO_VERSION);
    pods_on(&client, n, "aaa", 32, &old).await?;
    pods_on(&client, n, "zzz", 1, &old).await?;
    let op = AutonomousOperator::start(cluster, &sim, settings()).await?;

    sim.deploy_module("1.29.0", "1.30.2").await?;
    op.wait_for("the reconcile of module 1.29.0", TIMEOUT, |s| {
        s.last_module_version.as_deref() == Some("1.29.0") && !s.reconciling
    })
    .await?;
    assert!(
        deployment_restarted_at(&client, n, "zzz").await?.is_some(),
        "the Deployment on the second page is restarted too"
    );
    pods_on(&client, n, "zzz", 1, &proxy("1.30.2")).await?;
    pods_on(&client, n, "aaa", 32, &proxy("1.30.2")).await?;
    op.stop().await?;
    Ok(())
}

//! `apply` beside the autonomous simulated operator (`testenv/src/operator`), which restarts
//! sidecars by itself as the real Kyma operator does: the tool started as a PostSync hook is
//! (before the operator has finished) waits for it, never restarts on top of it, finishes what it
//! cannot (OnDelete StatefulSets through evictions) and reports the bare pod as manual.

use crate::support::{self, create};
use istio_rollout_testenv::injector::proxy_image;
use istio_rollout_testenv::operator::{AutonomousOperator, OperatorSettings};
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Deployments of the fleet, one replica each: the operator dedupes owners per page of 30 pods
/// only, so a Deployment whose pods straddle two pages can be patched twice by the operator
/// itself (its sibling-ReplicaSet check misses a ReplicaSet whose status is not written yet);
/// with one pod each, every double restart counted is one the tool made.
const DEPLOYMENTS: usize = 40;
/// The module the upgrade goes to: from 1.31.0 the operator keeps the CR Ready while it
/// restarts, so the tool runs while the operator still restarts.
const MODULE: &str = "1.31.0";
const ISTIO: &str = "1.30.4";

/// Requeue after Ready, Warning, Error. The bare pod's Warning requeues after 5 minutes, not
/// within a run: a requeue pass that meets a rollout just as its old pods go would restart that
/// workload again (the operator's own race, which the tool cannot prevent).
fn settings() -> OperatorSettings {
    OperatorSettings::autonomous("5m", "5m", "2s")
}

fn template(app: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}},
           "spec": {"containers": [{"name": "app", "image": "example/app:1"}], "terminationGracePeriodSeconds": 1}})
}

/// A pod without owner, `bare`: the operator can only warn about it.
fn bare_pod() -> Value {
    let mut bare = template("bare");
    bare["apiVersion"] = json!("v1");
    bare["kind"] = json!("Pod");
    bare["metadata"]["name"] = json!("bare");
    bare
}

/// The Istio CR `kyma-system/default` with this spec, as git holds it.
fn cr_yaml(spec: &Value) -> String {
    format!(
        "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata:\n  name: default\n  namespace: kyma-system\nspec: {spec}\n"
    )
}

fn ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn on(p: &Pod, version: &str) -> bool {
    proxy_image(p).is_some_and(|i| i.contains(&format!(":{version}-")))
}

/// Waits until `n` pods of the namespace are Ready; returns them.
async fn ready_pods(client: &kube::Client, ns: &str, n: usize) -> Vec<Pod> {
    let api = Api::<Pod>::namespaced(client.clone(), ns);
    wait::until(
        &format!("{n} pods Ready in {ns}"),
        Duration::from_secs(180),
        || {
            let api = api.clone();
            async move {
                let up: Vec<Pod> = api
                    .list(&ListParams::default())
                    .await?
                    .items
                    .into_iter()
                    .filter(ready)
                    .collect();
                Ok((up.len() == n).then_some(up))
            }
        },
    )
    .await
    .unwrap()
}

/// ReplicaSets per Deployment (one original, plus one per restart).
async fn replica_sets(client: &kube::Client, ns: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for rs in Api::<ReplicaSet>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
    {
        for o in rs.metadata.owner_references.iter().flatten() {
            if o.kind == "Deployment" {
                *out.entry(o.name.clone()).or_default() += 1;
            }
        }
    }
    out
}

/// The tool as the PostSync hook runs it: `apply --no-apply-cr` as the ServiceAccount of
/// manifests/base, JSON report, its own timeouts.
fn post_sync(kubeconfig: &Path, repo: &Path, ns: &str) -> tokio::process::Command {
    let mut c = crate::common::cli::istio_rollout();
    c.args(["apply", "--no-apply-cr", "--namespace", ns, "-o", "json"])
        .args(["--repo", repo.to_str().unwrap(), "--path", "istio"])
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .args(["--max-concurrent", "4", "--timeout", "3m"])
        .args(["--operator-timeout", "3m", "--overall-timeout", "8m"]);
    let mut c = tokio::process::Command::from(c);
    c.kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

/// Waits for the tool (bounded by more than its own overall timeout); its exit code, report,
/// stderr.
async fn finished(child: tokio::process::Child) -> (i32, Value, String) {
    let out = tokio::time::timeout(Duration::from_secs(540), child.wait_with_output())
        .await
        .expect("the tool ends within its own timeouts")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {stderr}\n{}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// `name -> result` of the report's own entries.
fn results(report: &Value) -> BTreeMap<String, String> {
    support::own(report)
        .into_iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_string(),
                w["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn tool_kubeconfig(
    cluster: &Cluster,
    client: &kube::Client,
    dir: &Path,
) -> std::path::PathBuf {
    support::apply_dir(
        client,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/base"),
    )
    .await;
    cluster
        .kubeconfig_as("istio-rollout", "istio-rollout", dir)
        .await
        .unwrap()
}

/// A module upgrade over every owner kind, with the tool started as the PostSync hook before
/// the operator has even begun: the operator restarts what it can, the tool waits for it, then
/// evicts the OnDelete StatefulSets' pods, leaves the failed Deployment alone and reports the
/// bare pod. Every Deployment rolls exactly once, by whichever of the two got there first.
#[tokio::test(flavor = "multi_thread")]
async fn a_module_upgrade_beside_the_operator_restarts_each_workload_once() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("beside", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    for i in 0..DEPLOYMENTS {
        let name = format!("web-{i:02}");
        create(&client, &n, json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": template(&name)}})).await;
    }
    for (name, strategy) in [
        ("sts-ru", "RollingUpdate"),
        ("sts-od", "OnDelete"),
        ("sts-pdb", "OnDelete"),
    ] {
        create(
            &client,
            &n,
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": 2, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "updateStrategy": {"type": strategy}, "template": template(name)}}),
        )
        .await;
    }
    create(&client, &n, json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "sts-pdb"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "sts-pdb"}}}})).await;
    create(
        &client,
        &n,
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"},
            "spec": {"selector": {"matchLabels": {"app": "ds"}}, "template": template("ds")}}),
    )
    .await;
    create(&client, &n, json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs-orphan"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "rs-orphan"}}, "template": template("rs-orphan")}})).await;
    create(
        &client,
        &n,
        json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
            "spec": {"replicas": 3, "selector": {"app": "rc"}, "template": template("rc")}}),
    )
    .await;
    create(&client, &n, bare_pod()).await;
    // A Deployment whose last rollout failed: its new pod cannot be scheduled.
    create(&client, &n, json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "stuck"},
        "spec": {"replicas": 1, "progressDeadlineSeconds": 1, "selector": {"matchLabels": {"app": "stuck"}},
                 "template": template("stuck")}})).await;
    // Deployments, StatefulSets, the DaemonSet on 3 Nodes, the ownerless owners, bare, stuck.
    let pods = DEPLOYMENTS + 6 + 3 + 6 + 1 + 1;
    ready_pods(&client, &n, pods).await;
    let deployments = Api::<Deployment>::namespaced(client.clone(), &n);
    deployments
        .patch(
            "stuck",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"template": {"spec": {"nodeSelector": {"nowhere": "true"}}}}}),
            ),
        )
        .await
        .unwrap();
    wait::until(
        "stuck to exceed its deadline",
        Duration::from_secs(120),
        || {
            let api = deployments.clone();
            async move {
                let d = api.get("stuck").await?;
                let failed = d.status.and_then(|s| s.conditions).is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.type_ == "Progressing"
                            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
                    })
                });
                Ok(failed.then_some(()))
            }
        },
    )
    .await
    .unwrap();
    let before = replica_sets(&client, &n).await;
    assert_eq!(before["stuck"], 2);

    let op = AutonomousOperator::start(cluster, &sim, settings())
        .await
        .unwrap();
    let repo = support::desired_repo(support::EMPTY_CR, MODULE);
    let kubeconfig = tool_kubeconfig(cluster, &client, repo.path()).await;
    // The PostSync hook starts as soon as the sync is applied, before the operator is done.
    let tool = post_sync(&kubeconfig, repo.path(), &n).spawn().unwrap();
    sim.deploy_module(MODULE, ISTIO).await.unwrap();
    let (code, report, stderr) = finished(tool).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert!(
        report["operator"]
            .as_str()
            .is_some_and(|o| o.starts_with("caught up")),
        "{report:#}"
    );

    let results = results(&report);
    assert_eq!(results["bare"], "manual", "{report:#}");
    assert_eq!(results["stuck"], "blocked", "{report:#}");
    for sts in ["sts-od", "sts-pdb"] {
        assert_eq!(results[sts], "evicted", "{sts}: {report:#}");
    }
    // The operator deletes the pods of ownerless owners itself, as the real one does (plain
    // deletes, no PodDisruptionBudget): by the time the tool has seen it caught up, they are as a
    // rule on the target and left alone; a pod it did not reach is evicted, never deleted.
    for owner in ["rs-orphan", "rc"] {
        assert!(
            results
                .get(owner)
                .is_none_or(|r| ["evicted", "waited"].contains(&r.as_str())),
            "{owner}: {report:#}"
        );
    }
    let failed: Vec<_> = results
        .iter()
        .filter(|(_, r)| ["failed", "timed-out"].contains(&r.as_str()))
        .collect();
    assert!(failed.is_empty(), "{failed:?}: {report:#}");

    // Every Deployment rolled exactly once, by the operator or the tool; the failed one never.
    let after = replica_sets(&client, &n).await;
    let twice: Vec<_> = after
        .iter()
        .filter(|(name, count)| name.as_str() != "stuck" && **count != 2)
        .collect();
    assert!(
        twice.is_empty(),
        "not restarted exactly once: {twice:?} ({report:#})"
    );
    assert_eq!(after.len(), DEPLOYMENTS + 1);
    assert_eq!(
        after["stuck"], 2,
        "the failed Deployment is not restarted again"
    );

    // Every pod but the bare one and the stuck Deployment's runs the target, Ready.
    let converged = ready_pods(&client, &n, pods).await;
    let behind: Vec<String> = converged
        .iter()
        .filter(|p| {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            name != "bare" && !name.starts_with("stuck-") && !on(p, ISTIO)
        })
        .map(|p| {
            format!(
                "{}: {:?}",
                p.metadata.name.as_deref().unwrap(),
                proxy_image(p)
            )
        })
        .collect();
    assert!(behind.is_empty(), "not on {ISTIO}: {behind:?}");
    op.stop().await.unwrap();
    // The bare pod would keep the next test's operator in Warning while the namespace goes.
    let pods = Api::<Pod>::namespaced(client.clone(), &n);
    pods.delete("bare", &kube::api::DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    wait::until("the bare pod gone", Duration::from_secs(60), || {
        let pods = pods.clone();
        async move { Ok(pods.get_opt("bare").await?.is_none().then_some(())) }
    })
    .await
    .unwrap();
}

/// A CR-only change (prometheusMerge on) under the 1.31 status behaviour: the CR stays Ready
/// throughout, so only lastAppliedConfiguration meaning git's spec tells the tool that the
/// operator is done; it then has nothing left to restart, and nothing rolls twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_cr_change_under_the_1_31_status_is_left_to_the_operator() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("beside-cr", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    // One pod each, so that no Deployment straddles two of the operator's pages.
    for name in ["api", "web", "worker"] {
        support::create_deployment(&client, &n, name, 1).await;
    }
    ready_pods(&client, &n, 3).await;
    // A Warning requeues after 3 s here: pods of an earlier test's namespace that is still going
    // (their ReplicaSets collected first) give the operator a passing Warning.
    let op = AutonomousOperator::start(
        cluster,
        &sim,
        OperatorSettings::autonomous("5m", "3s", "2s"),
    )
    .await
    .unwrap();
    sim.deploy_module(MODULE, ISTIO).await.unwrap();
    op.wait_for(
        "the reconcile of module 1.31.0",
        Duration::from_secs(120),
        |s| {
            s.last_module_version.as_deref() == Some(MODULE)
                && !s.reconciling
                && s.last_outcome.as_deref() == Some("Ready")
        },
    )
    .await
    .unwrap();
    // The reconcile ends right after its patches: the new ReplicaSets follow.
    rolled(&client, &n, 2).await;

    let spec = json!({"config": {"telemetry": {"metrics": {"prometheusMerge": true}}}});
    let cr = cr_yaml(&spec);
    let repo = support::desired_repo(&cr, MODULE);
    let kubeconfig = tool_kubeconfig(cluster, &client, repo.path()).await;
    let states = record_states(&client);
    // The hook starts; the sync of the CR lands right after (Argo CD applies, Flux likewise).
    let tool = post_sync(&kubeconfig, repo.path(), &n).spawn().unwrap();
    sim.set_cr_spec(&spec).await.unwrap();
    let (code, report, stderr) = finished(tool).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert!(report["operator"].is_string(), "it waited: {report:#}");
    // Whoever got to a Deployment first (as a rule the operator; the tool when the operator's
    // pass did not count its pod), it rolled once: never both.
    let failed: Vec<_> = results(&report)
        .into_iter()
        .filter(|(_, r)| ["failed", "timed-out"].contains(&r.as_str()))
        .collect();
    assert!(failed.is_empty(), "{failed:?}\n{report:#}\n{stderr}");
    rolled(&client, &n, 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = replica_sets(&client, &n).await;
    assert!(
        after.values().all(|c| *c == 3),
        "each restarted exactly once more: {after:?}"
    );
    let pods = ready_pods(&client, &n, 3).await;
    assert!(
        pods.iter().all(|p| p
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("prometheus.io/path"))
            .is_some_and(|v| v == "/stats/prometheus")),
        "every pod merged"
    );
    states.abort();
    let seen = states_seen(&states);
    assert!(
        seen.iter().all(|s| s == "Ready"),
        "the CR stays Ready under module 1.31: {seen:?}"
    );
    op.stop().await.unwrap();
}

/// A CR change synced while the CR is already Warning because of a bare pod: the operator's
/// record then shows only the tag and the gateway fields, and the status stays Warning while the
/// operator reconciles the new spec. The tool must not take that Warning for "caught up": while
/// the operator has not installed git's settings (the mesh config tells), it waits and restarts
/// nothing; once it has, it leaves the operator's restarts alone. Module 1.27.4: the CR status
/// would say Processing or Ready there, if not for the Warning.
#[tokio::test(flavor = "multi_thread")]
async fn a_cr_change_while_the_cr_is_warning_waits_for_the_operator() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("beside-warn", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    for name in ["api", "web", "worker"] {
        support::create_deployment(&client, &n, name, 1).await;
    }
    create(&client, &n, bare_pod()).await;
    ready_pods(&client, &n, 4).await;
    // A Warning requeues after 10 minutes: only the spec changes below trigger a reconcile.
    let op = AutonomousOperator::start(
        cluster,
        &sim,
        OperatorSettings::autonomous("10m", "10m", "2s"),
    )
    .await
    .unwrap();
    // DNS proxying restarts every pod, the bare one cannot be: Warning, proxy fields unrecorded.
    let dns = json!({"config": {"enableDNSProxying": true}});
    let before = op.status().await.unwrap().reconciles;
    sim.set_cr_spec(&dns).await.unwrap();
    op.wait_for(
        "the reconcile of the DNS change",
        Duration::from_secs(120),
        |s| !s.reconciling && s.reconciles > before && s.last_outcome.as_deref() == Some("Warning"),
    )
    .await
    .unwrap();
    rolled(&client, &n, 2).await;
    op.stop().await.unwrap();

    // The sync of the next change lands while the operator is busy elsewhere; the hook starts.
    let spec = json!({"config": {"enableDNSProxying": true, "telemetry": {"metrics": {"prometheusMerge": true}}}});
    let cr = cr_yaml(&spec);
    sim.set_cr_spec(&spec).await.unwrap();
    let repo = support::desired_repo(&cr, "1.27.4");
    let kubeconfig = tool_kubeconfig(cluster, &client, repo.path()).await;
    let mut tool = post_sync(&kubeconfig, repo.path(), &n).spawn().unwrap();
    // The CR is Warning for manual restarts, its record has the tag and the gateway fields; yet
    // the operator has installed nothing of the new spec: the tool waits, touching nothing.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        tool.try_wait().unwrap().is_none(),
        "the tool waits for the operator"
    );
    let sets = replica_sets(&client, &n).await;
    assert!(
        sets.values().all(|c| *c == 2),
        "nothing restarted before the operator: {sets:?}"
    );

    let op = AutonomousOperator::start(
        cluster,
        &sim,
        OperatorSettings::autonomous("10m", "10m", "2s"),
    )
    .await
    .unwrap();
    let (code, report, stderr) = finished(tool).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert!(
        report["operator"].is_string(),
        "it waited for the operator: {report:#}"
    );
    let results = results(&report);
    assert_eq!(
        results.get("bare").map(String::as_str),
        Some("manual"),
        "{report:#}"
    );
    // The operator restarted every Deployment for the new spec (and, its DNS change still
    // unrecorded, would have anyway); the tool restarted none of them on top.
    rolled(&client, &n, 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = replica_sets(&client, &n).await;
    assert!(
        after.values().all(|c| *c == 3),
        "each restarted exactly once more: {after:?}"
    );
    let pods = ready_pods(&client, &n, 4).await;
    assert!(
        pods.iter()
            .filter(|p| p.metadata.name.as_deref() != Some("bare"))
            .all(|p| p
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("prometheus.io/path"))
                .is_some_and(|v| v == "/stats/prometheus")),
        "every pod merged"
    );
    assert!(
        stderr.contains("does not carry git's enablePrometheusMerge"),
        "the wait said why: {stderr}"
    );
    op.stop().await.unwrap();
    // The bare pod would keep the shared operator Warning for the tests after this one.
    Api::<Pod>::namespaced(client.clone(), &n)
        .delete("bare", &Default::default())
        .await
        .unwrap();
    sim.set_cr_spec(&json!({})).await.unwrap();
}

/// Waits until every Deployment of the namespace has `count` ReplicaSets (fails on more).
async fn rolled(client: &kube::Client, ns: &str, count: usize) {
    wait::until(
        &format!("{count} ReplicaSets per Deployment"),
        Duration::from_secs(60),
        || async {
            let sets = replica_sets(client, ns).await;
            assert!(sets.values().all(|c| *c <= count), "{sets:?}");
            Ok(sets.values().all(|c| *c == count).then_some(()))
        },
    )
    .await
    .unwrap();
}

/// Records every `status.state` of the CR `default` from now on.
struct States {
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl States {
    fn abort(&self) {
        self.task.abort();
    }
}

fn states_seen(s: &States) -> Vec<String> {
    s.seen.lock().unwrap().clone()
}

fn record_states(client: &kube::Client) -> States {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let api = Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        "kyma-system",
        &istio_rollout_testenv::sim::istio_resource(),
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    let task = tokio::spawn(async move {
        let config = watcher::Config::default().fields("metadata.name=default");
        let mut stream = watcher(api, config)
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(Ok(cr)) = stream.next().await {
            let s = cr.data["status"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let mut seen = sink.lock().unwrap();
            if seen.last() != Some(&s) {
                seen.push(s);
            }
        }
    });
    States { seen, task }
}

/// The pre-sync gate in front of the autonomous operator: while a one-replica `Recreate`
/// Deployment would go down, the gate refuses and the module is not synced, so the operator
/// restarts nothing; made safe, the gate passes, the sync lands, the operator restarts and the
/// PostSync hook finishes with nothing restarted twice.
#[tokio::test(flavor = "multi_thread")]
async fn the_gate_holds_the_upgrade_until_it_is_safe() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let client = cluster.client().await.unwrap();
    crate::manifests::apply_gate(&client).await;
    let ns = cluster.namespace("beside-gate", true).await.unwrap();
    let n = ns.name().to_string();
    let deployments = Api::<Deployment>::namespaced(client.clone(), &n);
    let mut single = support::deployment("single", 1);
    single.spec.as_mut().unwrap().strategy =
        Some(serde_json::from_value(json!({"type": "Recreate"})).unwrap());
    deployments
        .create(&kube::api::PostParams::default(), &single)
        .await
        .unwrap();
    support::create_deployment(&client, &n, "other", 1).await;
    ready_pods(&client, &n, 2).await;
    let op = AutonomousOperator::start(cluster, &sim, settings())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let gate_kubeconfig = cluster
        .kubeconfig_as(
            crate::manifests::GATE_NAMESPACE,
            crate::manifests::GATE_SERVICE_ACCOUNT,
            tmp.path(),
        )
        .await
        .unwrap();

    // Unsafe: refused, so the sync (the new module) does not happen; the operator has nothing
    // to do.
    let (code, plan, stderr) = crate::gate::gate(&gate_kubeconfig, tmp.path(), &n, &[], &[]);
    assert_eq!(code, 5, "{plan:#}\n{stderr}");
    let reconciles = op.status().await.unwrap().reconciles;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(op.status().await.unwrap().reconciles, reconciles);
    assert!(replica_sets(&client, &n).await.values().all(|c| *c == 1));

    // Made safe: a rolling update that surges. The gate passes; the sync lands (the module of
    // examples/gitops/istio: 1.30.0, Istio 1.30.2) and the hook runs.
    deployments
        .patch(
            "single",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"strategy": {"type": "RollingUpdate"}}})),
        )
        .await
        .unwrap();
    wait::deployment_rollout(&client, &n, "single", Duration::from_secs(60))
        .await
        .unwrap();
    let (code, plan, stderr) = crate::gate::gate(&gate_kubeconfig, tmp.path(), &n, &[], &[]);
    assert_eq!(code, 0, "{plan:#}\n{stderr}");
    let repo = support::desired_repo(support::EMPTY_CR, "1.30.0");
    let kubeconfig = tool_kubeconfig(cluster, &client, repo.path()).await;
    let tool = post_sync(&kubeconfig, repo.path(), &n).spawn().unwrap();
    sim.deploy_module("1.30.0", "1.30.2").await.unwrap();
    let (code, report, stderr) = finished(tool).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let after = replica_sets(&client, &n).await;
    assert_eq!(
        (after["single"], after["other"]),
        (2, 2),
        "restarted once, by the operator: {report:#}"
    );
    let pods = ready_pods(&client, &n, 2).await;
    assert!(pods.iter().all(|p| on(p, "1.30.2")), "every pod on 1.30.2");
    op.stop().await.unwrap();
}

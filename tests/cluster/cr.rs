//! `apply` on the real control plane: the CR path (server-side apply, wait for the operator, then
//! only the ingress gateway restarts), and crash safety (kill `apply`, run it again: it completes
//! and restarts nothing twice).

use crate::common::cli::istio_rollout;
use crate::common::repo::TestRepo;
use crate::support;
use istio_rollout_testenv::sim::last_applied;
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use std::time::Duration;

fn command(
    kubeconfig: &std::path::Path,
    repo: &TestRepo,
    args: &[&str],
) -> tokio::process::Command {
    let mut c = tokio::process::Command::from(istio_rollout());
    c.args(args)
        .args([
            "--repo",
            repo.path().to_str().unwrap(),
            "--path",
            "istio",
            "-o",
            "json",
        ])
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

fn template_annotation(d: &Deployment, key: &str) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(key)
        .cloned()
}

#[tokio::test(flavor = "multi_thread")]
async fn cr_change_is_applied_and_only_the_gateway_restarts_after_the_operator() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let client = cluster.client().await.unwrap();
    let cr = "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata:\n  name: default\n  namespace: kyma-system\nspec:\n  config:\n    numTrustedProxies: 2\n";
    let repo = support::desired_repo(cr, "1.27.4");
    let kc = cluster.kubeconfig_path();

    let plan = command(kc, &repo, &["plan", "--namespace", "istio-system"])
        .output()
        .await
        .unwrap();
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["cr"]["action"], "update", "{plan:#}");
    let entries: Vec<(&str, &str)> = support::own(&plan)
        .into_iter()
        .map(|w| (w["name"].as_str().unwrap(), w["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        entries,
        vec![("istio-ingressgateway", "restart")],
        "{plan:#}"
    );

    let child = command(
        kc,
        &repo,
        &[
            "apply",
            "--namespace",
            "istio-system",
            "--operator-timeout",
            "90s",
        ],
    )
    .spawn()
    .unwrap();
    // Play the operator: once the tool has applied the CR, reconcile it and report it applied.
    let applied = wait::until(
        "the tool to apply numTrustedProxies 2",
        Duration::from_secs(60),
        || {
            let sim = &sim;
            async move {
                let cr = sim.cr().await?;
                Ok(
                    (cr.data.pointer("/spec/config/numTrustedProxies") == Some(&json!(2)))
                        .then_some(cr),
                )
            }
        },
    )
    .await
    .unwrap();
    let managers: Vec<&str> = applied
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.as_deref())
        .collect();
    assert!(managers.contains(&"istio-rollout"), "{managers:?}");
    let gateways = Api::<Deployment>::namespaced(client.clone(), "istio-system");
    let before = gateways.get("istio-ingressgateway").await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        gateways
            .get("istio-ingressgateway")
            .await
            .unwrap()
            .metadata
            .generation,
        before.metadata.generation,
        "the gateway must not restart before the operator applied the new settings"
    );
    sim.set_cr_status(
        "Ready",
        &last_applied(&json!({"config": {"numTrustedProxies": 2}}), "1.29.3"),
    )
    .await
    .unwrap();

    let report = support::succeeded(child).await;
    let results: Vec<(&str, &str)> = support::own(&report)
        .into_iter()
        .map(|w| (w["name"].as_str().unwrap(), w["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        vec![("istio-ingressgateway", "restarted")],
        "{report:#}"
    );
    let after = gateways.get("istio-ingressgateway").await.unwrap();
    assert!(
        template_annotation(&after, "istio-rollout/restarted-for")
            .unwrap()
            .starts_with("ingress-gateway-config=numTrustedProxies:2")
    );
    let again = command(kc, &repo, &["plan", "--namespace", "istio-system"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_apply_continues_and_restarts_nothing_twice() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("crash", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    let api = Api::<Deployment>::namespaced(client.clone(), &n);
    let names: Vec<String> = (0..4).map(|i| format!("svc-{i}")).collect();
    for name in &names {
        support::create_deployment(&client, &n, name, 2).await;
    }
    for name in &names {
        wait::deployment_rollout(&client, &n, name, Duration::from_secs(60))
            .await
            .unwrap();
    }
    support::upgrade(&sim).await;
    let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");
    let kc = cluster.kubeconfig_path();

    // Kill the first run as soon as it has restarted one workload.
    let mut child = command(
        kc,
        &repo,
        &["apply", "--namespace", &n, "--max-concurrent", "1"],
    )
    .spawn()
    .unwrap();
    wait::until("the first restart", Duration::from_secs(60), || {
        let api = api.clone();
        async move {
            let list = api.list(&ListParams::default()).await?;
            Ok(list
                .items
                .iter()
                .any(|d| template_annotation(d, "istio-rollout/restarted-for").is_some())
                .then_some(()))
        }
    })
    .await
    .unwrap();
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let restarted_by_first: usize = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|d| template_annotation(d, "istio-rollout/restarted-for").is_some())
        .count();
    assert!(
        restarted_by_first < names.len(),
        "the first run was killed before it finished"
    );

    let out = command(kc, &repo, &["apply", "--namespace", &n])
        .output()
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["remaining"]["pending"], false, "{report:#}");

    // Every restart makes one new ReplicaSet: one original plus exactly one restart each.
    let rs = Api::<ReplicaSet>::namespaced(client.clone(), &n)
        .list(&ListParams::default())
        .await
        .unwrap();
    for name in &names {
        let count = rs
            .items
            .iter()
            .filter(|r| {
                r.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| &o.name == name)
            })
            .count();
        assert_eq!(count, 2, "{name} has {count} ReplicaSets: {report:#}");
    }
    let plan = command(kc, &repo, &["plan", "--namespace", &n])
        .output()
        .await
        .unwrap();
    assert_eq!(plan.status.code(), Some(0));
}

/// Fields another field manager set (here an Argo CD sync) and git no longer has are removed by
/// `apply`, and a field it set to another value is taken over: the live spec ends exactly as git's,
/// the report names what was removed and who had set it, and planning again is empty.
#[tokio::test(flavor = "multi_thread")]
async fn apply_removes_fields_other_managers_set_and_git_dropped() {
    use kube::api::{DynamicObject, Patch, PatchParams};
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let client = cluster.client().await.unwrap();
    let crs: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "kyma-system",
        &istio_rollout_testenv::sim::istio_resource(),
    );
    let theirs = json!({"apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
                        "metadata": {"name": "default", "namespace": "kyma-system"},
                        "spec": {"compatibilityMode": true,
                                 "config": {"gatewayExternalTrafficPolicy": "Local"}}});
    crs.patch(
        "default",
        &PatchParams::apply("argocd-controller").force(),
        &Patch::Apply(&theirs),
    )
    .await
    .unwrap();
    let cr = "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata:\n  name: default\n  namespace: kyma-system\nspec:\n  config:\n    gatewayExternalTrafficPolicy: Cluster\n";
    let repo = support::desired_repo(cr, "1.27.4");
    let kc = cluster.kubeconfig_path();
    let want = json!({"config": {"gatewayExternalTrafficPolicy": "Cluster"}});

    let (code, plan, _) =
        support::run_json(kc, &repo, &["plan", "--namespace", "istio-system"]).await;
    assert_eq!(code, Some(1), "{plan:#}");
    assert_eq!(plan["cr"]["action"], "update", "{plan:#}");
    assert!(
        plan["cr"]["diff"]
            .as_str()
            .unwrap()
            .contains("-  compatibilityMode: true"),
        "{plan:#}"
    );

    let child = command(
        kc,
        &repo,
        &[
            "apply",
            "--namespace",
            "istio-system",
            "--operator-timeout",
            "90s",
        ],
    )
    .spawn()
    .unwrap();
    // Play the operator once the spec is git's.
    wait::until("the spec to be git's", Duration::from_secs(60), || {
        let sim = &sim;
        let want = &want;
        async move {
            let cr = sim.cr().await?;
            Ok((cr.data["spec"] == *want).then_some(()))
        }
    })
    .await
    .unwrap();
    sim.set_cr_status("Ready", &last_applied(&want, "1.29.3"))
        .await
        .unwrap();
    let report = support::succeeded(child).await;
    assert_eq!(
        report["cr"],
        "applied with server-side apply (field manager istio-rollout); removed what git no longer sets: spec.compatibilityMode (set by argocd-controller)",
        "{report:#}"
    );
    let live = sim.cr().await.unwrap();
    assert_eq!(live.data["spec"], want);
    // Git's field is now this tool's; the other manager owns nothing of the spec any more.
    let owners = |manager: &str| -> Option<Value> {
        live.metadata
            .managed_fields
            .iter()
            .flatten()
            .find(|m| m.manager.as_deref() == Some(manager))
            .and_then(|m| m.fields_v1.as_ref())
            .map(|f| f.0.clone())
    };
    assert!(
        owners("istio-rollout").is_some_and(|f| f["f:spec"]["f:config"]
            .get("f:gatewayExternalTrafficPolicy")
            .is_some()),
        "{:#?}",
        live.metadata.managed_fields
    );
    assert!(
        owners("argocd-controller").is_none_or(|f| f.get("f:spec").is_none()),
        "{:#?}",
        live.metadata.managed_fields
    );
    let (code, again, _) =
        support::run_json(kc, &repo, &["plan", "--namespace", "istio-system"]).await;
    assert_eq!(code, Some(0), "{again:#}");
}

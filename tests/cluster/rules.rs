//! The settings rules on the real control plane: git turns on prometheus merge, DNS proxying,
//! sidecar resources and compatibility mode; `apply` applies the CR, waits for the (simulated)
//! operator, restarts, and the restarted pods satisfy every rule, so planning again is empty.
//! A workload whose template sets `sidecar.istio.io/proxyCPU` gets only that from the injector
//! (Istio's resource-annotation rule) and is never planned for the CR's resources.

use crate::common::cli::istio_rollout;
use crate::common::repo::TestRepo;
use crate::support;
use crate::support::own;
use istio_rollout_testenv::sim::last_applied;
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const CR: &str = "apiVersion: operator.kyma-project.io/v1alpha2
kind: Istio
metadata:
  name: default
  namespace: kyma-system
spec:
  compatibilityMode: true
  config:
    enableDNSProxying: true
    telemetry:
      metrics:
        prometheusMerge: true
  components:
    proxy:
      k8s:
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
";

fn command(kc: &std::path::Path, repo: &TestRepo, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::from(istio_rollout());
    c.args(args)
        .args([
            "--repo",
            repo.path().to_str().unwrap(),
            "--path",
            "istio",
            "-o",
            "json",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_rules_restart_once_and_converge() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("rules", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    support::create_deployment(&client, &n, "web", 2).await;
    let mut annotated = support::deployment("annotated", 1);
    annotated
        .spec
        .as_mut()
        .unwrap()
        .template
        .metadata
        .get_or_insert_with(Default::default)
        .annotations = Some(BTreeMap::from([(
        "sidecar.istio.io/proxyCPU".to_string(),
        "50m".to_string(),
    )]));
    Api::<Deployment>::namespaced(client.clone(), &n)
        .create(&PostParams::default(), &annotated)
        .await
        .unwrap();
    for name in ["web", "annotated"] {
        wait::deployment_rollout(&client, &n, name, Duration::from_secs(60))
            .await
            .unwrap();
    }
    let repo = support::desired_repo(CR, "1.27.4");
    let kc = cluster.kubeconfig_path();

    let plan = command(kc, &repo, &["plan", "--namespace", &n])
        .output()
        .await
        .unwrap();
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let entries = own(&plan);
    assert_eq!(entries.len(), 2, "{plan:#}");
    let reasons = |name: &str| {
        entries
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["reasons"].clone())
    };
    // Istio 1.29 has no compatibility proxy flags: the toggle restarts nothing.
    assert_eq!(
        reasons("web"),
        Some(json!([
            "prometheus-merge",
            "dns-proxying",
            "proxy-resources"
        ])),
        "{plan:#}"
    );
    // Its annotation, not the CR, gives the proxy's resources.
    assert_eq!(
        reasons("annotated"),
        Some(json!(["prometheus-merge", "dns-proxying"])),
        "{plan:#}"
    );

    let child = command(
        kc,
        &repo,
        &["apply", "--namespace", &n, "--operator-timeout", "90s"],
    )
    .spawn()
    .unwrap();
    wait::until("the tool to apply the CR", Duration::from_secs(60), || {
        let sim = &sim;
        async move {
            let cr = sim.cr().await?;
            Ok((cr
                .data
                .pointer("/spec/config/telemetry/metrics/prometheusMerge")
                == Some(&json!(true)))
            .then_some(cr))
        }
    })
    .await
    .unwrap();
    // Play the operator: new injection settings, then report the spec applied.
    sim.update_settings(|s| {
        s.prometheus_merge = true;
        s.dns_proxying = true;
        s.compatibility_mode = true;
        s.resources.requests = Some(BTreeMap::from([
            ("cpu".to_string(), Quantity("100m".into())),
            ("memory".to_string(), Quantity("128Mi".into())),
        ]));
    })
    .await
    .unwrap();
    let spec: Value = serde_saphyr::from_str::<Value>(CR).unwrap()["spec"].clone();
    sim.set_cr_status("Ready", &last_applied(&spec, "1.29.3"))
        .await
        .unwrap();

    let report = support::succeeded(child).await;
    let results: Vec<&Value> = own(&report).into_iter().map(|w| &w["result"]).collect();
    assert_eq!(results, vec!["restarted", "restarted"], "{report:#}");
    assert_eq!(report["remaining"]["pending"], false, "{report:#}");

    let again = command(kc, &repo, &["plan", "--namespace", &n])
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

/// The names of the init containers of the pods labelled `app=<app>` in `ns`, per pod.
async fn init_containers(client: &kube::Client, ns: &str, app: &str) -> Vec<Vec<String>> {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), ns);
    let list = pods
        .list(&kube::api::ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap();
    list.items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            p.spec
                .iter()
                .flat_map(|s| s.init_containers.iter().flatten())
                .map(|c| c.name.clone())
                .collect()
        })
        .collect()
}

/// `disableCni` in git (and synced to the cluster, which the injector reads): the pods injected
/// with `istio-validation` restart once and come back with `istio-init`; planning again is empty.
#[tokio::test(flavor = "multi_thread")]
async fn cni_off_restarts_once_and_converges() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("cni", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    support::create_deployment(&client, &n, "web", 2).await;
    wait::deployment_rollout(&client, &n, "web", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        init_containers(&client, &n, "web")
            .await
            .iter()
            .all(|c| c.contains(&"istio-validation".to_string()))
    );
    let features = json!({"disableCni": true});
    let repo = support::desired_repo(support::EMPTY_CR, "1.27.4");
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-features\n  namespace: kyma-system\ndata:\n  features: '{features}'\n"
    );
    repo.commit(&[("istio/features.yaml", cm.as_str())], &[], "CNI off");
    // What the GitOps sync does with that file.
    sim.set_features(&features).await.unwrap();

    let (plan, report) = support::plan_apply_plan(cluster.kubeconfig_path(), &repo, &n).await;
    let planned: Vec<(&Value, &Value)> = own(&plan)
        .into_iter()
        .map(|e| (&e["name"], &e["reasons"]))
        .collect();
    assert_eq!(planned, [(&json!("web"), &json!(["cni"]))], "{plan:#}");
    let results: Vec<&Value> = own(&report).into_iter().map(|w| &w["result"]).collect();
    assert_eq!(results, [&json!("restarted")], "{report:#}");
    let inits = init_containers(&client, &n, "web").await;
    assert_eq!(inits.len(), 2, "{inits:?}");
    assert!(
        inits.iter().all(|c| c.contains(&"istio-init".to_string())
            && !c.contains(&"istio-validation".to_string())),
        "{inits:?}"
    );
}

/// `enableAmbient` and `enableDualStack` on module 1.32.0 of a dual-stack cluster, from the live
/// ConfigMap (git holds none): the operator restarts nothing for them, the tool restarts each
/// sidecar once and the new ones carry `ISTIO_META_ENABLE_HBONE` and `ISTIO_DUAL_STACK`.
#[tokio::test(flavor = "multi_thread")]
async fn ambient_and_dual_stack_restart_once_and_converge() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    sim.upgrade("1.32.0", "1.31.0").await.unwrap();
    sim.wait_control_plane(Duration::from_secs(60))
        .await
        .unwrap();
    // What the operator records once it installed 1.31.0 (the passive simulation does not):
    // from module 1.31 apply waits for that record, not for Ready.
    sim.set_cr_status("Ready", &last_applied(&json!({}), "1.31.0"))
        .await
        .unwrap();
    let ns = cluster.namespace("ambient", true).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    support::create_deployment(&client, &n, "web", 1).await;
    wait::deployment_rollout(&client, &n, "web", Duration::from_secs(60))
        .await
        .unwrap();
    sim.set_features(&json!({"enableAmbient": true, "enableDualStack": true}))
        .await
        .unwrap();
    sim.set_dual_stack_cluster(true).await.unwrap();
    let repo = support::desired_repo(support::EMPTY_CR, "1.32.0");

    let (plan, report) = support::plan_apply_plan(cluster.kubeconfig_path(), &repo, &n).await;
    let planned: Vec<(&Value, &Value)> = own(&plan)
        .into_iter()
        .map(|e| (&e["name"], &e["reasons"]))
        .collect();
    assert_eq!(
        planned,
        [(&json!("web"), &json!(["ambient", "dual-stack"]))],
        "{plan:#}"
    );
    let results: Vec<&Value> = own(&report).into_iter().map(|w| &w["result"]).collect();
    assert_eq!(results, [&json!("restarted")], "{report:#}");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), &n);
    let list = pods
        .list(&kube::api::ListParams::default().labels("app=web"))
        .await
        .unwrap();
    let env: Vec<BTreeMap<String, String>> = list
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .flat_map(|p| p.spec.iter())
        .flat_map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(s.containers.iter())
        })
        .filter(|c| c.name == "istio-proxy")
        .map(|c| {
            c.env
                .iter()
                .flatten()
                .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
                .collect()
        })
        .collect();
    assert_eq!(env.len(), 1, "{env:?}");
    assert_eq!(
        env[0].get("ISTIO_META_ENABLE_HBONE").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        env[0].get("ISTIO_DUAL_STACK").map(String::as_str),
        Some("true")
    );
}

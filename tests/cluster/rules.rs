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

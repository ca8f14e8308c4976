//! Cluster helpers for the tests that run against the real control plane.

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The API resource of an object (`apiVersion`, `kind`; plural: the kind in lower case plus `s`,
/// right for every kind the tests create).
pub fn api_resource(obj: &Value) -> ApiResource {
    let api_version = obj["apiVersion"].as_str().unwrap();
    let kind = obj["kind"].as_str().unwrap();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
    }
}

/// Creates one object (any kind, from its JSON) in `namespace`.
pub async fn create(client: &kube::Client, namespace: &str, obj: Value) {
    let ar = api_resource(&obj);
    let o: DynamicObject = serde_json::from_value(obj).unwrap();
    Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &ar)
        .create(&kube::api::PostParams::default(), &o)
        .await
        .unwrap_or_else(|e| panic!("creating {} in {namespace}: {e}", ar.kind));
}

/// Server-side applies every object of the YAML files in `dir` (not the kustomization).
pub async fn apply_dir(client: &kube::Client, dir: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files.iter().filter(|f| {
        f.extension().is_some_and(|e| e == "yaml") && !f.ends_with("kustomization.yaml")
    }) {
        let text = std::fs::read_to_string(file).unwrap();
        for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            let kind = doc["kind"].as_str().unwrap();
            let ar = api_resource(&doc);
            let name = doc["metadata"]["name"].as_str().unwrap().to_string();
            let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                None => Api::all_with(client.clone(), &ar),
            };
            api.patch(
                &name,
                &PatchParams::apply("istio-rollout-tests").force(),
                &Patch::Apply(&doc),
            )
            .await
            .unwrap_or_else(|e| panic!("applying {kind} {name} from {}: {e}", file.display()));
        }
    }
}

/// Applies manifests/base (namespace, ServiceAccount, ClusterRole, the Lease Role and their
/// bindings) for real, as the tool's install does.
pub async fn apply_base(client: &kube::Client) {
    apply_dir(
        client,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/base"),
    )
    .await;
}

/// The entries of a plan or report that are not skips. With `--namespace`, workloads of other
/// namespaces (other tests running at the same time) are listed as `skip`/`skipped`.
pub fn own(v: &Value) -> Vec<&Value> {
    v["workloads"]
        .as_array()
        .expect("a plan or report with workloads")
        .iter()
        .filter(|w| w["action"] != "skip")
        .collect()
}

/// An Istio CR that sets nothing: the desired state of tests about the module version.
pub const EMPTY_CR: &str = "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata:\n  name: default\n  namespace: kyma-system\nspec: {}\n";

/// A repository whose `istio/` holds this CR and an `ISTIO_MODULE_VERSION` file.
pub fn desired_repo(cr: &str, module: &str) -> crate::common::repo::TestRepo {
    let repo = crate::common::repo::TestRepo::new();
    let version = format!("{module}\n");
    repo.commit(
        &[
            ("istio/cr.yaml", cr),
            ("istio/ISTIO_MODULE_VERSION", &version),
        ],
        &[],
        &format!("module {module}"),
    );
    repo
}

/// Plays the operator of a module upgrade: module 1.28.0, control plane on Istio 1.30.2.
pub async fn upgrade(sim: &istio_rollout_testenv::Sim) {
    sim.upgrade("1.28.0", "1.30.2").await.unwrap();
    sim.wait_control_plane(std::time::Duration::from_secs(60))
        .await
        .unwrap();
}

/// A Deployment of `replicas` pods with one plain container, labelled `app: <name>`.
pub fn deployment(name: &str, replicas: i32) -> k8s_openapi::api::apps::v1::Deployment {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "example/app:1"}]}}}
    }))
    .unwrap()
}

/// Creates [`deployment`] in `namespace`.
pub async fn create_deployment(client: &kube::Client, namespace: &str, name: &str, replicas: i32) {
    Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), namespace)
        .create(
            &kube::api::PostParams::default(),
            &deployment(name, replicas),
        )
        .await
        .unwrap();
}

/// Waits for a run of the tool started with `-o json`, asserts it exited 0 (its report and stderr
/// in the message), and returns the report.
pub async fn succeeded(child: tokio::process::Child) -> Value {
    let out = child.wait_with_output().await.unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// Runs the tool with `args` against the repository's `istio/` as JSON; (exit code, output,
/// stderr).
pub async fn run_json(
    kc: &Path,
    repo: &crate::common::repo::TestRepo,
    args: &[&str],
) -> (Option<i32>, Value, String) {
    let mut c = tokio::process::Command::from(crate::common::cli::istio_rollout());
    c.args(args).args([
        "--repo",
        repo.path().to_str().unwrap(),
        "--path",
        "istio",
        "-o",
        "json",
        "--kubeconfig",
        kc.to_str().unwrap(),
    ]);
    let out = c.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: {e}: {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code(), v, stderr)
}

/// The level-triggered round trip in namespace `ns`: `plan` has work (exit 1), `apply` does it
/// (exit 0, nothing left pending), and `plan` again has none (exit 0). Returns the first plan
/// and the apply report.
pub async fn plan_apply_plan(
    kc: &Path,
    repo: &crate::common::repo::TestRepo,
    ns: &str,
) -> (Value, Value) {
    let (code, plan, stderr) = run_json(kc, repo, &["plan", "--namespace", ns]).await;
    assert_eq!(code, Some(1), "the first plan has work: {plan:#}\n{stderr}");
    let (code, report, stderr) =
        run_json(kc, repo, &["apply", "--namespace", ns, "--timeout", "2m"]).await;
    assert_eq!(code, Some(0), "apply: {report:#}\n{stderr}");
    assert_eq!(report["remaining"]["pending"], false, "{report:#}");
    let (code, again, stderr) = run_json(kc, repo, &["plan", "--namespace", ns]).await;
    assert_eq!(
        code,
        Some(0),
        "planning again is empty: {again:#}\n{stderr}"
    );
    (plan, report)
}

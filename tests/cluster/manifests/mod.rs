//! The deployment manifests (`manifests/`) against the test cluster:
//!
//! - every kustomization (rendered with the cluster's `kubectl kustomize`) and the CRD are
//!   server-side applied as a dry run with strict field validation (an unknown field or a typo
//!   fails); `manifests/base` is applied for real first, as the apply tests do;
//! - the pod template of every Job and CronJob is dry-run created as a Pod in the `istio-rollout`
//!   namespace, whose Pod Security level `restricted` is enforced (a privileged control pod proves
//!   the admission plugin is on);
//! - the RBAC of `manifests/base` and `manifests/readonly` is checked with SubjectAccessReviews
//!   against what the code calls, and `plan`/`snapshot` run as an identity with only the
//!   read-only role ([`rbac`]);
//! - the container command of every Job runs the real binary, with the manifest's arguments and
//!   environment, as the ServiceAccount of `manifests/base`, with `--dry-run` ([`jobs`]).
//!
//! What needs no cluster (structure, Argo CD, Flux, the workflow example) is in
//! `tests/offline/manifests/`.

pub mod jobs;
mod rbac;

use crate::common::manifests::*;
use istio_rollout_testenv::Cluster;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use serde_json::{Value, json};

const MANAGER: &str = "istio-rollout-manifests-test";
const NAMESPACE: &str = "istio-rollout";
const SERVICE_ACCOUNT: &str = "system:serviceaccount:istio-rollout:istio-rollout";
/// The pre-sync gate's namespace and ServiceAccount (manifests/gate).
pub const GATE_NAMESPACE: &str = "istio-rollout-gate";
pub const GATE_SERVICE_ACCOUNT: &str = "istio-rollout-gate";

async fn api_for(client: &kube::Client, o: &Value) -> Api<DynamicObject> {
    let api_version = o["apiVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no apiVersion", name_of(o)));
    let kind = o["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no kind", name_of(o)));
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{}: the API server does not serve {api_version} {kind}: {e}",
                name_of(o)
            )
        });
    match (caps.scope, o["metadata"]["namespace"].as_str()) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        (Scope::Namespaced, None) => panic!("{}: namespaced kind without a namespace", name_of(o)),
        (Scope::Cluster, None) => Api::all_with(client.clone(), &ar),
        (Scope::Cluster, Some(_)) => panic!("{}: cluster-scoped kind with a namespace", name_of(o)),
    }
}

/// Server-side apply as a dry run, with strict field validation: unknown or duplicate fields
/// are errors, not warnings.
async fn dry_run(client: &kube::Client, o: &Value, from: &str) {
    let api = api_for(client, o).await;
    let name = o["metadata"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{from}: {}: no metadata.name", name_of(o)));
    let mut pp = PatchParams::apply(MANAGER).dry_run().force();
    pp.field_validation = Some(kube::api::ValidationDirective::Strict);
    api.patch(name, &pp, &Patch::Apply(o))
        .await
        .unwrap_or_else(|e| panic!("{from}: the API server rejects {}: {e}", name_of(o)));
}

/// The pod templates of the Jobs and CronJobs among `objects`, with where they come from and
/// the namespace their pods run in.
fn pod_templates(objects: &[Value]) -> Vec<(String, String, Value)> {
    objects
        .iter()
        .filter_map(|o| {
            let ns = o["metadata"]["namespace"].as_str()?.to_string();
            match o["kind"].as_str() {
                Some("Job") => Some((name_of(o), ns, o["spec"]["template"].clone())),
                Some("CronJob") => Some((
                    name_of(o),
                    ns,
                    o["spec"]["jobTemplate"]["spec"]["template"].clone(),
                )),
                _ => None,
            }
        })
        .collect()
}

/// Applies manifests/base for real (as the apply tests do), so the namespace, ServiceAccount
/// and RBAC exist for the dry runs and the runs below.
async fn apply_base(client: &kube::Client) {
    crate::support::apply_base(client).await;
}

/// Applies manifests/gate for real (its namespace, ServiceAccount, the read-only role and the
/// binding), as a GitOps tool would before the gate's Job runs.
pub async fn apply_gate(client: &kube::Client) {
    for o in rendered("gate") {
        let api = api_for(client, &o).await;
        api.patch(
            o["metadata"]["name"].as_str().unwrap(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&o),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {} of manifests/gate: {e}", name_of(&o)));
    }
}

#[tokio::test]
async fn every_manifest_is_accepted_by_the_api_server() {
    let cluster = Cluster::shared();
    let client = cluster.client().await.unwrap();
    apply_base(&client).await;
    apply_gate(&client).await;

    let mut pods = Vec::new();
    for dir in KUSTOMIZATIONS {
        let objects = rendered(dir);
        for o in &objects {
            dry_run(&client, o, &format!("manifests/{dir}")).await;
        }
        pods.extend(pod_templates(&objects));
    }
    // The chart's variants, rendered with helm, as the kustomize bases are.
    for variant in CHART_VARIANTS {
        for o in helm_template(&[&format!("variant={variant}")]) {
            dry_run(
                &client,
                &o,
                &format!("charts/istio-rollout variant={variant}"),
            )
            .await;
        }
    }
    for (file, what) in STANDALONE {
        if what.contains("dry-run") {
            for o in yaml_file(file) {
                dry_run(&client, &o, &format!("manifests/{file}")).await;
            }
        }
    }
    assert_eq!(
        pods.len(),
        5,
        "the Argo CD, Flux and CronJob pod templates, and the two pre-sync gates"
    );

    // Pod Security admission enforces "restricted" in the namespaces of the Jobs (istio-rollout,
    // and istio-rollout-gate for the gates): a privileged pod is turned away (so the check below
    // means something), each template's pod is not.
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let namespaces: std::collections::BTreeSet<&str> =
        pods.iter().map(|(_, ns, _)| ns.as_str()).collect();
    assert_eq!(
        namespaces,
        [NAMESPACE, GATE_NAMESPACE].into_iter().collect(),
        "the Jobs' namespaces"
    );
    for ns in namespaces {
        let pod_api: Api<DynamicObject> = api_for(
            &client,
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ns}}),
        )
        .await;
        let privileged: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "privileged-control", "namespace": ns},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                      "securityContext": {"privileged": true}}]}
        }))
        .unwrap();
        let err = pod_api
            .create(&pp, &privileged)
            .await
            .expect_err("a privileged pod must be rejected in the Jobs' namespaces");
        assert!(
            err.to_string().contains("PodSecurity") || err.to_string().contains("violates"),
            "{ns}: rejected by Pod Security admission: {err}"
        );
    }
    for (i, (from, ns, template)) in pods.into_iter().enumerate() {
        let pod_api: Api<DynamicObject> = api_for(
            &client,
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ns}}),
        )
        .await;
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
                             "metadata": template["metadata"].clone(), "spec": template["spec"].clone()});
        pod["metadata"]["name"] = json!(format!("template-{i}"));
        pod["metadata"]["namespace"] = json!(ns);
        let pod: DynamicObject = serde_json::from_value(pod).unwrap();
        pod_api
            .create(&pp, &pod)
            .await
            .unwrap_or_else(|e| panic!("{from}: its pod is rejected in namespace {ns}: {e}"));
    }
}

//! The RBAC of manifests/base and manifests/readonly: exactly what the tool calls, nothing more.

use super::{
    GATE_NAMESPACE, GATE_SERVICE_ACCOUNT, MANAGER, SERVICE_ACCOUNT, api_for, apply_base, apply_gate,
};
use crate::common::cli::istio_rollout;
use crate::common::manifests::*;
use istio_rollout_testenv::Cluster;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn is_strings(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| a.iter().all(Value::is_string) && !a.is_empty())
}

/// Every (verb, group, resource) a ClusterRole of manifests/ grants, asserting that its rules
/// list names only (no wildcards).
fn granted(rel: &str) -> BTreeSet<(String, String, String)> {
    granted_by(&one(rel), rel)
}

/// [`granted`] of the chart's ClusterRole `name` in `variant` (rendered with helm): the checks
/// of the manifests' roles below cover the chart's too.
fn chart_role(variant: &str, name: &str) -> BTreeSet<(String, String, String)> {
    let objects = helm_template(&[&format!("variant={variant}")]);
    let role = objects
        .iter()
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the chart's variant {variant} has ClusterRole {name}"));
    granted_by(role, &format!("charts/istio-rollout variant={variant}"))
}

/// [`granted`] of a ClusterRole object.
fn granted_by(role: &Value, rel: &str) -> BTreeSet<(String, String, String)> {
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for key in ["apiGroups", "resources", "verbs"] {
            assert!(
                is_strings(&rule[key]) && !rule[key].as_array().unwrap().iter().any(|v| v == "*"),
                "{rel}: {key} must list names, no wildcards: {rule}"
            );
        }
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    granted.insert((
                        v.as_str().unwrap().to_string(),
                        g.as_str().unwrap().to_string(),
                        r.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    granted
}

async fn allowed(client: &kube::Client, user: &str, attrs: ResourceAttributes) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_string()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(attrs),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap()
        .allowed
}

/// Waits (up to 10 s) until `user` may do `attrs`: the authorizer sees a binding just applied a
/// moment later, and checks made before that would fail for the wrong reason.
async fn until_allowed(client: &kube::Client, user: &str, attrs: ResourceAttributes) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !allowed(client, user, attrs.clone()).await {
        assert!(
            std::time::Instant::now() < deadline,
            "{user} is still not allowed {attrs:?} 10 s after its binding was applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn attrs(verb: &str, group: &str, resource: &str, ns: Option<&str>) -> ResourceAttributes {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_string())),
        None => (resource, None),
    };
    ResourceAttributes {
        verb: Some(verb.into()),
        group: Some(group.into()),
        resource: Some(resource.into()),
        subresource,
        namespace: ns.map(String::from),
        ..Default::default()
    }
}

/// What the code calls (src/live/cluster.rs, src/apply/k8s.rs): cluster-wide lists of
/// everything the planner reads, namespaced lists of the control plane (the operator wait's
/// `read_operator_view`), the mesh ConfigMap, gets of workloads and pods, server-side apply
/// (patch, and create for a CR that does not exist yet), evictions and events.
const USED: [(&str, &str, &str, bool); 28] = [
    // (verb, group, resource, cluster-wide)
    ("list", "operator.kyma-project.io", "istios", true),
    ("list", "", "namespaces", true),
    ("get", "operator.kyma-project.io", "istios", false),
    ("patch", "operator.kyma-project.io", "istios", false),
    ("create", "operator.kyma-project.io", "istios", false),
    ("list", "apps", "deployments", true),
    ("list", "apps", "statefulsets", true),
    ("list", "apps", "daemonsets", true),
    ("list", "apps", "replicasets", true),
    ("list", "", "replicationcontrollers", true),
    ("list", "batch", "jobs", true),
    ("list", "batch", "cronjobs", true),
    ("list", "policy", "poddisruptionbudgets", true),
    ("list", "", "pods", true),
    ("list", "apps", "deployments", false),
    ("list", "apps", "daemonsets", false),
    ("list", "", "pods", false),
    ("get", "apps", "deployments", false),
    ("get", "apps", "statefulsets", false),
    ("get", "apps", "daemonsets", false),
    ("get", "apps", "replicasets", false),
    ("get", "", "replicationcontrollers", false),
    ("get", "", "pods", false),
    ("patch", "apps", "deployments", false),
    ("patch", "apps", "statefulsets", false),
    ("patch", "apps", "daemonsets", false),
    ("create", "", "pods/eviction", false),
    ("create", "events.k8s.io", "events", false),
];

/// The ConfigMaps it gets by name (namespace, name): the mesh config, the module's feature flags
/// and the provisioning details; the same list as the reader's.
const CONFIG_MAPS: [(&str, &str); 3] = [
    ("istio-system", "istio"),
    ("kyma-system", "istio-features"),
    ("kyma-system", "kyma-provisioning-info"),
];

#[test]
fn the_config_maps_are_the_ones_the_reader_gets() {
    assert_eq!(CONFIG_MAPS, istio_rollout::live::cluster::CONFIG_MAPS);
}

/// Names each ConfigMap of [`CONFIG_MAPS`] that `user` may not get.
async fn config_maps_denied(client: &kube::Client, user: &str) -> Vec<String> {
    let mut denied = Vec::new();
    for (ns, name) in CONFIG_MAPS {
        let mut cm = attrs("get", "", "configmaps", Some(ns));
        cm.name = Some(name.into());
        if !allowed(client, user, cm).await {
            denied.push(format!("get configmaps {ns}/{name}"));
        }
    }
    denied
}

/// What it must never be able to do.
const NEVER: [(&str, &str, &str); 14] = [
    ("delete", "", "pods"),
    ("deletecollection", "", "pods"),
    ("update", "apps", "deployments"),
    ("delete", "apps", "deployments"),
    ("create", "apps", "deployments"),
    ("patch", "apps", "replicasets"),
    ("delete", "operator.kyma-project.io", "istios"),
    ("update", "operator.kyma-project.io", "istios"),
    ("get", "", "secrets"),
    ("list", "", "secrets"),
    ("list", "", "configmaps"),
    ("create", "", "pods/exec"),
    ("patch", "", "nodes"),
    ("create", "rbac.authorization.k8s.io", "clusterroles"),
];

#[tokio::test]
async fn rbac_is_exactly_what_the_tool_uses() {
    let cluster = Cluster::shared();
    let client = cluster.client().await.unwrap();
    apply_base(&client).await;
    until_allowed(&client, SERVICE_ACCOUNT, attrs("list", "", "pods", None)).await;

    // No wildcards anywhere, and nothing beyond the table above.
    let granted = granted("base/clusterrole.yaml");
    assert_eq!(
        chart_role("base", "istio-rollout"),
        granted,
        "the chart's ClusterRole grants what manifests/base grants"
    );
    let mut used: BTreeSet<(String, String, String)> = USED
        .iter()
        .map(|(v, g, r, _)| (v.to_string(), g.to_string(), r.to_string()))
        .collect();
    // kube's event recorder patches an event it has sent before (a series).
    used.insert(("patch".into(), "events.k8s.io".into(), "events".into()));
    // The ConfigMaps of CONFIG_MAPS, by name.
    used.insert(("get".into(), "".into(), "configmaps".into()));
    let extra: Vec<_> = granted.difference(&used).collect();
    assert!(
        extra.is_empty(),
        "clusterrole.yaml grants what the tool never uses: {extra:?}"
    );

    let mut denied = Vec::new();
    for (verb, group, resource, cluster_wide) in USED {
        let ns = (!cluster_wide).then_some("some-namespace");
        if !allowed(&client, SERVICE_ACCOUNT, attrs(verb, group, resource, ns)).await {
            denied.push(format!("{verb} {resource}.{group}"));
        }
    }
    denied.extend(config_maps_denied(&client, SERVICE_ACCOUNT).await);
    assert!(denied.is_empty(), "the ServiceAccount lacks: {denied:?}");

    let mut too_much = Vec::new();
    for (verb, group, resource) in NEVER {
        if allowed(
            &client,
            SERVICE_ACCOUNT,
            attrs(verb, group, resource, Some("default")),
        )
        .await
        {
            too_much.push(format!("{verb} {resource}.{group}"));
        }
    }
    let mut other_cm = attrs("get", "", "configmaps", Some("istio-system"));
    other_cm.name = Some("sim-injector".into());
    if allowed(&client, SERVICE_ACCOUNT, other_cm).await {
        too_much.push("get configmaps other than those of CONFIG_MAPS".into());
    }
    assert!(too_much.is_empty(), "the ServiceAccount may: {too_much:?}");
}

/// The Lease `apply` holds (src/apply/lease.rs: kube-lease-manager gets, creates and patches
/// it): granted in kyma-system for that one name, and nowhere else.
#[tokio::test]
async fn the_lease_is_granted_by_name_in_kyma_system_only() {
    let cluster = Cluster::shared();
    let client = cluster.client().await.unwrap();
    apply_base(&client).await;
    let lease = |verb: &str, ns: &str, name: Option<&str>| {
        let mut a = attrs(verb, "coordination.k8s.io", "leases", Some(ns));
        a.name = name.map(String::from);
        a
    };
    until_allowed(
        &client,
        SERVICE_ACCOUNT,
        lease("create", "kyma-system", None),
    )
    .await;
    let granted = granted("base/lease-role.yaml");
    let expected: BTreeSet<(String, String, String)> = ["create", "get", "patch"]
        .iter()
        .map(|v| (v.to_string(), "coordination.k8s.io".into(), "leases".into()))
        .collect();
    assert_eq!(granted, expected, "base/lease-role.yaml");
    let mut denied = Vec::new();
    for (verb, name) in [
        ("create", None),
        ("get", Some("istio-rollout")),
        ("patch", Some("istio-rollout")),
    ] {
        if !allowed(&client, SERVICE_ACCOUNT, lease(verb, "kyma-system", name)).await {
            denied.push(format!("{verb} leases kyma-system/{name:?}"));
        }
    }
    assert!(denied.is_empty(), "the ServiceAccount lacks: {denied:?}");
    let mut too_much = Vec::new();
    for (verb, ns, name) in [
        ("get", "kyma-system", Some("other")),
        ("patch", "kyma-system", Some("other")),
        ("update", "kyma-system", Some("istio-rollout")),
        ("delete", "kyma-system", Some("istio-rollout")),
        ("list", "kyma-system", None),
        ("create", "default", None),
        ("patch", "default", Some("istio-rollout")),
        ("patch", "kube-system", Some("kube-controller-manager")),
    ] {
        if allowed(&client, SERVICE_ACCOUNT, lease(verb, ns, name)).await {
            too_much.push(format!("{verb} leases {ns}/{name:?}"));
        }
    }
    assert!(too_much.is_empty(), "the ServiceAccount may: {too_much:?}");
}

/// manifests/readonly is enough for `plan` and `snapshot` against the cluster, and no more.
#[tokio::test]
async fn read_only_role_plans_and_snapshots() {
    let cluster = Cluster::shared();
    let client = cluster.client().await.unwrap();
    let _sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("readonly", false).await.unwrap();
    for o in rendered("readonly") {
        let api = api_for(&client, &o).await;
        api.patch(
            o["metadata"]["name"].as_str().unwrap(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&o),
        )
        .await
        .unwrap();
    }
    let binding_name = format!("istio-rollout-read-{}", ns.name());
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": binding_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "istio-rollout-read"},
        "subjects": [{"kind": "ServiceAccount", "name": "pr-check", "namespace": ns.name()}]
    });
    let bindings = api_for(&client, &binding).await;
    bindings
        .patch(
            &binding_name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&binding),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster
        .kubeconfig_as(ns.name(), "pr-check", dir.path())
        .await
        .unwrap();
    let user = format!("system:serviceaccount:{}:pr-check", ns.name());
    let result = async {
        // RBAC bindings take effect at once in the authorizer; no wait needed.
        let plan = istio_rollout()
            .args([
                "plan",
                "--path",
                "examples/gitops/istio",
                "--output",
                "markdown",
            ])
            .arg("--repo")
            .arg(repo())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .output()
            .unwrap();
        let snapshot = istio_rollout()
            .arg("snapshot")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .output()
            .unwrap();
        let mut may_write = Vec::new();
        for (verb, group, resource) in [
            ("patch", "apps", "deployments"),
            ("patch", "operator.kyma-project.io", "istios"),
            ("create", "", "pods/eviction"),
            ("get", "", "secrets"),
        ] {
            if allowed(
                &client,
                &user,
                attrs(verb, group, resource, Some("default")),
            )
            .await
            {
                may_write.push(format!("{verb} {resource}.{group}"));
            }
        }
        (plan, snapshot, may_write)
    }
    .await;
    bindings
        .delete(&binding_name, &DeleteParams::default())
        .await
        .unwrap();
    let (plan, snapshot, may_write) = result;
    assert!(
        matches!(plan.status.code(), Some(0 | 1)),
        "plan with the read-only role exits {:?}: {}",
        plan.status.code(),
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        snapshot.status.success(),
        "snapshot with the read-only role: {}",
        String::from_utf8_lossy(&snapshot.stderr)
    );
    assert!(
        may_write.is_empty(),
        "the read-only role may: {may_write:?}"
    );
}

/// The gate's identity (manifests/gate, used by argocd-presync and flux-gate): its
/// ServiceAccount may read exactly what `plan` reads (the `USED` lists, cluster-wide, and the
/// mesh ConfigMap) and write nothing.
#[tokio::test]
async fn the_gate_reads_what_plan_reads_and_writes_nothing() {
    let cluster = Cluster::shared();
    let client = cluster.client().await.unwrap();
    apply_gate(&client).await;
    let user = format!("system:serviceaccount:{GATE_NAMESPACE}:{GATE_SERVICE_ACCOUNT}");
    until_allowed(&client, &user, attrs("list", "", "pods", None)).await;

    // The read-only role grants the reads and nothing else.
    let granted = granted("readonly/clusterrole.yaml");
    assert_eq!(
        chart_role("readonly", "istio-rollout-read"),
        granted,
        "the chart's read-only ClusterRole grants what manifests/readonly grants"
    );
    let mut reads: BTreeSet<(String, String, String)> = USED
        .iter()
        .filter(|(_, _, _, cluster_wide)| *cluster_wide)
        .map(|(v, g, r, _)| (v.to_string(), g.to_string(), r.to_string()))
        .collect();
    reads.insert(("get".into(), "".into(), "configmaps".into()));
    assert_eq!(
        granted, reads,
        "readonly/clusterrole.yaml: exactly what plan reads"
    );

    let mut denied = Vec::new();
    for (verb, group, resource, cluster_wide) in USED {
        if cluster_wide && !allowed(&client, &user, attrs(verb, group, resource, None)).await {
            denied.push(format!("{verb} {resource}.{group}"));
        }
    }
    denied.extend(config_maps_denied(&client, &user).await);
    assert!(
        denied.is_empty(),
        "the gate's ServiceAccount lacks: {denied:?}"
    );

    let mut too_much = Vec::new();
    let writes = USED
        .iter()
        .filter(|(verb, ..)| *verb != "list" && *verb != "get")
        .map(|(v, g, r, _)| (*v, *g, *r));
    for (verb, group, resource) in writes.chain(NEVER) {
        if allowed(
            &client,
            &user,
            attrs(verb, group, resource, Some("default")),
        )
        .await
        {
            too_much.push(format!("{verb} {resource}.{group}"));
        }
    }
    let mut other_cm = attrs("get", "", "configmaps", Some("istio-system"));
    other_cm.name = Some("sim-injector".into());
    if allowed(&client, &user, other_cm).await {
        too_much.push("get configmaps other than those of CONFIG_MAPS".into());
    }
    assert!(
        too_much.is_empty(),
        "the gate's ServiceAccount may: {too_much:?}"
    );
}

//! The fleet the scenarios upgrade, and the checks after each run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use istio_rollout_testenv::faults::{FaultProxy, Forwarded};
use istio_rollout_testenv::injector::proxy_image;
use istio_rollout_testenv::{Cluster, SimGuard, TestNamespace, wait};
use k8s_openapi::api::apps::v1::{ControllerRevision, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::support::{self, create};

/// Deployments of the fleet (2 replicas each).
pub const DEPLOYMENTS: usize = 16;
/// Owners whose pods the tool evicts (OnDelete StatefulSets, ownerless ReplicaSet,
/// ReplicationController), with their replicas.
pub const EVICTED: [(&str, usize); 4] =
    [("sts-od", 2), ("sts-pdb", 2), ("rs-orphan", 2), ("rc", 2)];
/// Owners restarted through their template that keep ControllerRevisions.
pub const REVISIONED: [&str; 2] = ["sts-ru", "ds"];
/// The Istio version the module upgrade moves to ([`support::upgrade`]).
pub const TARGET: &str = "1.30.2";

/// One run's cluster state: a namespace with the fleet on the old sidecar, the control plane
/// already upgraded (as the operator does first), and the tool's identity.
pub struct Fleet {
    pub ns: TestNamespace,
    pub client: kube::Client,
    pub repo: crate::common::repo::TestRepo,
    /// The token of the ServiceAccount of manifests/base.
    pub token: String,
    pub _sim: SimGuard,
}

fn template(app: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}},
           "spec": {"containers": [{"name": "app", "image": "example/app:1"}], "terminationGracePeriodSeconds": 1}})
}

/// The number of pods the fleet runs once it is up: Deployments, StatefulSets, the evicted
/// owners, and the DaemonSet's one pod per Node of the test cluster (3).
pub fn pods() -> usize {
    DEPLOYMENTS * 2 + 2 + EVICTED.iter().map(|(_, n)| n).sum::<usize>() + 3
}

impl Fleet {
    /// Creates the fleet in a fresh injected namespace, waits until it runs, then upgrades the
    /// control plane (module 1.28.0, Istio 1.30.2): every pod is then one version behind.
    pub async fn up(prefix: &str) -> Fleet {
        let cluster = Cluster::shared();
        let sim = cluster.sim().await.unwrap();
        let ns = cluster.namespace(prefix, true).await.unwrap();
        let client = cluster.client().await.unwrap();
        let n = ns.name().to_string();
        for i in 0..DEPLOYMENTS {
            let name = format!("web-{i:02}");
            create(&client, &n, json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template(&name)}})).await;
        }
        for (name, strategy) in [
            ("sts-ru", "RollingUpdate"),
            ("sts-od", "OnDelete"),
            ("sts-pdb", "OnDelete"),
        ] {
            create(&client, &n, json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
                "spec": {"replicas": 2, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                         "updateStrategy": {"type": strategy}, "template": template(name)}})).await;
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
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "rs-orphan"}}, "template": template("rs-orphan")}})).await;
        create(
            &client,
            &n,
            json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
            "spec": {"replicas": 2, "selector": {"app": "rc"}, "template": template("rc")}}),
        )
        .await;

        let api = Api::<Pod>::namespaced(client.clone(), &n);
        let expected = pods();
        wait::until("the fleet running", Duration::from_secs(120), || {
            let api = api.clone();
            async move {
                let running = api
                    .list(&ListParams::default())
                    .await?
                    .items
                    .iter()
                    .filter(|p| ready(p))
                    .count();
                Ok((running == expected).then_some(()))
            }
        })
        .await
        .unwrap();

        support::upgrade(&sim).await;
        support::apply_dir(
            &client,
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/base"),
        )
        .await;
        let token = cluster
            .token_for("istio-rollout", "istio-rollout")
            .await
            .unwrap();
        let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");
        Fleet {
            ns,
            client,
            repo,
            token,
            _sim: sim,
        }
    }

    pub fn name(&self) -> &str {
        self.ns.name()
    }

    /// A kubeconfig through `proxy` as the tool's ServiceAccount.
    pub fn kubeconfig(&self, proxy: &FaultProxy) -> PathBuf {
        proxy
            .write_kubeconfig(&self.token, self.repo.path())
            .unwrap()
    }

    /// `istio-rollout apply` of this fleet's namespace, as a tokio command (JSON report).
    pub fn apply(&self, kubeconfig: &Path, extra: &[&str]) -> tokio::process::Command {
        let mut c = crate::common::cli::istio_rollout();
        c.args([
            "apply",
            "--no-apply-cr",
            "--namespace",
            self.name(),
            "-o",
            "json",
        ])
        .args([
            "--repo",
            self.repo.path().to_str().unwrap(),
            "--path",
            "istio",
        ])
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .args(["--max-concurrent", "4", "--timeout", "5m"])
        // The Lease of manifests/base: a killed run's is waited for until it expires.
        .args(["--lease", "kyma-system/istio-rollout", "--lease-wait", "2m"])
        .args(extra);
        tokio::process::Command::from(c)
    }

    /// Runs `apply` to the end; returns its exit code, report and stderr.
    pub async fn run_apply(&self, kubeconfig: &Path, extra: &[&str]) -> (i32, Value, String) {
        let out = self.apply(kubeconfig, extra).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), report, stderr)
    }

    /// Waits (up to a minute) until every pod of the fleet runs the target sidecar and is
    /// ready: the rollouts the tool left running finish on their own.
    pub async fn converged(&self) -> Result<(), String> {
        let api = Api::<Pod>::namespaced(self.client.clone(), self.name());
        let expected = pods();
        let outcome = wait::until("every pod on the target", Duration::from_secs(60), || {
            let api = api.clone();
            async move {
                let pods = api.list(&ListParams::default()).await?.items;
                let on_target = pods
                    .iter()
                    .filter(|p| {
                        p.metadata.deletion_timestamp.is_none() && ready(p) && on(p, TARGET)
                    })
                    .count();
                Ok((on_target == expected && pods.len() == expected).then_some(()))
            }
        })
        .await;
        match outcome {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("{e:#}: pods {:?}", self.pod_images().await)),
        }
    }

    async fn pod_images(&self) -> BTreeMap<String, String> {
        Api::<Pod>::namespaced(self.client.clone(), self.name())
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .iter()
            .map(|p| {
                (
                    p.metadata.name.clone().unwrap_or_default(),
                    proxy_image(p).unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Restarts by owner: Deployments count ReplicaSets (one original + one per restart), the
    /// StatefulSet and DaemonSet ControllerRevisions.
    pub async fn restarts(&self) -> BTreeMap<String, usize> {
        let mut out: BTreeMap<String, usize> = BTreeMap::new();
        let sets = Api::<ReplicaSet>::namespaced(self.client.clone(), self.name())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        for rs in &sets {
            for owner in rs.metadata.owner_references.iter().flatten() {
                if owner.kind == "Deployment" {
                    *out.entry(owner.name.clone()).or_default() += 1;
                }
            }
        }
        let revisions = Api::<ControllerRevision>::namespaced(self.client.clone(), self.name())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        for r in &revisions {
            for owner in r.metadata.owner_references.iter().flatten() {
                if REVISIONED.contains(&owner.name.as_str()) {
                    *out.entry(owner.name.clone()).or_default() += 1;
                }
            }
        }
        out.into_iter().map(|(k, v)| (k, v - 1)).collect()
    }
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn on(p: &Pod, version: &str) -> bool {
    proxy_image(p).is_some_and(|i| i.contains(&format!(":{version}")))
}

/// Successful evictions (the API server answered 201) by pod name, from the proxy's log.
pub fn evictions(forwarded: &[Forwarded]) -> BTreeMap<String, usize> {
    let mut out: BTreeMap<String, usize> = BTreeMap::new();
    for f in forwarded {
        let pod = f
            .target
            .split('?')
            .next()
            .and_then(|p| p.strip_suffix("/eviction"))
            .and_then(|p| p.rsplit('/').next());
        if let (Some(pod), "POST", 201) = (pod, f.method.as_str(), f.status) {
            *out.entry(pod.to_string()).or_default() += 1;
        }
    }
    out
}

/// What one run did, checked against what apply promises (every pod converged, else it panics);
/// returns the figures for the report, as measured.
pub async fn check(fleet: &Fleet, proxy: &FaultProxy, label: &str) -> Value {
    if let Err(e) = fleet.converged().await {
        panic!("{label}: not converged: {e}");
    }
    let restarts = fleet.restarts().await;
    let twice: Vec<_> = restarts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "{label}: restarted other than once: {twice:?} (all: {restarts:?})"
    );
    assert_eq!(
        restarts.len(),
        DEPLOYMENTS + REVISIONED.len(),
        "{label}: {restarts:?}"
    );

    let forwarded = proxy.forwarded();
    let evicted = evictions(&forwarded);
    let double: Vec<_> = evicted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        double.is_empty(),
        "{label}: pods evicted more than once: {double:?}"
    );
    let expected: usize = EVICTED.iter().map(|(_, n)| n).sum();
    assert_eq!(evicted.len(), expected, "{label}: evictions {evicted:?}");
    for (owner, replicas) in EVICTED {
        let of_owner = evicted
            .keys()
            .filter(|p| p.starts_with(&format!("{owner}-")))
            .count();
        assert_eq!(
            of_owner, replicas,
            "{label}: evictions of {owner}: {evicted:?}"
        );
    }
    let deletes: Vec<_> = forwarded.iter().filter(|f| f.method == "DELETE").collect();
    assert!(deletes.is_empty(), "{label}: the tool deleted: {deletes:?}");

    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    for i in proxy.injected() {
        *faults.entry(format!("{:?}", i.fault)).or_default() += 1;
    }
    json!({
        "run": label,
        "requests": forwarded.len(),
        "faults": faults,
        "restarts": restarts.values().sum::<usize>(),
        "evictions": evicted.values().sum::<usize>(),
        "double_restarts": twice.len(),
        "double_evictions": double.len(),
        "deletions": deletes.len(),
    })
}

/// Appends one JSON line to the report file named by `ISTIO_ROLLOUT_CHAOS_REPORT`, if set.
pub fn record(mut figures: Value, seconds: f64, code: i32) {
    figures["seconds"] = json!((seconds * 10.0).round() / 10.0);
    figures["exit_code"] = json!(code);
    eprintln!("chaos: {figures}");
    if let Some(path) = std::env::var_os("ISTIO_ROLLOUT_CHAOS_REPORT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{figures}").unwrap();
    }
}

/// Numbers from an environment variable (`"1 2 3"`), or `default`.
pub fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|_| panic!("{name}: '{s}' is not a number"))
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

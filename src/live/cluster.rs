//! Reads the live state from a cluster (the only kube-rs reader): paged lists, each page reduced
//! at once, so memory grows with the number of workloads rather than with the size of pods.

use super::LiveState;
use super::convert::Builder;
use super::wire::PodObject;
use crate::error::{Error, Result};
use crate::istio::Istio;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ObjectList, Request};
use kube::{Client, Config, Resource};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

/// Objects per list request. 100 keeps the decoding of a page of full Pod objects near 20 MiB
/// at the same wall time as 500 (BENCHMARKS.md, the listing experiment).
pub const PAGE_SIZE: u32 = 100;
const RETRIES: u32 = 5;

/// Connects like kubectl: `--kubeconfig`/`--context`, else `KUBECONFIG` or `~/.kube/config`,
/// else the in-cluster ServiceAccount.
pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Client> {
    let options = KubeConfigOptions {
        context: context.map(String::from),
        ..Default::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| {
                Error::input(path.display(), format!("cannot read the kubeconfig: {e}"))
            })?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| Error::input(path.display(), e))?
        }
        None if context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| Error::Usage(format!("--context: {e}")))?,
        None => Config::infer().await.map_err(|e| {
            Error::Failure(format!(
                "no cluster configuration found (kubeconfig or in-cluster): {e}"
            ))
        })?,
    };
    let mut config = config;
    // This tool retries 429 and 5xx itself, bounded by its own deadlines (a PodDisruptionBudget
    // answers evictions with 429 for as long as it holds); kube's built-in retry would hide them.
    config.default_retry = false;
    Client::try_from(config).map_err(|e| Error::Failure(format!("cluster client: {e}")))
}

/// One object read from the cluster, as the snapshot writer and the live-state builder take it.
/// Pods come as `P`: full objects for the snapshot, [`PodObject`] (the planner's fields) otherwise.
pub enum Object<P> {
    Istio(Box<Istio>),
    Pod(Box<P>),
    Deployment(Box<Deployment>),
    StatefulSet(Box<StatefulSet>),
    DaemonSet(Box<DaemonSet>),
    ReplicaSet(Box<ReplicaSet>),
    ReplicationController(Box<ReplicationController>),
    Job(Box<Job>),
    CronJob(Box<CronJob>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
    ConfigMap(Box<ConfigMap>),
}

/// An item of a list: decodable, and with a uid to tell it from the others.
pub trait ListItem: DeserializeOwned + Clone {
    fn uid(&self) -> Option<&str>;
}

macro_rules! list_items {
    ($($t:ty),*) => {$(
        impl ListItem for $t {
            fn uid(&self) -> Option<&str> {
                self.metadata.uid.as_deref()
            }
        }
    )*};
}
list_items!(
    Istio,
    Pod,
    PodObject,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    ReplicationController,
    Job,
    CronJob,
    PodDisruptionBudget
);

/// The cluster-wide collection path of a kind (`/apis/apps/v1/deployments`).
fn path<K: Resource>() -> String
where
    K::DynamicType: Default,
{
    K::url_path(&K::DynamicType::default(), None)
}

/// Counts what the reader asked of the API server.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub retries: u64,
    pub restarted_lists: u64,
}

/// Reads every object the planner needs and hands each to `sink` as it arrives, in this order:
/// the Istio CRs, the workload kinds, PodDisruptionBudgets, pods, the mesh ConfigMap.
pub async fn visit<P: ListItem>(
    client: &Client,
    sink: &mut dyn FnMut(Object<P>) -> Result<()>,
    stats: &mut Stats,
) -> Result<()> {
    list_istios(client, stats, &mut |o| sink(Object::Istio(Box::new(o)))).await?;
    list_all(
        client,
        &path::<Deployment>(),
        "deployments.apps",
        stats,
        &mut |o| sink(Object::Deployment(Box::new(o))),
    )
    .await?;
    list_all(
        client,
        &path::<StatefulSet>(),
        "statefulsets.apps",
        stats,
        &mut |o| sink(Object::StatefulSet(Box::new(o))),
    )
    .await?;
    list_all(
        client,
        &path::<DaemonSet>(),
        "daemonsets.apps",
        stats,
        &mut |o| sink(Object::DaemonSet(Box::new(o))),
    )
    .await?;
    list_all(
        client,
        &path::<ReplicaSet>(),
        "replicasets.apps",
        stats,
        &mut |o| sink(Object::ReplicaSet(Box::new(o))),
    )
    .await?;
    let rcs = "replicationcontrollers";
    list_all(
        client,
        &path::<ReplicationController>(),
        rcs,
        stats,
        &mut |o| sink(Object::ReplicationController(Box::new(o))),
    )
    .await?;
    list_all(client, &path::<Job>(), "jobs.batch", stats, &mut |o| {
        sink(Object::Job(Box::new(o)))
    })
    .await?;
    list_all(
        client,
        &path::<CronJob>(),
        "cronjobs.batch",
        stats,
        &mut |o| sink(Object::CronJob(Box::new(o))),
    )
    .await?;
    let pdbs = "poddisruptionbudgets.policy";
    list_all(
        client,
        &path::<PodDisruptionBudget>(),
        pdbs,
        stats,
        &mut |o| sink(Object::PodDisruptionBudget(Box::new(o))),
    )
    .await?;
    list_all(client, &path::<Pod>(), "pods", stats, &mut |o| {
        sink(Object::Pod(Box::new(o)))
    })
    .await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), super::convert::ISTIO_NAMESPACE);
    let cm = retry(stats, "get configmaps istio-system/istio", || {
        cms.get_opt("istio")
    })
    .await?;
    if let Some(cm) = cm {
        sink(Object::ConfigMap(Box::new(cm)))?;
    }
    Ok(())
}

/// Lists every `Istio` CR. The CRD may be absent (no module installed): that is no CR, not an
/// error.
async fn list_istios(
    client: &Client,
    stats: &mut Stats,
    each: &mut dyn FnMut(Istio) -> Result<()>,
) -> Result<()> {
    let istios = "istios.operator.kyma-project.io";
    match list_all(client, &path::<Istio>(), istios, stats, each).await {
        Err(Error::Failure(m)) if m.contains("(404)") => Ok(()),
        other => other,
    }
}

/// Reads the live state from the cluster. Pods are decoded into the planner's fields only.
pub async fn read(client: &Client, stats: &mut Stats) -> Result<LiveState> {
    let mut b = Builder::default();
    let mut sink = |o: Object<PodObject>| -> Result<()> {
        match o {
            Object::Istio(i) => b.istio(*i),
            Object::Pod(p) => b.pod(*p),
            Object::Deployment(d) => b.deployment(&d),
            Object::DaemonSet(d) => b.daemon_set(&d),
            Object::StatefulSet(s) => b.owner(super::convert::stateful_set(&s)),
            Object::ReplicaSet(r) => b.owner(super::convert::replica_set(&r)),
            Object::ReplicationController(r) => b.owner(super::convert::replication_controller(&r)),
            Object::Job(j) => b.owner(super::convert::job(&j)),
            Object::CronJob(c) => b.owner(super::convert::cron_job(&c)),
            Object::PodDisruptionBudget(p) => b.pdb(&p),
            Object::ConfigMap(c) => b
                .mesh_config(&c)
                .map_err(|m| Error::Failure(format!("ConfigMap istio-system/istio: {m}")))?,
        }
        Ok(())
    };
    visit(client, &mut sink, stats).await?;
    Ok(b.finish())
}

/// A uid as a number: 16 bytes per object seen instead of a string (UUIDs, as the API server
/// assigns; anything else is hashed).
fn uid_key(uid: &str) -> u128 {
    let digits = uid.chars().filter(|c| *c != '-');
    if digits.clone().count() == 32 && digits.clone().all(|c| c.is_ascii_hexdigit()) {
        return digits.fold(0, |n, c| n << 4 | u128::from(c.to_digit(16).unwrap_or(0)));
    }
    {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let h = BuildHasherDefault::<DefaultHasher>::default();
        (u128::from(h.hash_one(uid)) << 64) | u128::from(h.hash_one((uid, 1u8)))
    }
}

/// Lists every object of a kind cluster-wide (`path`), page by page. A continue token that
/// expired (410) restarts the listing; objects already handed over are not handed over twice.
async fn list_all<K: ListItem>(
    client: &Client,
    path: &str,
    resource: &str,
    stats: &mut Stats,
    each: &mut dyn FnMut(K) -> Result<()>,
) -> Result<()> {
    let mut seen: HashSet<u128> = HashSet::new();
    let mut token: Option<String> = None;
    let what = format!("list {resource} (all namespaces)");
    loop {
        let mut lp = ListParams::default().limit(PAGE_SIZE);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let request = Request::new(path)
            .list(&lp)
            .map_err(|e| Error::Failure(format!("{what}: {e}")))?;
        let page = match retry(stats, &what, || {
            client.request::<ObjectList<K>>(request.clone())
        })
        .await
        {
            Err(Error::Failure(m)) if m.contains("(410)") && token.is_some() => {
                stats.restarted_lists += 1;
                token = None;
                continue;
            }
            other => other?,
        };
        for item in page.items {
            // After a restarted listing, objects already handed over come again: skip them.
            if let Some(uid) = item.uid()
                && !seen.insert(uid_key(uid))
            {
                continue;
            }
            each(item)?;
        }
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => return Ok(()),
        }
    }
}

/// Retries 429, 5xx and transport errors with exponential backoff; names the request in errors and
/// the missing permission on a 403.
pub async fn retry<T, F, Fut>(stats: &mut Stats, what: &str, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let mut delays =
        crate::poll::Backoff::exponential(Duration::from_millis(200), Duration::from_secs(10))
            .delays();
    for attempt in 0..=RETRIES {
        stats.requests += 1;
        match tokio::time::timeout(Duration::from_secs(60), call()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(kube::Error::Api(s))) if s.code == 429 || s.code >= 500 => {
                if attempt == RETRIES {
                    return Err(Error::Failure(format!(
                        "{what}: {} ({}) after {RETRIES} retries",
                        s.message, s.code
                    )));
                }
            }
            Ok(Err(kube::Error::Api(s))) if s.code == 403 => {
                return Err(Error::Failure(format!(
                    "{what}: forbidden (403): {}; grant this permission to the tool's ServiceAccount (see manifests/)",
                    s.message
                )));
            }
            Ok(Err(kube::Error::Api(s))) => {
                return Err(Error::Failure(format!(
                    "{what}: {} ({})",
                    s.message, s.code
                )));
            }
            Ok(Err(e)) if attempt == RETRIES => return Err(Error::Failure(format!("{what}: {e}"))),
            Ok(Err(_)) => {}
            Err(_) if attempt == RETRIES => {
                return Err(Error::Failure(format!("{what}: timed out")));
            }
            Err(_) => {}
        }
        stats.retries += 1;
        delays.sleep().await;
    }
    unreachable!("the loop returns on its last attempt")
}

/// Reads only what the operator wait (`plan::operator::caught_up`) judges: the Istio CRs, the
/// module manager Deployment `kyma-system/istio-controller-manager`, the control plane in
/// `istio-system` (pods labelled `kyma-project.io/module=istio`, and the Deployments and
/// DaemonSets so labelled, whose templates stand in when no such pod runs) and the mesh
/// ConfigMap. Six requests however many workloads the cluster runs; owners and pods outside the
/// control plane are left out, so plan only the control plane and the CR from it.
pub async fn read_operator_view(client: &Client, stats: &mut Stats) -> Result<LiveState> {
    use super::convert::{ISTIO_NAMESPACE, MANAGER_NAME};
    use super::{KYMA_MODULE_LABEL, KYMA_NAMESPACE};
    let mut b = Builder::default();
    list_istios(client, stats, &mut |i| {
        b.istio(i);
        Ok(())
    })
    .await?;
    let managers: Api<Deployment> = Api::namespaced(client.clone(), KYMA_NAMESPACE);
    let what = format!("get deployments.apps {KYMA_NAMESPACE}/{MANAGER_NAME}");
    if let Some(d) = retry(stats, &what, || managers.get_opt(MANAGER_NAME)).await? {
        b.deployment(&d);
    }
    let selector = format!("{KYMA_MODULE_LABEL}=istio");
    let module = ListParams::default().labels(&selector);
    let what = |resource: &str| format!("list {resource} in {ISTIO_NAMESPACE} ({selector})");
    let pods = Request::new(format!("/api/v1/namespaces/{ISTIO_NAMESPACE}/pods"))
        .list(&module)
        .map_err(|e| Error::Failure(format!("{}: {e}", what("pods"))))?;
    let list = retry(stats, &what("pods"), || {
        client.request::<ObjectList<PodObject>>(pods.clone())
    })
    .await?;
    list.items.into_iter().for_each(|p| b.pod(p));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    let list = retry(stats, &what("deployments.apps"), || {
        deployments.list(&module)
    })
    .await?;
    list.items.iter().for_each(|d| b.deployment(d));
    let daemon_sets: Api<DaemonSet> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    let list = retry(stats, &what("daemonsets.apps"), || {
        daemon_sets.list(&module)
    })
    .await?;
    list.items.iter().for_each(|d| b.daemon_set(d));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    let what = format!("get configmaps {ISTIO_NAMESPACE}/istio");
    if let Some(cm) = retry(stats, &what, || cms.get_opt("istio")).await? {
        b.mesh_config(&cm)
            .map_err(|m| Error::Failure(format!("ConfigMap istio-system/istio: {m}")))?;
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::uid_key;

    #[test]
    fn uids_become_numbers() {
        assert_eq!(uid_key("00000000-0000-0000-0000-00000000001f"), 31);
        assert_eq!(uid_key("ffffffff-ffff-ffff-ffff-ffffffffffff"), u128::MAX);
        assert_ne!(uid_key("pod-1"), uid_key("pod-2"));
    }
}

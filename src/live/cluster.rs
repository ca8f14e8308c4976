//! Reads the live state from a cluster (the only kube-rs reader): paged lists, each page reduced
//! at once, so memory grows with the number of workloads rather than with the size of pods.

use super::LiveState;
use super::convert::Builder;
use super::kinds::{self, AnyOwner, OwnerKind};
use super::wire::PodObject;
use crate::config::ClusterConfig;
use crate::error::{Error, Invalid, Result};
use crate::istio::Istio;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use kube::core::{ObjectList, Request};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Objects per list request. 100 keeps the decoding of a page of full Pod objects near 20 MiB
/// at the same wall time as 500 (BENCHMARKS.md, the listing experiment).
pub const PAGE_SIZE: u32 = 100;
/// How long [`retry`] keeps retrying a request that fails for a reason worth retrying, once the
/// run has reached the API server: long enough to ride out an API server restart or a
/// control-plane upgrade of a managed cluster (tens of seconds) in the middle of a run.
pub const RETRY_FOR: Duration = Duration::from_secs(90);
/// The same before the API server has answered once: a wrong or unreachable server fails the run
/// in seconds, before it has done anything.
pub const RETRY_FOR_FIRST: Duration = Duration::from_secs(6);
/// Set once any request of this process got an answer from the API server.
static REACHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// How long one attempt may take before it counts as timed out and is retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects like kubectl ([`super::kubeconfig::load`]): `--kubeconfig`/`--context`, else
/// `KUBECONFIG` or `~/.kube/config`, else the in-cluster ServiceAccount; then makes sure the API
/// server answers ([`probe`]) before any real request.
pub async fn connect(cluster: &ClusterConfig) -> Result<Client> {
    let loaded = super::kubeconfig::load(cluster).await?;
    let mut config = loaded.config;
    // This tool retries 429 and 5xx itself, bounded by its own deadlines (a PodDisruptionBudget
    // answers evictions with 429 for as long as it holds); kube's built-in retry would hide them.
    config.default_retry = false;
    // TCP and TLS: kube's connector wraps the TLS one in this timeout.
    config.connect_timeout = Some(cluster.connect_timeout);
    let server = crate::redact::url(&config.cluster_url.to_string());
    let server = crate::escape::value(server.trim_end_matches('/'));
    let place = format!("cluster {server} ({})", loaded.origin);
    let client = Client::try_from(config).map_err(|source| {
        if loaded.files.is_empty() {
            Error::Cluster {
                what: "cluster client",
                source,
            }
        } else {
            // The kubeconfig's credentials or CA do not load (client-key-data, tokenFile).
            Error::Input {
                origin: loaded.origin.clone(),
                source: Invalid::Message(format!(
                    "cannot use the kubeconfig: {}",
                    crate::error::report(&source)
                )),
            }
        }
    })?;
    probe(&client, &place, cluster).await?;
    Ok(client)
}

/// `GET /version` before anything else, under the connect and read timeouts: a server that is
/// unreachable, refuses connections or never answers TLS fails the run at once, naming it.
/// Connections refused are retried for [`RETRY_FOR_FIRST`] (an API server restarting); any HTTP
/// answer, also an error status, counts as reached: the real requests report those.
pub async fn probe(client: &Client, place: &str, cluster: &ClusterConfig) -> Result<()> {
    let bound = cluster.connect_timeout.saturating_add(cluster.read_timeout);
    let mut delays =
        crate::poll::Backoff::exponential(Duration::from_millis(200), Duration::from_secs(2))
            .delays();
    let started = tokio::time::Instant::now();
    loop {
        let error = match tokio::time::timeout(bound, client.apiserver_version()).await {
            Ok(Ok(_)) | Ok(Err(kube::Error::Api(_))) => {
                REACHED.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            }
            Ok(Err(e)) => e,
            Err(_) => {
                return Err(Error::Failure(format!(
                    "{place}: timed out after {} s (connected, no answer; --connect-timeout, --read-timeout)",
                    bound.as_secs()
                )));
            }
        };
        if is_timeout(&error) {
            return Err(Error::Failure(format!(
                "{place}: timed out after {} s connecting (--connect-timeout)",
                cluster.connect_timeout.as_secs()
            )));
        }
        let next = delays.next().unwrap_or(Duration::from_secs(2));
        if started.elapsed().saturating_add(next) > RETRY_FOR_FIRST {
            let what = if is_refused(&error) {
                "connection refused".to_string()
            } else {
                format!("unreachable: {}", crate::error::report(&error))
            };
            return Err(Error::Failure(format!("{place}: {what}")));
        }
        tracing::debug!(server = place, error = %crate::error::report(&error), "probe: retrying");
        tokio::time::sleep(next).await;
    }
}

/// The io errors in an error's causes.
fn io_kinds(e: &(dyn std::error::Error + 'static)) -> Vec<std::io::ErrorKind> {
    let mut kinds = Vec::new();
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            kinds.push(io.kind());
        }
        next = e.source();
    }
    kinds
}

fn is_timeout(e: &kube::Error) -> bool {
    io_kinds(e).contains(&std::io::ErrorKind::TimedOut)
        || crate::error::report(e).contains("timed out")
}

fn is_refused(e: &kube::Error) -> bool {
    io_kinds(e).contains(&std::io::ErrorKind::ConnectionRefused)
        || crate::error::report(e).contains("onnection refused")
}

/// One object read from the cluster, as the snapshot writer and the live-state builder take it.
/// Pods come as `P`: full objects for the snapshot, [`PodObject`] (the planner's fields) otherwise.
pub enum Object<P> {
    Istio(Box<Istio>),
    Pod(Box<P>),
    /// An object of one of the owner kinds ([`kinds`]).
    Owner(Box<dyn AnyOwner>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
    ConfigMap(Box<ConfigMap>),
    Namespace(Box<Namespace>),
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
list_items!(Istio, Pod, PodObject, PodDisruptionBudget, Namespace);

impl<K: OwnerKind> ListItem for K {
    fn uid(&self) -> Option<&str> {
        self.meta().uid.as_deref()
    }
}

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
/// the Istio CRs, the Namespaces, the workload kinds, PodDisruptionBudgets, pods, the ConfigMaps
/// ([`CONFIG_MAPS`]).
pub async fn visit<P: ListItem>(
    client: &Client,
    sink: &mut dyn FnMut(Object<P>) -> Result<()>,
    stats: &mut Stats,
) -> Result<()> {
    list_istios(client, stats, &mut |o| sink(Object::Istio(Box::new(o)))).await?;
    list_all(
        client,
        &path::<Namespace>(),
        "namespaces",
        stats,
        &mut |o| sink(Object::Namespace(Box::new(o))),
    )
    .await?;
    for list in owner_lists() {
        list(client, stats, &mut |o| sink(Object::Owner(o))).await?;
    }
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
    for (namespace, name) in CONFIG_MAPS {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let what = format!("get configmaps {namespace}/{name}");
        // Absent (404) is fine for each: the defaults stand.
        if let Some(cm) = retry(stats, &what, || cms.get_opt(name)).await? {
            sink(Object::ConfigMap(Box::new(cm)))?;
        }
    }
    Ok(())
}

/// The ConfigMaps the planner reads, each by name: the mesh config, the module's feature flags
/// and the provisioning details (dual stack).
pub const CONFIG_MAPS: [(&str, &str); 3] = [
    (
        super::convert::ISTIO_NAMESPACE,
        super::convert::MESH_CONFIGMAP,
    ),
    (
        crate::istio::features::NAMESPACE,
        crate::istio::features::FEATURES_CONFIGMAP,
    ),
    (
        crate::istio::features::NAMESPACE,
        crate::istio::features::PROVISIONING_CONFIGMAP,
    ),
];

/// Lists every object of one owner kind, handing each on as it arrives.
type OwnerList = for<'a> fn(
    &'a Client,
    &'a mut Stats,
    &'a mut dyn FnMut(Box<dyn AnyOwner>) -> Result<()>,
) -> Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

/// The listing of every owner kind, in the registry's order.
fn owner_lists() -> Vec<OwnerList> {
    struct Lists(Vec<OwnerList>);
    impl kinds::Visit for Lists {
        fn visit<K: OwnerKind>(&mut self) {
            self.0.push(list_owners::<K>);
        }
    }
    let mut lists = Lists(Vec::new());
    kinds::each(&mut lists);
    lists.0
}

fn list_owners<'a, K: OwnerKind>(
    client: &'a Client,
    stats: &'a mut Stats,
    each: &'a mut dyn FnMut(Box<dyn AnyOwner>) -> Result<()>,
) -> Pin<Box<dyn Future<Output = Result<()>> + 'a>> {
    Box::pin(async move {
        // `deployments.apps`, `replicationcontrollers`: as RBAC and kubectl name them.
        let resource = match K::group(&()) {
            g if g.is_empty() => K::plural(&()).into_owned(),
            g => format!("{}.{g}", K::plural(&())),
        };
        list_all(client, &path::<K>(), &resource, stats, &mut |o: K| {
            each(Box::new(o))
        })
        .await
    })
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
        Err(e) if e.status() == Some(404) => Ok(()),
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
            Object::Owner(o) => o.add_to(&mut b),
            Object::PodDisruptionBudget(p) => b.pdb(&p),
            Object::ConfigMap(c) => b.config_map(&c).map_err(|e| config_map_error(&c, e))?,
            Object::Namespace(n) => b.namespace(&n),
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
            .map_err(|e| Error::api(&what, kube::Error::BuildRequest(e)))?;
        let page = match retry(stats, &what, || {
            client.request::<ObjectList<K>>(request.clone())
        })
        .await
        {
            Err(e) if e.status() == Some(410) && token.is_some() => {
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

/// Retries 429, 5xx, transport errors and attempts that time out, with exponential backoff (0.2 s
/// doubling to 10 s) for up to [`RETRY_FOR`]; names the request in errors and the missing
/// permission on a 403 ([`Error::Api`]). Retries are logged at DEBUG: only what still fails
/// reaches the caller.
pub async fn retry<T, F, Fut>(stats: &mut Stats, what: &str, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let mut delays =
        crate::poll::Backoff::exponential(Duration::from_millis(200), Duration::from_secs(10))
            .delays();
    let started = tokio::time::Instant::now();
    let mut retries = 0;
    loop {
        stats.requests += 1;
        let error = match tokio::time::timeout(ATTEMPT_TIMEOUT, call()).await {
            Ok(Ok(v)) => {
                REACHED.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(v);
            }
            Ok(Err(e @ kube::Error::Api(_))) if !is_retried(&e) && !denied_while_settling(&e) => {
                REACHED.store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(Error::api(what, e));
            }
            Ok(Err(e @ kube::Error::Api(_))) => Some(e),
            Ok(Err(e)) => {
                unreachable_now();
                Some(e)
            }
            Err(_) => {
                unreachable_now();
                None
            }
        };
        let next = delays.next().unwrap_or(Duration::from_secs(10));
        let budget = if REACHED.load(std::sync::atomic::Ordering::Relaxed) {
            RETRY_FOR
        } else {
            RETRY_FOR_FIRST
        };
        if started.elapsed().saturating_add(next) > budget {
            return Err(match error {
                Some(source) => Error::Api {
                    request: what.to_string(),
                    retries,
                    hint: None,
                    source,
                },
                None => Error::Timeout {
                    request: what.to_string(),
                    retries,
                },
            });
        }
        match &error {
            Some(e) => tracing::debug!(request = what, retries, error = %e, "retrying"),
            None => tracing::debug!(request = what, retries, "attempt timed out; retrying"),
        }
        retries += 1;
        stats.retries += 1;
        tokio::time::sleep(next).await;
    }
}

/// The status answers worth another attempt: too many requests and server errors.
fn is_retried(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 429 || s.code >= 500)
}

/// How long after the API server was last unreachable a 401 or 403 is taken for its
/// authorizer still warming up: a restarted kube-apiserver answers before its RBAC caches have
/// synced, and denies what the ServiceAccount may do for a few seconds (seen in the chaos suite's
/// restart). Past this, a denial is final and names the permission.
const SETTLE_AFTER_OUTAGE: Duration = Duration::from_secs(30);

/// Milliseconds since [`EPOCH`] when a request last found the API server unreachable (0: never).
static LAST_UNREACHABLE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static EPOCH: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

fn unreachable_now() {
    let ms = EPOCH.elapsed().as_millis().max(1) as u64;
    LAST_UNREACHABLE.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// A 401 or 403 within [`SETTLE_AFTER_OUTAGE`] of the API server being unreachable.
fn denied_while_settling(e: &kube::Error) -> bool {
    let kube::Error::Api(s) = e else {
        return false;
    };
    let last = LAST_UNREACHABLE.load(std::sync::atomic::Ordering::Relaxed);
    (s.code == 401 || s.code == 403)
        && last > 0
        && EPOCH.elapsed().as_millis() as u64 <= last + SETTLE_AFTER_OUTAGE.as_millis() as u64
}

/// A ConfigMap read from the cluster: not the input's fault, though named like it.
fn config_map_error(cm: &ConfigMap, source: Invalid) -> Error {
    Error::Live {
        object: format!(
            "ConfigMap {}/{}",
            cm.metadata.namespace.as_deref().unwrap_or_default(),
            cm.metadata.name.as_deref().unwrap_or_default()
        ),
        source,
    }
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
        b.workload(&d);
    }
    let selector = format!("{KYMA_MODULE_LABEL}=istio");
    let module = ListParams::default().labels(&selector);
    let what = |resource: &str| format!("list {resource} in {ISTIO_NAMESPACE} ({selector})");
    let pods = Request::new(format!("/api/v1/namespaces/{ISTIO_NAMESPACE}/pods"))
        .list(&module)
        .map_err(|e| Error::api(what("pods"), kube::Error::BuildRequest(e)))?;
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
    list.items.iter().for_each(|d| b.workload(d));
    let daemon_sets: Api<DaemonSet> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    let list = retry(stats, &what("daemonsets.apps"), || {
        daemon_sets.list(&module)
    })
    .await?;
    list.items.iter().for_each(|d| b.workload(d));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    let what = format!("get configmaps {ISTIO_NAMESPACE}/istio");
    if let Some(cm) = retry(stats, &what, || cms.get_opt("istio")).await? {
        b.config_map(&cm).map_err(|e| config_map_error(&cm, e))?;
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

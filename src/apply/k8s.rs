//! The writes and waits of `apply`, each one request shape against the API server.

use super::FIELD_MANAGER;
use crate::error::{Error, Result};
use crate::istio::{Istio, Version};
use crate::live::cluster::{Stats, retry};
use crate::live::kinds::{self, Restart};
use crate::live::rollout::{RolloutState, rollout_state};
use crate::live::{Kind, ObjectKey, Owner, convert};
use crate::poll::{self, Backoff, Check, Wait};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, EvictParams, ListParams, Patch, PatchParams,
    Preconditions,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

fn stats() -> Stats {
    Stats::default()
}

/// Makes the live CR's spec exactly git's and takes ownership of git's fields: when the live
/// spec has fields git lacks (set by any field manager: kubectl, an Argo CD sync, a person), a
/// JSON merge patch with the resourceVersion just read as its precondition removes them (read
/// again and retried when the CR changed in between); then a forced server-side apply of git's
/// manifest under this tool's field manager. Returns what was removed and who had set it.
pub async fn apply_cr(client: &Client, istio: &Istio) -> Result<Vec<super::cr::Removed>> {
    let ns = istio
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(crate::istio::cr::NAMESPACE);
    let name = istio.metadata.name.as_deref().unwrap_or("default");
    let mut metadata = json!({"name": name, "namespace": ns});
    if let Some(l) = &istio.metadata.labels {
        metadata["labels"] = json!(l);
    }
    if let Some(a) = &istio.metadata.annotations {
        metadata["annotations"] = json!(a);
    }
    let want_spec = serde_json::to_value(&istio.spec).map_err(|e| Error::Encode {
        what: format!("Istio {ns}/{name}"),
        source: e.into(),
    })?;
    let body = json!({"apiVersion": crate::istio::cr::API_VERSION, "kind": crate::istio::cr::KIND,
                      "metadata": metadata, "spec": want_spec});
    let resource = ApiResource::erase::<Istio>(&());
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let mut removed = Vec::new();
    let mut conflicts = 0;
    loop {
        let what = format!("get istios.operator.kyma-project.io {ns}/{name}");
        let Some(live) = retry(&mut stats(), &what, || raw.get_opt(name)).await? else {
            break;
        };
        let empty = json!({});
        let live_spec = live.data.get("spec").unwrap_or(&empty);
        let managed = live.metadata.managed_fields.clone().unwrap_or_default();
        let found = super::cr::removals(live_spec, &want_spec, &managed);
        if found.is_empty() {
            break;
        }
        let patch = json!({
            "metadata": {"resourceVersion": live.metadata.resource_version},
            "spec": super::cr::merge_patch(live_spec, &want_spec),
        });
        let what = format!(
            "remove {} from istios.operator.kyma-project.io {ns}/{name} (merge patch)",
            super::cr::describe(&found)
        );
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let merge = Patch::Merge(&patch);
        match retry(&mut stats(), &what, || raw.patch(name, &pp, &merge)).await {
            Ok(_) => {
                removed = found;
                break;
            }
            // Changed since it was read: read it again.
            Err(e) if e.status() == Some(409) && conflicts < 5 => conflicts += 1,
            Err(e) => return Err(e),
        }
    }
    let api: Api<Istio> = Api::namespaced(client.clone(), ns);
    let what = format!("apply istios.operator.kyma-project.io {ns}/{name}");
    let (pp, patch) = (
        PatchParams::apply(FIELD_MANAGER).force(),
        Patch::Apply(&body),
    );
    retry(&mut stats(), &what, || api.patch(name, &pp, &patch)).await?;
    Ok(removed)
}

/// The API resource of a kind `apply` restarts (through the template or by evictions).
fn resource(kind: &Kind) -> Result<ApiResource> {
    kinds::find(kind)
        .filter(|k| k.restart != Restart::Manual)
        .map(|k| k.api.clone())
        .ok_or_else(|| Error::Failure(format!("{kind} is not a kind this tool restarts")))
}

/// Reads a workload and reduces it like the live-state reader does.
pub async fn get_owner(client: &Client, key: &ObjectKey) -> Result<Owner> {
    Ok(get_workload(client, key).await?.0)
}

/// Reads a workload: its reduction and the `resourceVersion` a patch made from this read may
/// carry as its precondition.
pub async fn get_workload(client: &Client, key: &ObjectKey) -> Result<(Owner, Option<String>)> {
    let Some(kind) = kinds::find(&key.kind).filter(|k| k.restart == Restart::Template) else {
        return Err(Error::Failure(format!(
            "{key}: not a kind with a rolling restart"
        )));
    };
    let what = format!("get {key}");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &key.namespace, &kind.api);
    let o = retry(&mut stats(), &what, || api.get(&key.name)).await?;
    let version = o.metadata.resource_version.clone();
    let owner = serde_json::to_value(o)
        .and_then(kind.owner_from_json)
        .map_err(|e| Error::Failure(format!("{what}: {e}")))?;
    Ok((owner, version))
}

/// Patches this tool's pod-template annotations (server-side apply, own field manager). With
/// `resource_version` the patch holds only if nobody changed the object since that read: the API
/// server answers 409 otherwise (also to a retry of a patch that did land, whose answer was lost:
/// the caller reads again and judges).
pub async fn patch_template(
    client: &Client,
    key: &ObjectKey,
    annotations: &BTreeMap<String, String>,
    resource_version: Option<&str>,
) -> Result<()> {
    let ar = resource(&key.kind)?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &key.namespace, &ar);
    let mut metadata = json!({"name": key.name, "namespace": key.namespace});
    if let Some(v) = resource_version {
        metadata["resourceVersion"] = json!(v);
    }
    let body = json!({
        "apiVersion": ar.api_version, "kind": ar.kind,
        "metadata": metadata,
        "spec": {"template": {"metadata": {"annotations": annotations}}}
    });
    let what = format!("patch {key} (pod template annotations)");
    let (pp, patch) = (PatchParams::apply(FIELD_MANAGER), Patch::Apply(&body));
    retry(&mut stats(), &what, || api.patch(&key.name, &pp, &patch)).await?;
    Ok(())
}

/// Waits until the workload's rollout completes by kubectl's rules; fails on a progress deadline.
/// Unbounded: the workload timeout of the caller bounds it.
pub async fn wait_rollout(client: &Client, key: &ObjectKey, poll: Duration) -> Result<()> {
    // Small rollouts finish in about a second: look again soon, then back off to `poll`.
    let backoff = Backoff::exponential(Duration::from_millis(250).min(poll), poll);
    poll::until(backoff, None, async || {
        let owner = get_owner(client, key).await?;
        match rollout_state(&owner.spec) {
            RolloutState::Complete | RolloutState::NotApplicable => Ok(Check::Done(())),
            RolloutState::Failed(why) => {
                Err(Error::Failure(format!("{key}: rollout failed: {why}")))
            }
            // Right after a restart the new pods become ready last: wait for them too.
            RolloutState::InProgress(why) | RolloutState::Unready(why) => Ok(Check::Pending(why)),
        }
    })
    .await
    .map_err(unbounded)
}

/// The error of a wait without a bound of its own: only a failed look ends it.
fn unbounded(w: Wait<Error>) -> Error {
    match w {
        Wait::Failed(e) => e,
        Wait::TimedOut { .. } => unreachable!("a wait without a bound never times out"),
    }
}

/// Waits (bounded) while a PodDisruptionBudget covering one of `pods` allows no disruption.
pub async fn wait_pdbs(
    client: &Client,
    namespace: &str,
    pods: &[String],
    timeout: Duration,
    poll: Duration,
) -> Result<()> {
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), namespace);
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default();
    let waited = poll::until(Backoff::constant(poll), Some(timeout), async || {
        let list = retry(
            &mut stats(),
            &format!("list poddisruptionbudgets in {namespace}"),
            || pdbs.list(&lp),
        )
        .await?;
        let blocking: Vec<_> = list
            .items
            .iter()
            .map(convert::pdb)
            .filter(|p| p.disruptions_allowed == 0)
            .collect();
        if blocking.is_empty() {
            return Ok(Check::Done(()));
        }
        for name in pods {
            let what = format!("get pod {namespace}/{name}");
            let Some(pod) = retry(&mut stats(), &what, || pod_api.get_opt(name)).await? else {
                continue;
            };
            let labels = pod.metadata.labels.unwrap_or_default();
            if let Some(b) = blocking.iter().find(|b| b.selects(namespace, &labels)) {
                let pdb = format!("{namespace}/{}", b.name);
                tracing::info!(pdb = %pdb, "waiting for a PodDisruptionBudget to allow a disruption");
                return Ok(Check::Pending(pdb));
            }
        }
        Ok(Check::Done(()))
    })
    .await;
    match waited {
        Ok(()) => Ok(()),
        Err(Wait::Failed(e)) => Err(e),
        Err(Wait::TimedOut { last }) => Err(Error::Failure(format!(
            "PodDisruptionBudget {} allowed no disruption for {timeout:?}: not started",
            last.as_deref().unwrap_or("(not read yet)")
        ))),
    }
}

/// Whether a pod read back after a failed or unanswered eviction shows that the eviction (ours,
/// whose answer was lost, or anyone's) has happened: gone, replaced under its name, terminating.
fn eviction_happened(pod: Option<&Pod>, uid: &str) -> bool {
    match pod {
        None => true,
        Some(p) => {
            p.metadata.uid.as_deref() != Some(uid) || p.metadata.deletion_timestamp.is_some()
        }
    }
}

/// Evicts one pod through the Eviction API, bound to the uid it was read with (the eviction's
/// delete precondition), so that a retry can never evict a StatefulSet pod's replacement of the
/// same name. Retries while a PodDisruptionBudget blocks it (429) and on server and transport
/// errors; after an error it reads the pod again and counts the eviction as done when the pod is
/// gone, replaced or terminating (the answer to an eviction that succeeded can be lost). Returns
/// the uid of the pod that went, or `None` when it was gone before the first attempt.
/// What [`evict`] found or did; the uids are the pod's as it was read.
#[derive(Debug, PartialEq, Eq)]
pub enum Eviction {
    /// This run evicted it (also when the answer was lost and the pod was seen going after).
    Evicted(String),
    /// It was already going, or went before this run's first attempt (someone else's delete or
    /// eviction, an earlier run's): its replacement is still waited for.
    Going(String),
    /// No such pod.
    Gone,
}

pub async fn evict(
    client: &Client,
    namespace: &str,
    pod: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<Eviction> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let what = format!("get pod {namespace}/{pod}");
    let Some(current) = retry(&mut stats(), &what, || api.get_opt(pod)).await? else {
        return Ok(Eviction::Gone);
    };
    let Some(uid) = current.metadata.uid.clone() else {
        return Err(Error::Failure(format!("pod {namespace}/{pod} has no uid")));
    };
    if current.metadata.deletion_timestamp.is_some() {
        // Already going (an earlier run's eviction, or someone's delete): wait for its replacement.
        return Ok(Eviction::Going(uid));
    }
    let params = EvictParams {
        delete_options: Some(DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        }),
        ..EvictParams::default()
    };
    // A PodDisruptionBudget answers 429 for as long as it holds: back off from `poll` to 30 s.
    let backoff = Backoff::exponential(poll, Duration::from_secs(30));
    let attempts = std::cell::Cell::new(0u32);
    let evicted = poll::until(backoff, Some(timeout), async || {
        attempts.set(attempts.get() + 1);
        let refused = match api.evict(pod, &params).await {
            Ok(_) => return Ok(Check::Done(true)),
            // Gone, or (409, the uid precondition) replaced under its name: it went. On a retry,
            // through the attempt whose answer was lost; on the first, through someone else.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {
                return Ok(Check::Done(attempts.get() > 1));
            }
            Err(kube::Error::Api(s)) if s.code == 429 => {
                tracing::info!(pod = %pod, reason = %s.message, "eviction refused; retrying");
                return Ok(Check::Pending(s.message));
            }
            Err(kube::Error::Api(s)) if s.code >= 500 => s.message,
            Err(e @ kube::Error::Api(_)) => {
                let e = Error::api(format!("evict pod {namespace}/{pod}"), e);
                return Err(if e.status() == Some(403) {
                    e.with_hint("grant `create` on `pods/eviction`")
                } else {
                    e
                });
            }
            // A transport error: the request may or may not have reached the API server.
            Err(e) => e.to_string(),
        };
        let now = retry(&mut stats(), &what, || api.get_opt(pod)).await?;
        if eviction_happened(now.as_ref(), &uid) {
            return Ok(Check::Done(true));
        }
        tracing::debug!(pod = %pod, error = %refused, "eviction failed; retrying");
        Ok(Check::Pending(refused))
    })
    .await;
    match evicted {
        Ok(true) => Ok(Eviction::Evicted(uid)),
        Ok(false) => Ok(Eviction::Going(uid)),
        Err(Wait::Failed(e)) => Err(e),
        Err(Wait::TimedOut { last }) => Err(Error::Failure(format!(
            "evict pod {namespace}/{pod}: still refused after {timeout:?}: {}",
            last.as_deref().unwrap_or("no answer")
        ))),
    }
}

/// Waits until the evicted pod (`old_uid`) is replaced: it is gone, the owner has as many Ready
/// pods as it wants, none of them terminating or the evicted one, all read fresh (a status count
/// lags behind the pods); for a StatefulSet also the pod of the same ordinal, with a new uid, is
/// Ready. Only then may the next pod go.
pub async fn wait_replaced(
    client: &Client,
    owner: &ObjectKey,
    namespace: &str,
    pod: &str,
    old_uid: &str,
    poll: Duration,
) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    poll::until(Backoff::constant(poll), None, async || {
        let what = format!("get pod {namespace}/{pod}");
        let p = retry(&mut stats(), &what, || pods.get_opt(pod)).await?;
        if p.as_ref()
            .is_some_and(|p| p.metadata.uid.as_deref() == Some(old_uid))
        {
            return Ok(Check::Pending(format!(
                "pod {namespace}/{pod} is still there"
            )));
        }
        if owner.kind == Kind::StatefulSet && !p.as_ref().is_some_and(pod_ready) {
            return Ok(Check::Pending(format!(
                "pod {namespace}/{pod} is not back and Ready yet"
            )));
        }
        let (ready, want) = owned_ready(client, owner, old_uid).await?;
        Ok(if ready >= want {
            Check::Done(())
        } else {
            Check::Pending(format!("{owner} has {ready} of {want} pods Ready"))
        })
    })
    .await
    .map_err(unbounded)
}

fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The owner's Ready pods that are not terminating and not `old_uid`, read fresh, and how many
/// it wants (replicas; for a DaemonSet the Nodes it should run on).
async fn owned_ready(client: &Client, key: &ObjectKey, old_uid: &str) -> Result<(i64, i64)> {
    let ar = resource(&key.kind)?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &key.namespace, &ar);
    let o = retry(&mut stats(), &format!("get {key}"), || api.get(&key.name)).await?;
    let int = |p: &str| o.data.pointer(p).and_then(|v| v.as_i64());
    let want = match key.kind {
        Kind::DaemonSet => int("/status/desiredNumberScheduled").unwrap_or(0),
        _ => int("/spec/replicas").unwrap_or(1),
    };
    // The selector's labels narrow the listing; ownership decides.
    let labels = o
        .data
        .pointer("/spec/selector/matchLabels")
        .or_else(|| {
            o.data
                .pointer("/spec/selector")
                .filter(|_| key.kind == Kind::ReplicationController)
        })
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let owner_uid = o.metadata.uid.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &key.namespace);
    let lp = ListParams::default().labels(&labels);
    let what = format!("list pods of {key}");
    let list = retry(&mut stats(), &what, || pods.list(&lp)).await?;
    let ready = list
        .items
        .iter()
        .filter(|p| {
            p.metadata.uid.as_deref() != Some(old_uid)
                && p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == owner_uid)
                && pod_ready(p)
        })
        .count();
    Ok((i64::try_from(ready).unwrap_or(i64::MAX), want))
}

/// The Event recorder of one apply run (reporting controller `istio-rollout`); cheap to clone.
pub fn recorder(client: &Client) -> Recorder {
    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: None,
    };
    Recorder::new(client.clone(), reporter)
}

/// Records a Normal Kubernetes Event on the workload (see [`publish`]).
pub async fn event(
    recorder: &Recorder,
    key: &ObjectKey,
    reason: &str,
    note: &str,
    target: Option<Version>,
) {
    publish(recorder, key, EventType::Normal, reason, note, target).await
}

/// The most an Event's note may hold (events.k8s.io/v1 refuses more than 1 kB).
const NOTE_MAX: usize = 1000;

/// Records a Kubernetes Event on the workload, retried like every other request. Failing to
/// record is logged, not fatal. A note longer than the API allows is cut.
pub async fn publish(
    recorder: &Recorder,
    key: &ObjectKey,
    type_: EventType,
    reason: &str,
    note: &str,
    target: Option<Version>,
) {
    let api_version =
        kinds::find(&key.kind).map_or("apps/v1".to_string(), |k| k.api.api_version.clone());
    let reference = ObjectReference {
        api_version: Some(api_version),
        kind: Some(key.kind.to_string()),
        namespace: Some(key.namespace.clone()),
        name: Some(key.name.clone()),
        ..Default::default()
    };
    let mut note = match target {
        Some(t) => format!("{note} (target Istio {t})"),
        None => note.to_string(),
    };
    if note.len() > NOTE_MAX {
        let mut cut = NOTE_MAX - 3;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    let what = format!("record an Event on {key}");
    if let Err(e) = retry(&mut stats(), &what, || recorder.publish(&ev, &reference)).await {
        tracing::warn!(workload = %key, error = %crate::error::report(&e), "could not record an Event");
    }
}

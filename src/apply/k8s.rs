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
use kube::api::{Api, ApiResource, DynamicObject, EvictParams, ListParams, Patch, PatchParams};
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

/// Server-side apply of the CR's git-owned fields under this tool's field manager.
pub async fn apply_cr(client: &Client, istio: &Istio) -> Result<()> {
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
    let body = json!({"apiVersion": crate::istio::cr::API_VERSION, "kind": crate::istio::cr::KIND,
                      "metadata": metadata, "spec": istio.spec});
    let api: Api<Istio> = Api::namespaced(client.clone(), ns);
    let what = format!("apply istios.operator.kyma-project.io {ns}/{name}");
    let (pp, patch) = (PatchParams::apply(FIELD_MANAGER), Patch::Apply(&body));
    match retry(&mut stats(), &what, || api.patch(name, &pp, &patch)).await {
        Err(e) if e.status() == Some(409) => Err(e.with_hint(
            "another field manager owns these fields: let it apply the CR and run with --no-apply-cr",
        )),
        other => other.map(|_| ()),
    }
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
    let Some(kind) = kinds::find(&key.kind).filter(|k| k.restart == Restart::Template) else {
        return Err(Error::Failure(format!(
            "{key}: not a kind with a rolling restart"
        )));
    };
    let what = format!("get {key}");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &key.namespace, &kind.api);
    let o = retry(&mut stats(), &what, || api.get(&key.name)).await?;
    serde_json::to_value(o)
        .and_then(kind.owner_from_json)
        .map_err(|e| Error::Failure(format!("{what}: {e}")))
}

/// Patches this tool's pod-template annotations (server-side apply, own field manager).
pub async fn patch_template(
    client: &Client,
    key: &ObjectKey,
    annotations: &BTreeMap<String, String>,
) -> Result<()> {
    let ar = resource(&key.kind)?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &key.namespace, &ar);
    let body = json!({
        "apiVersion": ar.api_version, "kind": ar.kind,
        "metadata": {"name": key.name, "namespace": key.namespace},
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

/// Evicts one pod through the Eviction API, retrying while a PodDisruptionBudget blocks it (429).
/// Returns the evicted pod's uid, or `None` when the pod is already gone.
pub async fn evict(
    client: &Client,
    namespace: &str,
    pod: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<Option<String>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let Some(current) = retry(&mut stats(), &format!("get pod {namespace}/{pod}"), || {
        api.get_opt(pod)
    })
    .await?
    else {
        return Ok(None);
    };
    let uid = current.metadata.uid.clone();
    // A PodDisruptionBudget answers 429 for as long as it holds: back off from `poll` to 30 s.
    let backoff = Backoff::exponential(poll, Duration::from_secs(30));
    let evicted = poll::until(backoff, Some(timeout), async || {
        match api.evict(pod, &EvictParams::default()).await {
            Ok(_) => Ok(Check::Done(uid.clone())),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Check::Done(None)),
            Err(kube::Error::Api(s)) if s.code == 429 || s.code >= 500 => {
                tracing::info!(pod = %pod, reason = %s.message, "eviction refused; retrying");
                Ok(Check::Pending(s.message))
            }
            Err(e) => {
                let e = Error::api(format!("evict pod {namespace}/{pod}"), e);
                Err(if e.status() == Some(403) {
                    e.with_hint("grant `create` on `pods/eviction`")
                } else {
                    e
                })
            }
        }
    })
    .await;
    match evicted {
        Ok(uid) => Ok(uid),
        Err(Wait::Failed(e)) => Err(e),
        Err(Wait::TimedOut { last }) => Err(Error::Failure(format!(
            "evict pod {namespace}/{pod}: still refused after {timeout:?}: {}",
            last.as_deref().unwrap_or("no answer")
        ))),
    }
}

/// Waits until the evicted pod is gone (or replaced under the same name) and the owner is back
/// to full readiness.
pub async fn wait_replaced(
    client: &Client,
    owner: &ObjectKey,
    namespace: &str,
    pod: &str,
    old_uid: Option<&str>,
    poll: Duration,
) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    poll::until(Backoff::constant(poll), None, async || {
        let p = retry(&mut stats(), &format!("get pod {namespace}/{pod}"), || {
            pods.get_opt(pod)
        })
        .await?;
        let replaced = match &p {
            None => true,
            Some(p) => p.metadata.uid.as_deref() != old_uid,
        };
        Ok(if !replaced {
            Check::Pending(format!("pod {namespace}/{pod} is still there"))
        } else if owner_ready(client, owner).await? {
            Check::Done(())
        } else {
            Check::Pending(format!("{owner} is not fully ready yet"))
        })
    })
    .await
    .map_err(unbounded)
}

async fn owner_ready(client: &Client, key: &ObjectKey) -> Result<bool> {
    let ar = resource(&key.kind)?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &key.namespace, &ar);
    let o = retry(&mut stats(), &format!("get {key}"), || api.get(&key.name)).await?;
    let n = |p: &str| o.data.pointer(p).and_then(|v| v.as_i64()).unwrap_or(0);
    Ok(match key.kind {
        Kind::DaemonSet => n("/status/numberAvailable") >= n("/status/desiredNumberScheduled"),
        _ => {
            let want = o
                .data
                .pointer("/spec/replicas")
                .and_then(|v| v.as_i64())
                .unwrap_or(1);
            n("/status/readyReplicas") >= want
        }
    })
}

/// The Event recorder of one apply run (reporting controller `istio-rollout`); cheap to clone.
pub fn recorder(client: &Client) -> Recorder {
    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: None,
    };
    Recorder::new(client.clone(), reporter)
}

/// Records a Kubernetes Event on the workload, retried like every other request. Failing to
/// record is logged, not fatal.
pub async fn event(
    recorder: &Recorder,
    key: &ObjectKey,
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
    let note = match target {
        Some(t) => format!("{note} (target Istio {t})"),
        None => note.to_string(),
    };
    let ev = Event {
        type_: EventType::Normal,
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

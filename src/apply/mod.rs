//! Executes a [`Plan`](crate::plan::Plan) against the cluster: the CR first, then restarts and
//! evictions under a concurrency limit, each waited for by kubectl's rules. Returns a [`Report`].
//!
//! Safe to re-run: a workload whose pod template already carries the same `restarted-for` and
//! whose rollout completed is not restarted again, and a rollout already under way is waited for,
//! never restarted on top.
mod k8s;
pub mod report;

use crate::desired::Desired;
use crate::error::{Error, Result};
use crate::live::cluster::{self, Stats};
use crate::live::rollout::RolloutState;
use crate::live::{LiveState, ObjectKey, RESTARTED_AT_ANNOTATION, RESTARTED_FOR_ANNOTATION};
use crate::plan::{Action, Entry, Options as PlanOptions, Plan, Reason, cr::CrAction};
use kube::Client;
use kube::runtime::events::Recorder;
pub use report::{Outcome, Report, Result as EntryResult};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The field manager of every write this tool makes.
pub const FIELD_MANAGER: &str = "istio-rollout";

#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Server-side apply the Istio CR when it differs from git (off: Argo CD or Flux owns it).
    pub apply_cr: bool,
    pub max_concurrent: usize,
    /// Per workload: its rollout or evictions.
    pub workload_timeout: Duration,
    /// The whole run.
    pub overall_timeout: Duration,
    /// Waiting for the operator to catch up with the CR and the module version.
    pub operator_timeout: Duration,
    /// Waiting for a PodDisruptionBudget that allows no disruption before starting a workload.
    pub pdb_timeout: Duration,
    pub poll: Duration,
    /// Show a progress bar (stderr is a terminal).
    pub progress: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            apply_cr: true,
            max_concurrent: 2,
            workload_timeout: Duration::from_secs(600),
            overall_timeout: Duration::from_secs(3600),
            operator_timeout: Duration::from_secs(600),
            pdb_timeout: Duration::from_secs(300),
            poll: Duration::from_secs(2),
            progress: false,
        }
    }
}

/// Reads the live state and plans, as `plan` does.
pub async fn replan(
    client: &Client,
    desired: &Desired,
    opts: &PlanOptions,
) -> Result<(LiveState, Plan)> {
    let live = cluster::read(client, &mut Stats::default()).await?;
    let plan = crate::plan::plan(desired, &live, opts);
    Ok((live, plan))
}

/// Applies the plan. `plan` must have been computed from `desired` against this cluster.
pub async fn run(
    client: &Client,
    desired: &Desired,
    plan: Plan,
    popts: &PlanOptions,
    opts: &ApplyOptions,
) -> Result<Report> {
    let started = Instant::now();
    let mut report = Report::new(&plan);
    let recorder = k8s::recorder(client);
    let work = async {
        // 1. The CR, then the operator.
        let cr_changed = match plan.cr.action {
            CrAction::Create | CrAction::Update if opts.apply_cr => {
                let istio = desired.istio.as_ref().expect("a CR to apply");
                k8s::apply_cr(client, istio).await?;
                report.cr =
                    format!("applied with server-side apply (field manager {FIELD_MANAGER})");
                true
            }
            CrAction::Create | CrAction::Update => {
                report.cr =
                    "differs from git; not applied (--no-apply-cr): its owner applies it".into();
                false
            }
            CrAction::Delete => {
                report.cr = "not in git; left for GitOps to prune".into();
                false
            }
            CrAction::None => {
                report.cr = "in sync".into();
                false
            }
        };
        let versions_differ = plan.versions.live != plan.versions.target && !plan.uninstall;
        // On uninstall, sidecars restarted while Istio still runs would be injected again.
        let still_installed = plan.uninstall && !plan.control_plane.versions.is_empty();
        // The plan to work from: the operator wait's last (fresh) one, else the given one, as
        // nothing changed since it was made.
        let mut current =
            if cr_changed || versions_differ || !plan.control_plane.ready || still_installed {
                let (caught_up, latest) = wait_for_operator(client, desired, popts, opts).await?;
                report.operator = Some(caught_up);
                latest
            } else {
                plan.clone()
            };

        // 2. Workloads, from that plan (the operator may have restarted some already). Once the
        // operator applied new gateway settings, the fresh plan no longer shows why the gateway
        // must restart: that entry comes from the plan made before.
        let gateway = plan
            .workloads
            .iter()
            .find(|e| {
                e.reasons.contains(&Reason::IngressGatewayConfig) && e.action == Action::Restart
            })
            .cloned();
        if let Some(g) = gateway
            && !current.workloads.iter().any(|e| e.key() == g.key())
        {
            current.workloads.push(g);
        }
        let mut touched: BTreeSet<ObjectKey> = BTreeSet::new();
        for round in 0..2 {
            let todo: Vec<Entry> = current
                .workloads
                .iter()
                .filter(|e| !touched.contains(&e.key()))
                .cloned()
                .collect();
            if todo.is_empty()
                || (round > 0
                    && !todo
                        .iter()
                        .any(|e| matches!(e.action, Action::Restart | Action::Evict)))
            {
                break;
            }
            let outcomes =
                execute(client, &recorder, todo, &plan.versions.target.istio, opts).await;
            for o in outcomes {
                touched.insert(o.key());
                report.record(o);
            }
            // Level-triggered: what remains is what the cluster says now.
            current = replan(client, desired, popts).await?.1;
        }
        // A workload that was restarted or waited for and still needs something did not converge.
        for e in &current.workloads {
            if let Some(o) = report.outcome_mut(&e.key())
                && matches!(
                    o.result,
                    EntryResult::Restarted | EntryResult::Evicted | EntryResult::Waited
                )
            {
                o.result = EntryResult::Failed;
                o.message = format!("done, but its pods still need: {}", e.details.join("; "));
            }
        }
        report.remaining = Some(current.summary.clone());
        Ok::<(), Error>(())
    };
    match tokio::time::timeout(opts.overall_timeout, work).await {
        Ok(r) => r?,
        Err(_) => {
            report.failures.push(format!(
                "the overall timeout of {:?} ran out",
                opts.overall_timeout
            ));
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Waits until the operator has caught up: CR Ready, `lastAppliedConfiguration` matching git and
/// the target tag, and the control plane on the target version. Polls only what that takes
/// ([`cluster::read_operator_view`]); once it has caught up, reads the whole cluster once and
/// returns that plan.
async fn wait_for_operator(
    client: &Client,
    desired: &Desired,
    popts: &PlanOptions,
    opts: &ApplyOptions,
) -> Result<(String, Plan)> {
    let deadline = Instant::now() + opts.operator_timeout;
    loop {
        let live = cluster::read_operator_view(client, &mut Stats::default()).await?;
        // Only its control-plane and CR parts count: the view holds no other workloads.
        let view = crate::plan::plan(desired, &live, popts);
        if live.manager.is_none() && desired.istio.is_some() {
            return Err(Error::Failure(
                "no Istio operator in the cluster (Deployment kyma-system/istio-controller-manager not found): nothing would apply the CR or upgrade the control plane".into(),
            ));
        }
        let last = match operator_caught_up(desired, &live, &view) {
            Some(why) => why,
            // The full read decides, so the plan returned is one that saw the operator done.
            None => {
                let (live, plan) = replan(client, desired, popts).await?;
                match operator_caught_up(desired, &live, &plan) {
                    None => {
                        let versions: Vec<String> = plan
                            .control_plane
                            .versions
                            .iter()
                            .map(|v| v.to_string())
                            .collect();
                        return Ok((
                            format!("caught up: control plane on {}", versions.join(", ")),
                            plan,
                        ));
                    }
                    // It changed between the two reads: keep waiting.
                    Some(why) => why,
                }
            }
        };
        if Instant::now() >= deadline {
            return Err(Error::Failure(format!(
                "the operator did not catch up within {:?}: {last}",
                opts.operator_timeout
            )));
        }
        tracing::info!(waiting_for = %last, "waiting for the Istio operator");
        tokio::time::sleep(opts.poll).await;
    }
}

/// Why the operator has not caught up yet, or `None` when it has.
pub fn operator_caught_up(desired: &Desired, live: &LiveState, plan: &Plan) -> Option<String> {
    if desired.istio.is_none() && !plan.control_plane.versions.is_empty() {
        return Some(format!(
            "Istio is still installed (the control plane runs {:?}): uninstall it first (GitOps prunes the CR)",
            plan.control_plane
                .versions
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
        ));
    }
    if let Some(want) = &desired.istio {
        let name = want.metadata.name.as_deref().unwrap_or("default");
        let Some(cr) = live.istio_cr(crate::istio::cr::NAMESPACE, name) else {
            return Some("the Istio CR is not in the cluster yet".into());
        };
        let state = cr.status.as_ref().map(|s| s.state);
        if state != Some(crate::istio::cr::State::Ready) {
            return Some(format!("Istio CR state is {state:?}, not Ready"));
        }
        match crate::plan::gateway::last_applied(cr) {
            Some(Ok(applied)) if applied == want.spec => {}
            Some(Ok(_)) => return Some("lastAppliedConfiguration does not match git yet".into()),
            _ => return Some("no lastAppliedConfiguration yet".into()),
        }
        if let Some(target) = desired.istio_version {
            let tag = cr
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(crate::istio::cr::LAST_APPLIED_ANNOTATION))
                .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw).ok())
                .and_then(|v| {
                    v.get("IstioTag")
                        .and_then(|t| t.as_str())
                        .and_then(|t| t.parse().ok())
                });
            if tag != Some(target) {
                return Some(format!(
                    "lastAppliedConfiguration IstioTag is not {target} yet"
                ));
            }
        }
    }
    if !plan.control_plane.ready {
        return Some(format!(
            "the control plane runs {:?}, not only {}",
            plan.control_plane
                .versions
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>(),
            desired
                .istio_version
                .map(|v| v.to_string())
                .unwrap_or_default()
        ));
    }
    None
}

async fn execute(
    client: &Client,
    recorder: &Recorder,
    entries: Vec<Entry>,
    target: &Option<crate::istio::Version>,
    opts: &ApplyOptions,
) -> Vec<Outcome> {
    let semaphore = Arc::new(Semaphore::new(opts.max_concurrent.max(1)));
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(
            entries
                .iter()
                .filter(|e| matches!(e.action, Action::Restart | Action::Evict | Action::Wait))
                .count() as u64,
        );
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} workloads  {msg}",
            )
            .expect("a valid template"),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut immediate = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        match e.action {
            Action::Restart | Action::Evict | Action::Wait => {
                let (client, recorder, sem, opts, target) = (
                    client.clone(),
                    recorder.clone(),
                    semaphore.clone(),
                    opts.clone(),
                    *target,
                );
                tasks.spawn(async move {
                    let _permit = sem
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed");
                    let started = Instant::now();
                    let r = tokio::time::timeout(
                        opts.workload_timeout,
                        one(&client, &recorder, &e, target, &opts),
                    )
                    .await;
                    let (result, message) = match r {
                        Ok(Ok(x)) => x,
                        Ok(Err(err)) => (EntryResult::Failed, crate::error::report(&err)),
                        Err(_) => (
                            EntryResult::TimedOut,
                            format!("not done within {:?}", opts.workload_timeout),
                        ),
                    };
                    (
                        i,
                        Outcome::new(&e, result, message, started.elapsed().as_secs_f64()),
                    )
                });
            }
            Action::Manual => immediate.push((
                i,
                Outcome::new(&e, EntryResult::Manual, e.note.clone(), 0.0),
            )),
            Action::Blocked => immediate.push((
                i,
                Outcome::new(&e, EntryResult::Blocked, e.note.clone(), 0.0),
            )),
            Action::Skip => immediate.push((
                i,
                Outcome::new(&e, EntryResult::Skipped, e.note.clone(), 0.0),
            )),
        }
    }
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(x) => {
                bar.inc(1);
                bar.set_message(format!(
                    "{} {}/{}: {:?}",
                    x.1.kind, x.1.namespace, x.1.name, x.1.result
                ));
                immediate.push(x)
            }
            Err(e) => tracing::error!(error = %e, "a workload task panicked"),
        }
    }
    bar.finish_and_clear();
    immediate.sort_by_key(|(i, _)| *i);
    immediate.into_iter().map(|(_, o)| o).collect()
}

async fn one(
    client: &Client,
    recorder: &Recorder,
    e: &Entry,
    target: Option<crate::istio::Version>,
    opts: &ApplyOptions,
) -> Result<(EntryResult, String)> {
    let key = e.key();
    match e.action {
        Action::Wait => {
            tracing::info!(workload = %key, "waiting for the rollout under way");
            k8s::wait_rollout(client, &key, opts.poll).await?;
            Ok((
                EntryResult::Waited,
                "the rollout under way completed".into(),
            ))
        }
        Action::Restart => {
            let owner = k8s::get_owner(client, &key).await?;
            let wanted = e
                .template_annotations
                .get(RESTARTED_FOR_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            if let RolloutState::InProgress(_) = crate::live::rollout::rollout_state(&owner.spec) {
                // Ours from an interrupted run, or someone else's: never restart on top. The
                // level-triggered check afterwards tells whether it brought the target.
                k8s::wait_rollout(client, &key, opts.poll).await?;
                return Ok((
                    EntryResult::Waited,
                    "a rollout was under way; waited for it".into(),
                ));
            }
            // A completed restart for the same target whose pods are still planned did not bring
            // the target (restarted again since, or before the control plane was ready).
            let again = owner.template_annotations.get(RESTARTED_FOR_ANNOTATION) == Some(&wanted);
            k8s::wait_pdbs(client, &e.namespace, &e.pods, opts.pdb_timeout, opts.poll).await?;
            let mut annotations = BTreeMap::new();
            annotations.insert(RESTARTED_FOR_ANNOTATION.to_string(), wanted.clone());
            annotations.insert(RESTARTED_AT_ANNOTATION.to_string(), k8s::now_rfc3339());
            tracing::info!(workload = %key, restarted_for = %wanted, "restarting");
            k8s::patch_template(client, &key, &annotations).await?;
            k8s::event(
                recorder,
                &key,
                "Restarted",
                &format!("rolling restart by istio-rollout for {wanted}"),
                target,
            )
            .await;
            k8s::wait_rollout(client, &key, opts.poll).await?;
            let note = if again {
                " (again: its pods still needed it after an earlier restart for the same target)"
            } else {
                ""
            };
            Ok((
                EntryResult::Restarted,
                format!("rolled out for {wanted}{note}"),
            ))
        }
        Action::Evict => {
            let owner_key = key.clone();
            let mut evicted = 0;
            for pod in &e.pods {
                tracing::info!(workload = %owner_key, pod = %pod, "evicting");
                if let Some(uid) =
                    k8s::evict(client, &e.namespace, pod, opts.workload_timeout, opts.poll).await?
                {
                    evicted += 1;
                    let why = e
                        .reasons
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(",");
                    k8s::event(
                        recorder,
                        &owner_key,
                        "Evicted",
                        &format!("pod {pod} evicted by istio-rollout for {why}"),
                        target,
                    )
                    .await;
                    k8s::wait_replaced(
                        client,
                        &owner_key,
                        &e.namespace,
                        pod,
                        Some(&uid),
                        opts.poll,
                    )
                    .await?;
                }
            }
            Ok((
                EntryResult::Evicted,
                format!("{evicted} pods evicted one at a time and replaced"),
            ))
        }
        _ => unreachable!("only restart, evict and wait entries run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{File, Source};
    use serde_json::json;

    const CR: &str = "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata: {name: default, namespace: kyma-system}\nspec: {config: {numTrustedProxies: 2}}\n";

    fn desired(cr: bool) -> Desired {
        let source = Source {
            repo: "r".into(),
            reference: "HEAD".into(),
            commit: "c".into(),
            path: ".".into(),
        };
        let mut files = vec![File {
            path: "ISTIO_MODULE_VERSION".into(),
            contents: b"1.28.0".to_vec(),
        }];
        if cr {
            files.push(File {
                path: "cr.yaml".into(),
                contents: CR.into(),
            });
        }
        let opts = crate::desired::Options {
            allow_uninstall: !cr,
            ..Default::default()
        };
        crate::desired::parse(source, &files, &opts).unwrap()
    }

    fn live(state: &str, applied: &str, istiod: Option<&str>) -> LiveState {
        let mut items = vec![
            json!({"apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
            "metadata": {"name": "default", "namespace": "kyma-system",
                         "annotations": {"operator.kyma-project.io/lastAppliedConfiguration": applied}},
            "spec": {"config": {"numTrustedProxies": 2}}, "status": {"state": state}}),
        ];
        if let Some(v) = istiod {
            items.push(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "istiod-1", "namespace": "istio-system", "labels": {"kyma-project.io/module": "istio"}},
                "spec": {"containers": [{"name": "discovery", "image": format!("pilot:{v}-distroless")}]}}));
        }
        crate::live::snapshot::parse("t", &json!({"kind": "List", "items": items}).to_string())
            .unwrap()
    }

    fn why(d: &Desired, l: &LiveState) -> Option<String> {
        let plan = crate::plan::plan(d, l, &Default::default());
        operator_caught_up(d, l, &plan)
    }

    #[test]
    fn the_operator_has_caught_up_only_when_everything_agrees() {
        let d = desired(true);
        let done = r#"{"config":{"numTrustedProxies":2},"IstioTag":"1.30.2-distroless"}"#;
        assert_eq!(why(&d, &live("Ready", done, Some("1.30.2"))), None);
        assert!(
            why(&d, &live("Processing", done, Some("1.30.2")))
                .unwrap()
                .contains("not Ready")
        );
        let old_spec = r#"{"config":{"numTrustedProxies":1},"IstioTag":"1.30.2-distroless"}"#;
        assert!(
            why(&d, &live("Ready", old_spec, Some("1.30.2")))
                .unwrap()
                .contains("does not match git")
        );
        let old_tag = r#"{"config":{"numTrustedProxies":2},"IstioTag":"1.29.3-distroless"}"#;
        assert!(
            why(&d, &live("Ready", old_tag, Some("1.30.2")))
                .unwrap()
                .contains("IstioTag")
        );
        assert!(
            why(&d, &live("Ready", done, Some("1.29.3")))
                .unwrap()
                .contains("control plane")
        );
    }

    #[test]
    fn uninstall_waits_until_istio_is_gone() {
        let d = desired(false);
        assert!(
            why(&d, &live("Deleting", "{}", Some("1.30.2")))
                .unwrap()
                .contains("still installed")
        );
        assert_eq!(why(&d, &live("Deleting", "{}", None)), None);
    }
}

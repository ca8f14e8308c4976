//! The workloads of one round: restarts, evictions and waits, at most `max_concurrent` at a time,
//! each under the workload timeout. Outcomes come back in the plan's order.

use super::report::{Outcome, Result as EntryResult};
use super::{ApplyOptions, k8s};
use crate::error::Result;
use crate::live::rollout::RolloutState;
use crate::live::{RESTARTED_AT_ANNOTATION, RESTARTED_FOR_ANNOTATION};
use crate::plan::{Action, Entry};
use futures::StreamExt;
use kube::Client;
use kube::runtime::events::Recorder;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Runs the restart, evict and wait entries, at most `max_concurrent` at a time; the others are
/// recorded as they are. One outcome per entry, in the order of `entries`.
pub async fn execute(
    client: &Client,
    recorder: &Recorder,
    entries: Vec<Entry>,
    target: &Option<crate::istio::Version>,
    opts: &ApplyOptions,
) -> Vec<Outcome> {
    let runs = |e: &Entry| matches!(e.action, Action::Restart | Action::Evict | Action::Wait);
    let total = entries.iter().filter(|e| runs(e)).count();
    let bar = progress_bar(opts.progress, total);
    // Each entry's slot in the plan's order; the runnable ones are filled as they finish.
    let mut outcomes: Vec<Option<Outcome>> = entries
        .iter()
        .map(|e| {
            let result = match e.action {
                Action::Manual => EntryResult::Manual,
                Action::Blocked => EntryResult::Blocked,
                Action::Skip => EntryResult::Skipped,
                Action::Restart | Action::Evict | Action::Wait => return None,
            };
            Some(Outcome::new(e, result, e.note.clone(), 0.0))
        })
        .collect();
    let finished = futures::stream::iter(entries.iter().enumerate().filter(|(_, e)| runs(e)))
        // HEALTH GATE call site (src/apply/health.rs): checked before each workload starts, one
        // check at a time (`then` is sequential; started workloads go on meanwhile). Once it
        // stopped the run, the rest are not started. Move it to the wave boundary.
        .then(|(i, e)| async move { (i, e, super::health::before_start(client, opts).await) })
        .map(|(i, e, gate)| async move {
            match gate {
                Ok(()) => (i, bounded(client, recorder, e, *target, opts).await),
                Err(stop) => {
                    let why = format!("not started: {stop}");
                    (i, Outcome::new(e, EntryResult::Skipped, why, 0.0))
                }
            }
        })
        .buffer_unordered(opts.max_concurrent.max(1));
    let mut finished = std::pin::pin!(finished);
    let mut done = 0;
    while let Some((i, o)) = finished.next().await {
        done += 1;
        // One line per outcome as it happens: a Job's progress, readable in its logs.
        let line = format!("workload {done} of {total} done");
        match o.result {
            EntryResult::Failed | EntryResult::TimedOut => tracing::warn!(
                n = done, of = total, workload = %o.key(), result = o.result.as_str(),
                seconds = (o.seconds * 10.0).round() / 10.0, note = %o.message, "{line}"
            ),
            _ => tracing::info!(
                n = done, of = total, workload = %o.key(), result = o.result.as_str(),
                seconds = (o.seconds * 10.0).round() / 10.0, note = %o.message, "{line}"
            ),
        }
        bar.inc(1);
        bar.set_message(format!(
            "{} {}/{}: {:?}",
            o.kind, o.namespace, o.name, o.result
        ));
        outcomes[i] = Some(o);
    }
    bar.finish_and_clear();
    outcomes.into_iter().flatten().collect()
}

fn progress_bar(show: bool, len: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(len as u64);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} workloads  {msg}",
        )
        .expect("a valid template"),
    );
    b.enable_steady_tick(Duration::from_millis(200));
    b
}

/// One entry under the workload timeout.
async fn bounded(
    client: &Client,
    recorder: &Recorder,
    e: &Entry,
    target: Option<crate::istio::Version>,
    opts: &ApplyOptions,
) -> Outcome {
    let started = Instant::now();
    let r = tokio::time::timeout(
        opts.workload_timeout,
        one(client, recorder, e, target, opts),
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
    // Failures are Warning Events on the workload, where `kubectl describe` and alerts see them.
    let reason = match (result, e.action) {
        (EntryResult::Failed, Action::Evict) => Some("EvictionFailed"),
        (EntryResult::Failed, _) => Some("RestartFailed"),
        (EntryResult::TimedOut, Action::Evict) => Some("EvictionTimedOut"),
        (EntryResult::TimedOut, _) => Some("RestartTimedOut"),
        _ => None,
    };
    if let Some(reason) = reason {
        let note = format!("istio-rollout: {message}");
        k8s::publish(
            recorder,
            &e.key(),
            kube::runtime::events::EventType::Warning,
            reason,
            &note,
            target,
        )
        .await;
    }
    Outcome::new(e, result, message, started.elapsed().as_secs_f64())
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
                "the rollout under way completed; its pods are judged again".into(),
            ))
        }
        Action::Restart => restart(client, recorder, e, target, opts).await,
        Action::Evict => {
            let owner_key = key.clone();
            let (mut evicted, mut gone) = (0, 0);
            for pod in &e.pods {
                tracing::info!(workload = %owner_key, pod = %pod, "evicting");
                let uid = match k8s::evict(
                    client,
                    &e.namespace,
                    pod,
                    opts.workload_timeout,
                    opts.poll,
                )
                .await?
                {
                    k8s::Eviction::Gone => continue,
                    k8s::Eviction::Going(uid) => {
                        tracing::info!(workload = %owner_key, pod = %pod, "already going; waiting for its replacement");
                        gone += 1;
                        k8s::wait_replaced(client, &owner_key, &e.namespace, pod, &uid, opts.poll)
                            .await?;
                        continue;
                    }
                    k8s::Eviction::Evicted(uid) => uid,
                };
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
                    k8s::wait_replaced(client, &owner_key, &e.namespace, pod, &uid, opts.poll)
                        .await?;
                }
            }
            let message = if gone == 0 {
                format!("{evicted} pods evicted one at a time and replaced")
            } else {
                format!(
                    "{evicted} pods evicted one at a time and replaced; {gone} already going (deleted or evicted by someone else) and replaced"
                )
            };
            Ok((EntryResult::Evicted, message))
        }
        _ => unreachable!("only restart, evict and wait entries run"),
    }
}

/// How many times a restart reads the workload again after its patch met a newer object (409)
/// before it gives up: each time the object changed between a read and the patch right after.
const MAX_CONFLICTS: usize = 20;

/// A rolling restart, judged on a fresh read right before the patch: a rollout under way (the
/// operator's, an earlier run's, anyone's) or a template changed since the plan (the operator
/// restarted it meanwhile) is waited for, never restarted on top; a failed rollout is left
/// alone. The patch holds only on the object it was judged on (its `resourceVersion`); a 409
/// means read again and judge again, where this run's own `restarted-at` (a patch whose answer
/// was lost, then retried) counts as done.
async fn restart(
    client: &Client,
    recorder: &Recorder,
    e: &Entry,
    target: Option<crate::istio::Version>,
    opts: &ApplyOptions,
) -> Result<(EntryResult, String)> {
    let key = e.key();
    let wanted = e
        .template_annotations
        .get(RESTARTED_FOR_ANNOTATION)
        .cloned()
        .unwrap_or_default();
    let mut sent: Option<String> = None;
    let mut again = false;
    let mut pdbs_waited = false;
    for _ in 0..MAX_CONFLICTS {
        let (owner, version) = k8s::get_workload(client, &key).await?;
        let ours = sent
            .as_ref()
            .is_some_and(|at| owner.template_annotations.get(RESTARTED_AT_ANNOTATION) == Some(at));
        if ours {
            tracing::info!(workload = %key, "the patch had landed (its answer was lost)");
            return finish(client, recorder, &key, &wanted, target, again, opts).await;
        }
        match crate::live::rollout::rollout_state(&owner.spec) {
            RolloutState::InProgress(why) => {
                // Ours from an interrupted run, the operator's, or someone else's: never restart
                // on top. The next round judges its pods again.
                tracing::info!(workload = %key, %why, "a rollout is under way: waiting for it");
                k8s::wait_rollout(client, &key, opts.poll).await?;
                return Ok((
                    EntryResult::Waited,
                    format!(
                        "a rollout was under way ({why}); waited for it, its pods are judged again"
                    ),
                ));
            }
            RolloutState::Failed(why) => {
                return Ok((
                    EntryResult::Blocked,
                    format!(
                        "its rollout failed ({why}): not restarted on top; fix the workload first"
                    ),
                ));
            }
            _ => {}
        }
        if let Some(seen) = &e.seen
            && *seen != owner.seen
        {
            let who = if seen.operator_restarted_at != owner.seen.operator_restarted_at {
                "the Istio operator restarted it"
            } else {
                "its pod template changed"
            };
            tracing::info!(workload = %key, "{who} since the plan: waiting instead of restarting");
            k8s::wait_rollout(client, &key, opts.poll).await?;
            return Ok((
                EntryResult::Waited,
                format!(
                    "{who} since the plan: waited for that rollout instead of restarting on top; its pods are judged again"
                ),
            ));
        }
        // A completed restart for the same target whose pods are still planned did not bring
        // the target (restarted again since, or before the control plane was ready).
        again = owner.template_annotations.get(RESTARTED_FOR_ANNOTATION) == Some(&wanted);
        if !pdbs_waited {
            k8s::wait_pdbs(client, &e.namespace, &e.pods, opts.pdb_timeout, opts.poll).await?;
            pdbs_waited = true;
            // The wait may have taken a while: judge on a fresh read.
            continue;
        }
        let at = k8s::now_rfc3339();
        let mut annotations = BTreeMap::new();
        annotations.insert(RESTARTED_FOR_ANNOTATION.to_string(), wanted.clone());
        annotations.insert(RESTARTED_AT_ANNOTATION.to_string(), at.clone());
        tracing::info!(workload = %key, restarted_for = %wanted, "restarting");
        sent = Some(at);
        match k8s::patch_template(client, &key, &annotations, version.as_deref()).await {
            Ok(()) => return finish(client, recorder, &key, &wanted, target, again, opts).await,
            Err(err) if err.status() == Some(409) => {
                tracing::info!(workload = %key, "changed since it was read (409): reading and judging again");
            }
            Err(err) => return Err(err),
        }
    }
    Err(crate::error::Error::Failure(format!(
        "{key}: changed between every read and the patch right after ({MAX_CONFLICTS} times): not restarted"
    )))
}

/// After the patch: the Event, the rollout.
async fn finish(
    client: &Client,
    recorder: &Recorder,
    key: &crate::live::ObjectKey,
    wanted: &str,
    target: Option<crate::istio::Version>,
    again: bool,
    opts: &ApplyOptions,
) -> Result<(EntryResult, String)> {
    k8s::event(
        recorder,
        key,
        "Restarted",
        &format!("rolling restart by istio-rollout for {wanted}"),
        target,
    )
    .await;
    k8s::wait_rollout(client, key, opts.poll).await?;
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

//! The order of an apply run: the CR, then the operator, then rounds of workloads from a fresh
//! plan each (what was only waited for is judged again in the next), all under the overall
//! timeout.

use super::report::{Report, Result as EntryResult};
use super::{ApplyOptions, FIELD_MANAGER, executor, k8s, operator};
use crate::desired::Desired;
use crate::error::{Error, Result};
use crate::live::LiveState;
use crate::live::ObjectKey;
use crate::live::cluster::{self, Stats};
use crate::plan::{Action, Entry, Options as PlanOptions, Plan, Reason, cr::CrAction};
use kube::Client;
use std::collections::BTreeSet;
use std::time::Instant;

/// Rounds of workloads at most: the first, one for what a waited-for rollout left to do (or a
/// workload restarted again since), and two more for rollouts that came while waiting.
const ROUNDS: usize = 4;

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
        // HEALTH GATE call site (src/apply/health.rs): before anything is changed, the CR
        // included (when there is anything to do). Closed past --health-timeout (or Prometheus unreachable, failing closed):
        // the run ends here, nothing touched.
        if plan.is_pending() {
            super::health::before_start(client, opts).await?;
        }
        // 1. The CR, then the operator.
        let (cr, cr_changed) = apply_cr(client, desired, &plan, opts).await?;
        report.cr = cr;
        let versions_differ = plan.versions.live != plan.versions.target && !plan.uninstall;
        // On uninstall, sidecars restarted while Istio still runs would be injected again.
        let still_installed = plan.uninstall && !plan.control_plane.versions.is_empty();
        // The plan to work from: the operator wait's last (fresh) one, else the given one, as
        // nothing changed since it was made.
        // A CR that differs from git and is left to its owner (--no-apply-cr) is about to
        // change as well: the operator reconciles it once it is synced.
        // Likewise a CR whose owner synced it before this run and that the operator has not
        // applied yet (its lastAppliedConfiguration means another spec).
        let cr_pending = matches!(plan.cr.action, CrAction::Create | CrAction::Update)
            || (!opts.apply_cr && {
                let live = cluster::read_operator_view(client, &mut Stats::default()).await?;
                crate::plan::operator::spec_pending(desired, &live)
            });
        let mut current = if cr_changed
            || cr_pending
            || versions_differ
            || !plan.control_plane.ready
            || still_installed
            || operator::ready_while_restarting(&plan)
        {
            let (caught_up, latest) = operator::wait(client, desired, popts, opts).await?;
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
        // Done with: everything but what was only waited for, which the next round judges
        // again from a fresh plan (the rollout waited for may or may not have brought the
        // target).
        let mut done: BTreeSet<ObjectKey> = BTreeSet::new();
        for round in 0..ROUNDS {
            let todo: Vec<Entry> = current
                .workloads
                .iter()
                .filter(|e| !done.contains(&e.key()))
                .cloned()
                .collect();
            if todo.is_empty()
                || (round > 0
                    && !todo.iter().any(|e| {
                        matches!(e.action, Action::Restart | Action::Evict | Action::Wait)
                    }))
            {
                break;
            }
            let outcomes =
                executor::execute(client, &recorder, todo, &plan.versions.target.istio, opts).await;
            for o in outcomes {
                if o.result != EntryResult::Waited {
                    done.insert(o.key());
                }
                report.record(o);
            }
            // Level-triggered: what remains is what the cluster says now.
            current = replan(client, desired, popts).await?.1;
            // HEALTH GATE: a gate that stopped the run ends it; what was not started says so.
            if let Some(why) = opts.health.as_ref().and_then(|g| g.stopped()) {
                report.failures.push(why);
                break;
            }
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

/// Applies the CR when git changed it and this tool owns it. Returns what the report says and
/// whether it was applied.
async fn apply_cr(
    client: &Client,
    desired: &Desired,
    plan: &Plan,
    opts: &ApplyOptions,
) -> Result<(String, bool)> {
    Ok(match plan.cr.action {
        CrAction::Create | CrAction::Update if opts.apply_cr => {
            let istio = desired.istio.as_ref().expect("a CR to apply");
            let removed = k8s::apply_cr(client, istio).await?;
            let mut words =
                format!("applied with server-side apply (field manager {FIELD_MANAGER})");
            if !removed.is_empty() {
                words.push_str(&format!(
                    "; removed what git no longer sets: {}",
                    super::cr::describe(&removed)
                ));
            }
            (words, true)
        }
        CrAction::Create | CrAction::Update => (
            "differs from git; not applied (--no-apply-cr): its owner applies it".into(),
            false,
        ),
        CrAction::Delete => ("not in git; left for GitOps to prune".into(), false),
        CrAction::None => ("in sync".into(), false),
    })
}

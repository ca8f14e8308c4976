//! Waiting for the Istio operator to catch up with the CR and the module version.

use super::ApplyOptions;
use super::sequence::replan;
use crate::desired::Desired;
use crate::error::{Error, Result};
use crate::istio::Version;
use crate::live::cluster::{self, Stats};
use crate::live::{LiveState, ObjectKey, Seen};
use crate::plan::operator::{caught_up, warning_for_manual_restarts};
use crate::plan::{Options as PlanOptions, Plan};
use crate::poll::{self, Backoff, Check, Wait};
use kube::Client;
use std::collections::BTreeMap;

/// From module 1.31.0 the operator keeps the CR Ready while it restarts sidecars after an upgrade:
/// having caught up (the tag written, the control plane on it) then says nothing about whether
/// its restarts are over (`apply` then always waits for them to come to rest).
pub fn ready_while_restarting(plan: &Plan) -> bool {
    let from = Version::new(1, 31, 0);
    [plan.versions.live.module, plan.versions.target.module]
        .into_iter()
        .flatten()
        .any(|m| m >= from)
}

/// Whether the CR's status says nothing about the operator's restarts: from module 1.31
/// ([`ready_while_restarting`]), or a CR `Warning` for manual restarts, which stays as it is
/// while the operator reconciles a newer spec and restarts for it.
fn status_silent_on_restarts(
    desired: &Desired,
    live: &LiveState,
    plan: &Plan,
) -> Option<&'static str> {
    if ready_while_restarting(plan) {
        return Some("module 1.31 and later keep the CR Ready while it restarts");
    }
    let name = desired
        .istio
        .as_ref()?
        .metadata
        .name
        .as_deref()
        .unwrap_or("default");
    live.istio_cr(crate::istio::cr::NAMESPACE, name)
        .filter(|cr| warning_for_manual_restarts(cr))
        .map(|_| "the CR stays Warning for manual restarts while it restarts")
}

/// The operator's restart marks of every workload: its annotation on the pod template and the
/// generation.
fn marks(live: &LiveState) -> BTreeMap<&ObjectKey, &Seen> {
    live.owners.iter().map(|(k, o)| (k, &o.seen)).collect()
}

/// Waits until the operator's restarts have come to rest: two full reads `poll` apart in which no
/// workload's template changed (no new `istio-operator.kyma-project.io/restartedAt`, no new
/// generation), so that this run does not restart what the operator is about to. Bounded by the
/// operator timeout. Returns the plan of the last read. `because` says why the status cannot tell.
async fn at_rest(
    client: &Client,
    desired: &Desired,
    popts: &PlanOptions,
    opts: &ApplyOptions,
    (live, plan): (LiveState, Plan),
    because: &str,
) -> Result<Plan, Wait<Error>> {
    let mut last = (live, plan);
    // The first comparison is one `poll` after the read that saw the operator caught up.
    tokio::time::sleep(opts.poll).await;
    poll::until(
        Backoff::constant(opts.poll),
        Some(opts.operator_timeout),
        async || {
            let (live, plan) = replan(client, desired, popts).await?;
            let quiet = marks(&live) == marks(&last.0);
            last = (live, plan.clone());
            if quiet {
                Ok(Check::Done(plan))
            } else {
                let why = format!("the operator's restarts to come to rest ({because})");
                tracing::info!(waiting_for = why, "waiting for the Istio operator");
                Ok(Check::Pending(why))
            }
        },
    )
    .await
}

/// Waits until the operator has caught up: CR Ready, `lastAppliedConfiguration` matching git and
/// the target tag, and the control plane on the target version. Polls only what that takes
/// ([`cluster::read_operator_view`]) every `poll`, for at most `operator_timeout`; once it has
/// caught up, reads the whole cluster once and returns that plan.
pub async fn wait(
    client: &Client,
    desired: &Desired,
    popts: &PlanOptions,
    opts: &ApplyOptions,
) -> Result<(String, Plan)> {
    let waited = poll::until(
        Backoff::constant(opts.poll),
        Some(opts.operator_timeout),
        async || {
            let live = cluster::read_operator_view(client, &mut Stats::default()).await?;
            if live.manager.is_none() && desired.istio.is_some() {
                return Err(Error::Failure(
                    "no Istio operator in the cluster (Deployment kyma-system/istio-controller-manager not found): nothing would apply the CR or upgrade the control plane".into(),
                ));
            }
            // Only its control-plane and CR parts count: the view holds no other workloads.
            let view = crate::plan::plan(desired, &live, popts);
            if let Some(why) = caught_up(desired, &live, &view) {
                tracing::info!(waiting_for = %why, "waiting for the Istio operator");
                return Ok(Check::Pending(why));
            }
            // The full read decides, so the plan returned is one that saw the operator done.
            let (live, plan) = replan(client, desired, popts).await?;
            match caught_up(desired, &live, &plan) {
                None => Ok(Check::Done((live, plan))),
                // It changed between the two reads: keep waiting.
                Some(why) => {
                    tracing::info!(waiting_for = %why, "waiting for the Istio operator");
                    Ok(Check::Pending(why))
                }
            }
        },
    )
    .await;
    let waited = match waited {
        Ok((live, plan)) => match status_silent_on_restarts(desired, &live, &plan) {
            Some(because) => at_rest(client, desired, popts, opts, (live, plan), because).await,
            None => Ok(plan),
        },
        Err(e) => Err(e),
    };
    match waited {
        Ok(plan) => {
            let versions: Vec<String> = plan
                .control_plane
                .versions
                .iter()
                .map(|v| v.to_string())
                .collect();
            Ok((
                format!("caught up: control plane on {}", versions.join(", ")),
                plan,
            ))
        }
        Err(Wait::Failed(e)) => Err(e),
        Err(Wait::TimedOut { last }) => Err(Error::Failure(format!(
            "the operator did not catch up within {:?}: {}",
            opts.operator_timeout,
            last.as_deref()
                .unwrap_or("no complete look at the cluster in that time")
        ))),
    }
}

//! Waiting for the Istio operator to catch up with the CR and the module version.

use super::ApplyOptions;
use super::sequence::replan;
use crate::desired::Desired;
use crate::error::{Error, Result};
use crate::live::cluster::{self, Stats};
use crate::plan::operator::caught_up;
use crate::plan::{Options as PlanOptions, Plan};
use crate::poll::{self, Backoff, Check, Wait};
use kube::Client;

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
                None => Ok(Check::Done(plan)),
                // It changed between the two reads: keep waiting.
                Some(why) => {
                    tracing::info!(waiting_for = %why, "waiting for the Istio operator");
                    Ok(Check::Pending(why))
                }
            }
        },
    )
    .await;
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

//! Executes a [`Plan`](crate::plan::Plan) against the cluster: the CR first, then restarts and
//! evictions under a concurrency limit, each waited for by kubectl's rules. Returns a [`Report`].
//!
//! Safe to re-run: a workload whose pod template already carries the same `restarted-for` and
//! whose rollout completed is not restarted again, and a rollout already under way is waited for,
//! never restarted on top.
//!
//! - `sequence`: the order of a run (the CR, the operator, rounds of workloads, the overall bound);
//! - `operator`: waiting for the Istio operator to catch up (judged by
//!   [`plan::operator::caught_up`](crate::plan::operator::caught_up));
//! - `executor`: the workloads of one round, at most `max_concurrent` at a time;
//! - [`cr`]: making the live CR's spec exactly git's (the fields git removed, who set them);
//! - `k8s`: the requests, writes and waits against the API server;
//! - [`lease`]: one runner at a time (the Lease held while a run acts);
//! - [`health`]: the health gates (Prometheus alerts, blocking pods) checked before each start;
//! - [`report`]: what happened (rendered by [`render::report`](crate::render::report)).
pub mod cr;
mod executor;
pub mod health;
mod k8s;
pub mod lease;
mod operator;
pub mod report;
mod sequence;

pub use report::{Outcome, Report, Result as EntryResult};
pub use sequence::{replan, run};
use std::time::Duration;

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
    /// The Lease held while acting (`None`: `--lease off`).
    pub lease: Option<lease::LeaseOptions>,
    /// The health gate (`--prometheus-url`, `--blocking-pod-selector`; `None`: none).
    pub health: Option<std::sync::Arc<health::Gate>>,
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
            lease: None,
            health: None,
        }
    }
}

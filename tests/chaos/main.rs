//! The chaos suite: a module upgrade over a fleet of every owner kind, applied through the fault
//! proxy of `testenv` ([`istio_rollout_testenv::faults`]) while things go wrong, then checked for
//! what `apply` promises: every pod on the target, each Deployment restarted exactly once (one new
//! ReplicaSet), each pod evicted at most once and every evicted workload replaced, nothing deleted,
//! the documented exit code.
//!
//! Scenarios: (a) faults at 10 % of requests, one run per seed; (b) `apply` killed with SIGKILL at
//! a random moment and run again; (c) the API server restarted in the middle of a run; (d) a
//! listing whose continue token expires (410); (e) two applies started together (the Lease). `just test` runs one seed and one kill; `just
//! chaos` runs the full suite (`ISTIO_ROLLOUT_CHAOS_SEEDS`, `ISTIO_ROLLOUT_CHAOS_KILLS`) and
//! writes the figures of RELIABILITY.md (`ISTIO_ROLLOUT_CHAOS_REPORT=<file>`, JSON lines).
//!
//! Every scenario holds the simulation lock (`cluster.sim()`), so they run one at a time, and this
//! binary runs on its own (cargo runs test binaries one after another): restarting the API server
//! disturbs no other test.

#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../cluster/support.rs"]
mod support;

mod fleet;
mod scenarios;

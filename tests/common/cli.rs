//! The binary under test, started one way everywhere.

use std::process::Command;

/// `istio-rollout` as cargo built it for these tests, with an environment that says nothing the
/// test does not: no `ISTIO_ROLLOUT_*` variable of the caller's shell (they would stand in for
/// flags), no `KUBECONFIG` (a test names its cluster with `--kubeconfig`, never the developer's),
/// `NO_COLOR=1`, and `ISTIO_ROLLOUT_LEASE=off`.
///
/// Add arguments and run it as usual; with `assert_cmd::prelude::*` in scope `.assert()` checks
/// exit code and output, and `tokio::process::Command::from(istio_rollout())` runs it in an async
/// test (to kill it halfway, or to act while it waits).
pub fn istio_rollout() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_istio-rollout"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ISTIO_ROLLOUT_") {
            c.env_remove(name);
        }
    }
    c.env_remove("KUBECONFIG").env("NO_COLOR", "1");
    // `apply` holds one Lease per cluster; the tests apply in namespaces of their own on one
    // shared cluster at the same time, so only the tests of the Lease (tests/cluster/lease.rs,
    // the chaos suite) name one with `--lease`.
    c.env("ISTIO_ROLLOUT_LEASE", "off");
    c
}

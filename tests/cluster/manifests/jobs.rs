//! The Jobs' commands, run for real as the ServiceAccount of manifests/base.

use super::{NAMESPACE, apply_base};
use crate::common::cli::istio_rollout;
use crate::common::manifests::*;
use istio_rollout_testenv::Cluster;
use std::path::Path;

/// The command of the Job in `manifests/<variant>` as its manifest says (arguments and the
/// environment it sets, nothing else), with the repository pointed at this checkout (its HEAD
/// holds examples/gitops/istio) and `home` as HOME and TMPDIR. Add the cluster's flags.
pub fn job_command(variant: &str, home: &Path) -> std::process::Command {
    let job = &jobs(variant)[0];
    let c = the_container(job);
    let mut cmd = istio_rollout();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (name, e) in env_of(c) {
        if let Some(v) = e["value"].as_str() {
            cmd.env(&name, v);
        }
    }
    cmd.env("ISTIO_ROLLOUT_REPO", repo())
        .env_remove("ISTIO_ROLLOUT_REF")
        .env("ISTIO_ROLLOUT_PATH", "examples/gitops/istio")
        .env("HOME", home)
        .env("TMPDIR", home)
        .args(args_of(c));
    cmd
}

/// Every Job's command, as its manifest says (arguments and environment), with only the
/// repository pointed at this checkout and `--dry-run`, runs as the ServiceAccount of
/// manifests/base: the flags and variables parse and the permissions suffice to plan.
#[tokio::test]
async fn job_commands_run_as_the_service_account() {
    let cluster = Cluster::shared();
    let client = cluster.client().await.unwrap();
    // The plan depends on the simulated Istio's versions: hold it at its defaults.
    let _sim = cluster.sim().await.unwrap();
    apply_base(&client).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster
        .kubeconfig_as(NAMESPACE, "istio-rollout", dir.path())
        .await
        .unwrap();
    for variant in ["argocd", "flux", "cronjob"] {
        let mut cmd = job_command(variant, dir.path());
        cmd.arg("--dry-run").arg("--kubeconfig").arg(&kubeconfig);
        let out = cmd.output().unwrap();
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "manifests/{variant}: the Job's command exits {code:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Plan:"),
            "manifests/{variant}: a plan on stdout"
        );
    }
}

//! The Jobs of the Argo CD and Flux variants and the CronJob: the rules every control Job
//! follows, and what each variant needs of its own.

use super::{env_value, seconds};
use crate::common::cli::istio_rollout;
use crate::common::manifests::*;
use serde_json::json;

/// What the issue asks of every Job: no sidecar, non-root, read-only root filesystem, no
/// privilege escalation, requests, no retries, a deadline beyond the tool's own timeouts, a
/// writable /tmp, and only environment variables the CLI knows.
#[test]
fn jobs_follow_the_rules() {
    let help = istio_rollout().args(["apply", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let known_env = |name: &str| {
        help.contains(&format!("[env: {name}="))
            || name == istio_rollout::desired::git::TOKEN_ENV
            || name == istio_rollout::desired::git::SSH_KEY_ENV
    };
    let mut checked = 0;
    for dir in ["argocd", "flux", "cronjob"] {
        let found = jobs(dir);
        assert_eq!(
            found.len(),
            1,
            "manifests/{dir}: exactly one Job or CronJob"
        );
        for o in &found {
            let what = format!("manifests/{dir}: {}", name_of(o));
            let spec = job_spec(o);
            let pod = &spec["template"];
            assert_eq!(spec["backoffLimit"], 0, "{what}: backoffLimit");
            assert!(
                spec.get("ttlSecondsAfterFinished").is_none() || dir == "cronjob",
                "{what}: no ttlSecondsAfterFinished (Flux would recreate the Job, Argo CD deletes hooks itself)"
            );
            assert_eq!(
                pod["metadata"]["labels"]["sidecar.istio.io/inject"], "false",
                "{what}: no sidecar"
            );
            let ps = &pod["spec"];
            assert_eq!(ps["serviceAccountName"], "istio-rollout", "{what}");
            assert_eq!(ps["restartPolicy"], "Never", "{what}");
            assert_eq!(ps["securityContext"]["runAsNonRoot"], true, "{what}");
            assert!(
                ps["securityContext"]["runAsUser"]
                    .as_u64()
                    .is_some_and(|u| u > 0),
                "{what}: runAsUser"
            );
            let c = the_container(o);
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{what}");
            for r in ["cpu", "memory"] {
                assert!(
                    c["resources"]["requests"][r].is_string(),
                    "{what}: requests.{r}"
                );
            }
            // A writable /tmp for the fetched repository, and TMPDIR pointing at it.
            let tmp = c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["mountPath"] == "/tmp")
                .unwrap_or_else(|| panic!("{what}: /tmp is mounted"));
            let volume = ps["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == tmp["name"])
                .unwrap();
            assert!(
                volume["emptyDir"].is_object(),
                "{what}: /tmp is an emptyDir"
            );
            assert_eq!(env_value(c, "TMPDIR").as_deref(), Some("/tmp"), "{what}");
            // The deadline covers the tool's overall timeout.
            let args = args_of(c);
            assert_eq!(args[0], "apply", "{what}");
            let overall = args
                .iter()
                .find_map(|a| a.strip_prefix("--overall-timeout="))
                .unwrap_or_else(|| panic!("{what}: --overall-timeout=... is explicit"));
            let deadline = spec["activeDeadlineSeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{what}: activeDeadlineSeconds"));
            assert!(
                deadline > seconds(overall),
                "{what}: activeDeadlineSeconds {deadline} must exceed --overall-timeout {overall}"
            );
            for name in env_of(c).keys() {
                if name.starts_with("ISTIO_ROLLOUT_") {
                    assert!(
                        known_env(name),
                        "{what}: {name} is not an environment variable of istio-rollout apply"
                    );
                }
            }
            for required in ["ISTIO_ROLLOUT_REPO", "ISTIO_ROLLOUT_PATH"] {
                assert!(env_value(c, required).is_some(), "{what}: {required}");
            }
            // HTTPS token from the Secret, optional so that public repositories need none.
            let token = &env_of(c)[istio_rollout::desired::git::TOKEN_ENV];
            assert_eq!(
                token["valueFrom"]["secretKeyRef"]["optional"], true,
                "{what}: the token is optional"
            );
            // SSH: known_hosts is read from $HOME/.ssh, where the Secret is mounted.
            let home = env_value(c, "HOME").unwrap_or_else(|| panic!("{what}: HOME"));
            let ssh_key = env_value(c, istio_rollout::desired::git::SSH_KEY_ENV).unwrap();
            assert!(
                ssh_key.starts_with(&format!("{home}/.ssh/")),
                "{what}: the SSH key lives next to known_hosts in $HOME/.ssh"
            );
            assert!(
                c["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["mountPath"] == format!("{home}/.ssh")),
                "{what}: the git Secret is mounted at $HOME/.ssh"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3);

    // Variant specifics.
    let argo = &jobs("argocd")[0];
    let a = &argo["metadata"]["annotations"];
    assert_eq!(a["argocd.argoproj.io/hook"], "PostSync");
    assert!(
        a["argocd.argoproj.io/hook-delete-policy"]
            .as_str()
            .is_some_and(|p| p.split(',').all(|p| [
                "BeforeHookCreation",
                "HookSucceeded",
                "HookFailed"
            ]
            .contains(&p))),
        "Argo CD: a known hook delete policy"
    );
    assert!(
        a["argocd.argoproj.io/sync-wave"]
            .as_str()
            .is_some_and(|w| w.parse::<i64>().is_ok()),
        "Argo CD: sync-wave is an integer in a string"
    );

    let cron = &jobs("cronjob")[0];
    assert_eq!(cron["kind"], "CronJob");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    assert!(
        args_of(the_container(cron)).contains(&"--strict".to_string()),
        "the CronJob reports manual entries with --strict (exit 4)"
    );

    // Flux: the desired version sits in the (immutable) pod template, substituted by Flux.
    let raw = one("flux/job.yaml");
    let annotations = raw["spec"]["template"]["metadata"]["annotations"]
        .as_object()
        .expect("flux/job.yaml: pod template annotations");
    let vars = flux_vars_of("flux");
    for var in vars.keys() {
        assert!(
            annotations
                .values()
                .any(|v| v.as_str() == Some(&format!("${{{var}}}"))),
            "flux/job.yaml: the pod template carries ${{{var}}}, so a change re-runs the Job"
        );
    }
    let flux = &jobs("flux")[0];
    assert!(
        !serde_json::to_string(flux).unwrap().contains("${"),
        "everything substituted"
    );
}

//! What a platform engineer expects of a command-line tool: shell completions, a man page,
//! `--version` with the commit, every exit code in `--help`, kubectl's short flags and selectors,
//! and environment variables for the flags a Job sets.

use crate::common::cli::istio_rollout;
use assert_cmd::prelude::*;
use istio_rollout::error::ExitCode;
use std::process::Command;

const EXAMPLE_LIVE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/live-state.yaml");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completion_scripts_name_every_command_and_flag() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = stdout(istio_rollout().args(["completion", shell]));
        // fish names long flags without their dashes (`-l namespace-selector`).
        for word in [
            "plan",
            "apply",
            "snapshot",
            "namespace-selector",
            "selector",
        ] {
            assert!(script.contains(word), "{shell}: completes {word}");
        }
    }
    // The bash script is one bash parses (sourced as `source <(istio-rollout completion bash)`).
    let script = stdout(istio_rollout().args(["completion", "bash"]));
    let out = Command::new("bash")
        .args(["-n", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    istio_rollout()
        .args(["completion", "tcsh"])
        .assert()
        .code(2);
}

#[test]
fn the_man_page_has_the_commands_and_exit_codes() {
    // roff writes `-` as `\-`.
    let page = stdout(istio_rollout().arg("man")).replace("\\-", "-");
    assert!(
        page.starts_with(".ie") || page.contains(".TH istio-rollout"),
        "roff: {page:.200}"
    );
    for code in ExitCode::ALL {
        assert!(
            page.contains(code.meaning()),
            "the man page explains exit code {}",
            code.code()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    istio_rollout()
        .args(["man", "--out-dir"])
        .arg(dir.path().join("man1"))
        .assert()
        .success();
    for page in [
        "istio-rollout.1",
        "istio-rollout-plan.1",
        "istio-rollout-apply.1",
        "istio-rollout-completion.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join("man1").join(page)).unwrap();
        assert!(text.contains(".TH"), "{page} is a man page");
    }
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let out = stdout(istio_rollout().arg("--version"));
    let re = regex::Regex::new(
        r"^istio-rollout (\S+) \(commit ([0-9a-f]{12}|unknown), built (\d{4}-\d{2}-\d{2})\)\n$",
    )
    .unwrap();
    let caps = re
        .captures(&out)
        .unwrap_or_else(|| panic!("--version: {out}"));
    assert_eq!(&caps[1], env!("CARGO_PKG_VERSION"));
    // Built from this checkout: the commit is HEAD's (build.rs reruns when HEAD moves).
    if let Ok(head) = Command::new("git")
        .args(["-C", REPO, "rev-parse", "--short=12", "HEAD"])
        .output()
        && head.status.success()
    {
        assert_eq!(&caps[2], String::from_utf8_lossy(&head.stdout).trim());
    }
}

#[test]
fn help_lists_every_exit_code_as_the_readme_does() {
    let help = stdout(istio_rollout().arg("--help"));
    let readme = std::fs::read_to_string(format!("{REPO}/README.md")).unwrap();
    for code in ExitCode::ALL {
        let line = format!("  {}  {}", code.code(), code.meaning());
        assert!(help.contains(&line), "--help: {line}");
        assert!(
            readme.contains(&format!("\n| {} |", code.code())),
            "README's exit-code table has {}",
            code.code()
        );
    }
}

fn plan_json(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = istio_rollout();
    cmd.args([
        "plan",
        "--repo",
        REPO,
        "--path",
        "examples/gitops/istio",
        "--live-state",
        EXAMPLE_LIVE,
        "-o",
        "json",
    ])
    .args(args)
    .envs(env.iter().copied());
    let out = cmd.output().unwrap();
    assert!(
        out.status.code().unwrap() <= 1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (namespace, action) of every planned workload.
fn actions(plan: &serde_json::Value) -> Vec<(String, String)> {
    plan["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["namespace"].as_str().unwrap().to_string(),
                w["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn namespace_short_flag_and_environment_agree() {
    let long = actions(&plan_json(&["--namespace", "shop"], &[]));
    assert!(
        long.iter().any(|(ns, a)| ns == "shop" && a != "skip"),
        "{long:?}"
    );
    assert!(
        long.iter().all(|(ns, a)| ns == "shop" || a == "skip"),
        "{long:?}"
    );
    assert_eq!(actions(&plan_json(&["-n", "shop"], &[])), long);
    assert_eq!(
        actions(&plan_json(&[], &[("ISTIO_ROLLOUT_NAMESPACE", "shop")])),
        long
    );
    // The flag wins over the variable, as everywhere in clap.
    assert_eq!(
        actions(&plan_json(
            &["-n", "shop"],
            &[("ISTIO_ROLLOUT_NAMESPACE", "other")]
        )),
        long
    );
    let excluded = actions(&plan_json(
        &[],
        &[("ISTIO_ROLLOUT_EXCLUDE", "shop/*,batch/*")],
    ));
    assert!(
        excluded
            .iter()
            .all(|(ns, a)| (ns != "shop" && ns != "batch") || a == "skip"),
        "{excluded:?}"
    );
}

#[test]
fn a_label_selector_selects_workloads_and_a_bad_one_is_one_line() {
    let all = actions(&plan_json(&[], &[]));
    let none = actions(&plan_json(&["-l", "no-such-label"], &[]));
    assert!(!all.is_empty());
    assert!(
        none.is_empty(),
        "what -l does not select is not listed: {none:?}"
    );
    let out = istio_rollout()
        .args([
            "plan",
            "--repo",
            REPO,
            "--live-state",
            EXAMPLE_LIVE,
            "-l",
            "app in (web",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(ExitCode::InvalidInput.code().into())
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "istio-rollout: error: --selector app in (web: `(` without `)`\n"
    );
    let out = istio_rollout()
        .args(["plan", "--repo", REPO, "--live-state", EXAMPLE_LIVE])
        .env("ISTIO_ROLLOUT_NAMESPACE_SELECTOR", "a=b=c")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("istio-rollout: error: --namespace-selector a=b=c: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each variable stands in for its flag: a bad value is reported under the flag's name, and
/// `--help` names the variable.
#[test]
fn environment_variables_stand_in_for_the_job_flags() {
    let help = stdout(istio_rollout().args(["apply", "--help"]));
    for (var, flag) in [
        ("ISTIO_ROLLOUT_TIMEOUT", "--timeout"),
        ("ISTIO_ROLLOUT_OVERALL_TIMEOUT", "--overall-timeout"),
        ("ISTIO_ROLLOUT_OPERATOR_TIMEOUT", "--operator-timeout"),
        ("ISTIO_ROLLOUT_PDB_TIMEOUT", "--pdb-timeout"),
        ("ISTIO_ROLLOUT_STRICT", "--strict"),
    ] {
        assert!(
            help.contains(&format!("[env: {var}=")),
            "apply --help names {var}"
        );
        let out = istio_rollout()
            .args(["apply", "--repo", REPO])
            .env(var, "not-a-value")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {err}");
        assert!(err.contains(flag), "{var}: {err}");
    }
    for var in [
        "ISTIO_ROLLOUT_NAMESPACE",
        "ISTIO_ROLLOUT_EXCLUDE",
        "ISTIO_ROLLOUT_SELECTOR",
        "ISTIO_ROLLOUT_NAMESPACE_SELECTOR",
    ] {
        assert!(
            help.contains(&format!("[env: {var}=")),
            "apply --help names {var}"
        );
    }
    let snapshot = stdout(istio_rollout().args(["snapshot", "--help"]));
    assert!(
        snapshot.contains("-n, --namespace") && snapshot.contains("[env: ISTIO_ROLLOUT_NAMESPACE=")
    );
}

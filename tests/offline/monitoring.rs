//! The monitoring of `apply --pushgateway-url` without a cluster, by the real promtool (built
//! from the Prometheus module by `hack/cluster/build-tools.sh`): the metrics follow Prometheus'
//! naming conventions (`promtool check metrics`), the PrometheusRule's rules and the dashboard's
//! expressions parse (`promtool check rules`), and every metric they name is one the tool pushes.

use crate::common::manifests::*;
use istio_rollout::apply::{EntryResult, Outcome, Report};
use istio_rollout::error::ExitCode;
use istio_rollout::metrics::{Run, render};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A report of the bundled example's plan: its first workload restarted, the rest pending.
fn example_report() -> Report {
    let cli = <istio_rollout::cli::Cli as clap::Parser>::try_parse_from([
        "istio-rollout",
        "plan",
        "--repo",
        REPO,
        "--path",
        "examples/gitops/istio",
        "--live-state",
        &format!("{REPO}/examples/live-state.yaml"),
    ])
    .unwrap();
    let istio_rollout::cli::Command::Plan(args) = cli.command else {
        unreachable!()
    };
    let cfg = istio_rollout::config::plan(args, false).unwrap();
    let plan = istio_rollout::app::compute(&cfg).unwrap();
    let mut report = Report::new(&plan);
    let first = plan
        .workloads
        .iter()
        .find(|e| e.action.is_pending())
        .expect("the example has work");
    report.record(Outcome::new(
        first,
        EntryResult::Restarted,
        "done".into(),
        3.5,
    ));
    report.remaining = Some(plan.summary.clone());
    report
}

fn succeeded_run(report: &Report) -> String {
    render(&Run {
        report: Some(report),
        exit: ExitCode::Clean,
        seconds: 42.0,
        finished_at: 1_800_000_000.0,
    })
}

/// The metric names of the text format (`# TYPE name kind` lines).
fn names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// Runs promtool with `args`, `stdin` piped in; (success, stdout + stderr).
fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(promtool_path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn promtool_path() -> std::path::PathBuf {
    crate::common::manifests::promtool()
}

#[test]
fn the_pushed_metrics_follow_prometheus_naming_conventions() {
    let report = example_report();
    let text = succeeded_run(&report);
    assert!(
        text.contains("istio_rollout_workloads{result=\"restarted\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("istio_rollout_last_success_timestamp_seconds 1800000000\n"));
    let (ok, lint) = promtool(&["check", "metrics"], &text);
    assert!(
        ok && lint.trim().is_empty(),
        "promtool check metrics: {lint}\n{text}"
    );
    // A lint that finds nothing must be able to find something.
    let (ok, lint) = promtool(
        &["check", "metrics"],
        "# HELP istio_rollout_Bad_Name x\n# TYPE istio_rollout_Bad_Name counter\nistio_rollout_Bad_Name 1\n",
    );
    assert!(
        !ok && !lint.trim().is_empty(),
        "promtool flags a bad name: {lint}"
    );
    for n in names(&text) {
        assert!(n.starts_with("istio_rollout_"), "{n}");
    }
}

/// Every `istio_rollout_*` name in `expr`.
fn metrics_in(expr: &str) -> Vec<String> {
    let re = regex::Regex::new(r"istio_rollout_[a-z_]+").unwrap();
    re.find_iter(expr).map(|m| m.as_str().to_string()).collect()
}

fn check_rules(groups: &Value, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(
        &file,
        serde_json::to_string(&json!({ "groups": groups })).unwrap(),
    )
    .unwrap();
    let (ok, out) = promtool(&["check", "rules", file.to_str().unwrap()], "");
    assert!(ok, "promtool check rules of {what}: {out}");
}

#[test]
fn the_alert_rules_and_the_dashboard_parse_and_name_pushed_metrics() {
    let pushed = names(&succeeded_run(&example_report()));
    let rule = one("monitoring/prometheusrule.yaml");
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    let groups = &rule["spec"]["groups"];
    check_rules(groups, "manifests/monitoring/prometheusrule.yaml");
    let mut alerts = 0;
    for g in groups.as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            alerts += 1;
            let expr = r["expr"].as_str().unwrap();
            let used = metrics_in(expr);
            assert!(!used.is_empty(), "{expr}: names no istio_rollout metric");
            for m in used {
                assert!(
                    pushed.contains(&m),
                    "{expr}: {m} is not pushed ({pushed:?})"
                );
            }
        }
    }
    assert!(alerts >= 4, "{alerts} alerts");

    // A broken expression is refused: the check above means something.
    let broken =
        json!([{"name": "x", "rules": [{"alert": "X", "expr": "sum(istio_rollout_workloads"}]}]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(
        &file,
        serde_json::to_string(&json!({ "groups": broken })).unwrap(),
    )
    .unwrap();
    let (ok, _) = promtool(&["check", "rules", file.to_str().unwrap()], "");
    assert!(!ok, "promtool refuses an unbalanced expression");

    // The dashboard: every panel's expressions, as recording rules for promtool to parse.
    let cm = one("monitoring/dashboard.yaml");
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let dashboard: Value =
        serde_json::from_str(cm["data"]["istio-rollout.json"].as_str().unwrap()).unwrap();
    let mut rules = Vec::new();
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for m in metrics_in(expr) {
                assert!(
                    pushed.contains(&m),
                    "dashboard {}: {m} is not pushed",
                    p["title"]
                );
            }
            rules.push(json!({"record": format!("dashboard:panel_{}", rules.len()), "expr": expr}));
        }
    }
    assert!(rules.len() >= 5, "{} panel expressions", rules.len());
    check_rules(
        &json!([{"name": "dashboard", "rules": rules}]),
        "manifests/monitoring/dashboard.yaml",
    );
}

/// Bad health-gate and metrics flags: one line, exit 2, before git or a cluster is read (the
/// repository and kubeconfig named here do not exist).
#[test]
fn invalid_urls_regexes_and_selectors_are_one_line_exit_2() {
    for (flags, says) in [
        (
            vec!["--prometheus-url", "ftp://u:hunter2-pw@prom"],
            "--prometheus-url ftp://prom: scheme `ftp`: only http and https",
        ),
        (
            vec!["--pushgateway-url", "pushgateway:9091"],
            "--pushgateway-url pushgateway:9091: not a URL",
        ),
        (
            vec![
                "--prometheus-url",
                "http://p",
                "--alert-filter-regexp",
                "(Watchdog",
            ],
            "--alert-filter-regexp (Watchdog: not a regular expression",
        ),
        (
            vec!["--blocking-pod-selector", "app in (a"],
            "--blocking-pod-selector app in (a:",
        ),
        (
            vec![
                "--blocking-pod-selector",
                "app=x",
                "--health-timeout",
                "soon",
            ],
            "--health-timeout soon: not a duration",
        ),
        (
            vec!["--alert-firing-only"],
            "--alert-firing-only: filters the alerts of --prometheus-url",
        ),
    ] {
        let out = crate::common::cli::istio_rollout()
            .args([
                "apply",
                "--repo",
                "/nonexistent/repo",
                "--kubeconfig",
                "/nonexistent/kc",
            ])
            .args(&flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{flags:?}: one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("istio-rollout: error: {says}")),
            "{flags:?}: {stderr}"
        );
        assert!(!stderr.contains("hunter2-pw"), "{stderr}");
    }
}

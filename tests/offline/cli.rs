//! The binary: exit codes, the stdout/stderr split, and one test per kind of bad input.
//! Every repository is a real one made in the test.

use crate::common::cli::istio_rollout;
use crate::common::repo::TestRepo;
use crate::fixtures::*;
use assert_cmd::prelude::*;
use serde_json::{Value, json};

const EXAMPLE_LIVE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/live-state.yaml");

fn plan(repo: &TestRepo, live: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
    istio_rollout()
        .args([
            "plan",
            "--repo",
            repo.path().to_str().unwrap(),
            "--path",
            "istio",
            "--live-state",
            live,
        ])
        .args(extra)
        .assert()
}

fn write_live(dir: &std::path::Path, objects: Vec<Value>) -> String {
    let path = dir.join("live.json");
    std::fs::write(
        &path,
        json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string(),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// A cluster that already runs exactly what the example asks for.
fn in_sync_live(dir: &std::path::Path) -> String {
    let mut objects = control_plane("1.30.2", "1.30.0");
    objects.push(json!({"apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
        "metadata": {"name": "default", "namespace": "kyma-system", "labels": {"app.kubernetes.io/name": "default"},
                     "annotations": {"operator.kyma-project.io/lastAppliedConfiguration": "{\"config\":{\"numTrustedProxies\":2,\"telemetry\":{\"metrics\":{\"prometheusMerge\":true}}},\"IstioTag\":\"1.30.2-distroless\"}"}},
        "spec": {"config": {"numTrustedProxies": 2, "telemetry": {"metrics": {"prometheusMerge": true}}},
                 "components": {"ingressGateway": {"k8s": {"hpaSpec": {"minReplicas": 2, "maxReplicas": 5}}}}},
        "status": {"state": "Ready"}}));
    objects.push(deployment("shop", "cart", 1));
    objects.push(replica_set("shop", "cart-1", Some("cart"), 1));
    objects.push(
        pod("shop", "cart-1-a")
            .rs("cart-1")
            .version("1.30.2")
            .merged("15020")
            .build(),
    );
    write_live(dir, objects)
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).to_string()
}

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).to_string()
}

#[test]
fn pending_plan_exits_1_with_the_plan_on_stdout_only() {
    let r = example_repo(&[]);
    let a = plan(&r, EXAMPLE_LIVE, &[]).code(1);
    assert!(
        stdout_of(&a).contains("11 to restart (23 pods)"),
        "{}",
        stdout_of(&a)
    );
    assert_eq!(stderr_of(&a), "");
    assert!(
        !stdout_of(&a).contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn nothing_to_do_exits_0() {
    let r = example_repo(&[]);
    let live = in_sync_live(r.path());
    let a = plan(&r, &live, &["--output", "json"]).code(0);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["summary"]["pending"], false);
    assert_eq!(v["summary"]["in_sync"], 1);
    assert_eq!(v["workloads"], json!([]));
    assert_eq!(v["cr"]["action"], "none");
}

#[test]
fn json_output_is_the_documented_format() {
    let r = example_repo(&[]);
    let a = plan(&r, EXAMPLE_LIVE, &["-o", "json"]).code(1);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["source"]["commit"].as_str().unwrap().len(), 40);
    assert_eq!(v["source"]["ref"], "HEAD");
    assert_eq!(v["versions"]["target"]["istio"], "1.30.2");
    assert_eq!(v["versions"]["live"]["module"], "1.27.4");
    let w = &v["workloads"][0];
    for key in [
        "kind",
        "namespace",
        "name",
        "action",
        "reasons",
        "pods",
        "warnings",
    ] {
        assert!(w.get(key).is_some(), "workload entries have `{key}`");
    }
    assert_eq!(v["summary"]["restart"], 11);
}

#[test]
fn markdown_output() {
    let r = example_repo(&[]);
    let a = plan(&r, EXAMPLE_LIVE, &["-o", "markdown"]).code(1);
    assert!(stdout_of(&a).starts_with("### istio-rollout plan: changes pending"));
}

#[test]
fn colour_can_be_forced() {
    let r = example_repo(&[]);
    let a = plan(&r, EXAMPLE_LIVE, &["--color", "always"]).code(1);
    assert!(stdout_of(&a).contains('\u{1b}'));
}

/// Runs a plan that must fail with exit 2, nothing on stdout, and one line on stderr naming `needle`.
fn invalid(r: &TestRepo, live: &str, extra: &[&str], needle: &str) {
    let a = plan(r, live, extra).code(2);
    assert_eq!(stdout_of(&a), "", "stdout carries only the plan");
    let err = stderr_of(&a);
    assert!(
        err.contains(needle),
        "stderr `{err}` should contain `{needle}`"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

fn cr_with(spec: &str) -> String {
    format!(
        "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata:\n  name: default\n  namespace: kyma-system\nspec:\n{spec}"
    )
}

#[test]
fn invalid_crs_are_rejected_naming_file_and_field() {
    let cases = [
        (
            "  config:\n    numTrustedProxie: 2\n",
            "istio/istio-default-cr.yaml: Istio kyma-system/default: spec.config.numTrustedProxie: unknown field",
        ),
        (
            "  config:\n    numTrustedProxies: two\n",
            "spec.config.numTrustedProxies",
        ),
        (
            "  config:\n    forwardClientCertDetails: ALWAYS\n",
            "spec.config.forwardClientCertDetails",
        ),
        (
            "  config:\n    trustDomain: \"UPPER.case\"\n",
            "spec.config.trustDomain",
        ),
        (
            "  components:\n    proxy:\n      k8s:\n        resources:\n          limits:\n            memory: 1 GB\n",
            "spec.components.proxy.k8s.resources.limits.memory",
        ),
        ("  compatibilityMode: maybe\n", "spec.compatibilityMode"),
    ];
    for (spec, needle) in cases {
        let r = example_repo(&[("istio/istio-default-cr.yaml", &cr_with(spec))]);
        invalid(&r, EXAMPLE_LIVE, &[], needle);
    }
}

#[test]
fn wrong_namespace_and_two_crs_are_rejected() {
    let other_ns =
        cr_with("  config: {}\n").replace("namespace: kyma-system", "namespace: istio-system");
    let r = example_repo(&[("istio/istio-default-cr.yaml", &other_ns)]);
    invalid(
        &r,
        EXAMPLE_LIVE,
        &[],
        "metadata.namespace: `istio-system` is not supported",
    );

    let second = cr_with("  config: {}\n").replace("name: default", "name: second");
    let r = example_repo(&[("istio/second.yaml", &second)]);
    invalid(&r, EXAMPLE_LIVE, &[], "more than one Istio CR");
}

#[test]
fn broken_yaml_names_the_file() {
    let r = example_repo(&[("istio/broken.yaml", "kind: [unclosed\n")]);
    invalid(&r, EXAMPLE_LIVE, &[], "istio/broken.yaml: not valid YAML");
}

#[test]
fn version_rules_against_the_live_version() {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/gitops/istio/istio-manager.yaml"
    ))
    .unwrap();
    let cases = [
        ("1.29.0", "1.28.6", "Istio downgrade from 1.29.3 to 1.28.6"),
        ("1.31.0", "1.31.1", "skips a minor version"),
        ("2.0.0", "2.0.0", "major version change"),
    ];
    for (module, istio, needle) in cases {
        let m = manifest.replace("1.30.0", module).replace("1.30.2", istio);
        let r = example_repo(&[("istio/istio-manager.yaml", &m)]);
        invalid(&r, EXAMPLE_LIVE, &[], needle);
    }
    let m = manifest.replace("\"1.30.0\"", "\"1.20.0\"");
    let r = example_repo(&[("istio/istio-manager.yaml", &m)]);
    invalid(
        &r,
        EXAMPLE_LIVE,
        &[],
        "module downgrade from 1.27.4 to 1.20.0",
    );
}

#[test]
fn version_file_and_manifest_must_agree() {
    let r = example_repo(&[("istio/ISTIO_MODULE_VERSION", "1.29.0\n")]);
    invalid(
        &r,
        EXAMPLE_LIVE,
        &[],
        "istio/ISTIO_MODULE_VERSION: says module version 1.29.0 but istio/istio-manager.yaml says 1.30.0",
    );
    let r = example_repo(&[("istio/ISTIO_MODULE_VERSION", "1.30.0\n")]);
    plan(&r, EXAMPLE_LIVE, &[]).code(1);
}

#[test]
fn version_file_alone_uses_the_release_table_or_the_override() {
    let r = TestRepo::new();
    let cr = cr_with("  config: {}\n");
    r.commit(
        &[
            ("istio/cr.yaml", &cr),
            ("istio/ISTIO_MODULE_VERSION", "1.28.0\n"),
        ],
        &[],
        "x",
    );
    let a = plan(&r, EXAMPLE_LIVE, &["-o", "json"]).code(1);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["versions"]["target"]["istio"], "1.30.2");
    assert_eq!(v["versions"]["istio_from"], "module 1.28.0 release table");

    let r = TestRepo::new();
    r.commit(
        &[
            ("istio/cr.yaml", &cr),
            ("istio/ISTIO_MODULE_VERSION", "1.34.0\n"),
        ],
        &[],
        "x",
    );
    invalid(
        &r,
        EXAMPLE_LIVE,
        &[],
        "module 1.34.0 is not in the release table",
    );
    let a = plan(
        &r,
        EXAMPLE_LIVE,
        &["--istio-version", "1.30.2", "-o", "json"],
    );
    let v: Value = serde_json::from_str(&stdout_of(&a.code(1))).unwrap();
    assert_eq!(v["versions"]["istio_from"], "--istio-version");
}

#[test]
fn override_must_agree_with_the_release_manifest() {
    let r = example_repo(&[]);
    invalid(
        &r,
        EXAMPLE_LIVE,
        &["--istio-version", "1.30.1"],
        "--istio-version 1.30.1 disagrees",
    );
    invalid(
        &r,
        EXAMPLE_LIVE,
        &["--istio-version", "latest"],
        "--istio-version",
    );
}

#[test]
fn no_cr_means_uninstall_only_when_allowed() {
    let r = example_repo(&[]);
    let a = istio_rollout()
        .args([
            "plan",
            "--repo",
            r.path().to_str().unwrap(),
            "--path",
            "docs-typo",
            "--live-state",
            EXAMPLE_LIVE,
        ])
        .assert()
        .code(2);
    assert!(stderr_of(&a).contains("path `docs-typo` does not exist"));

    let empty = TestRepo::new();
    empty.commit(
        &[(
            "istio/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
        )],
        &[],
        "x",
    );
    invalid(
        &empty,
        EXAMPLE_LIVE,
        &[],
        "no operator.kyma-project.io/v1alpha2 Istio CR found (1 YAML files read)",
    );
    let a = plan(&empty, EXAMPLE_LIVE, &["--allow-uninstall", "-o", "json"]).code(1);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["uninstall"], true);
    assert_eq!(v["cr"]["action"], "delete");
    assert!(
        v["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["reasons"] == json!(["uninstall"]))
    );
    assert!(
        v["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["name"] != "istio-ingressgateway")
    );
}

#[test]
fn unknown_ref_and_missing_repository() {
    let r = example_repo(&[]);
    invalid(
        &r,
        EXAMPLE_LIVE,
        &["--ref", "release-9"],
        "ref `release-9` not found",
    );
    let a = istio_rollout()
        .args([
            "plan",
            "--repo",
            "/nonexistent",
            "--live-state",
            EXAMPLE_LIVE,
        ])
        .assert()
        .code(2);
    assert!(stderr_of(&a).contains("not a git repository"));
}

#[test]
fn bad_live_state_files() {
    let r = example_repo(&[]);
    invalid(
        &r,
        "/nonexistent/live.yaml",
        &[],
        "/nonexistent/live.yaml: cannot read the live state",
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "items: [\n").unwrap();
    invalid(&r, bad.to_str().unwrap(), &[], "bad.yaml: not valid YAML");
    std::fs::write(&bad, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n  namespace: shop\nspec:\n  replicas: many\n").unwrap();
    invalid(
        &r,
        bad.to_str().unwrap(),
        &[],
        "Deployment shop/x: spec.replicas",
    );
}

#[test]
fn usage_errors_exit_2() {
    istio_rollout().args(["plan"]).assert().code(2);
    istio_rollout()
        .args(["plan", "--repo", ".", "--bogus"])
        .assert()
        .code(2);
    let r = example_repo(&[]);
    invalid(
        &r,
        EXAMPLE_LIVE,
        &["--exclude", "no-slash"],
        "--exclude no-slash",
    );
    let a = istio_rollout()
        .args([
            "plan",
            "--repo",
            r.path().to_str().unwrap(),
            "--path",
            "istio",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
        ])
        .assert()
        .code(2);
    assert!(
        stderr_of(&a).contains("/nonexistent/kubeconfig: cannot read the kubeconfig"),
        "{}",
        stderr_of(&a)
    );
    istio_rollout()
        .args([
            "plan",
            "--repo",
            ".",
            "--live-state",
            EXAMPLE_LIVE,
            "--context",
            "x",
        ])
        .assert()
        .code(2);
}

#[test]
fn remote_file_url_with_a_branch() {
    let r = example_repo(&[]);
    let a = istio_rollout()
        .args([
            "plan",
            "--repo",
            &r.url(),
            "--ref",
            "main",
            "--path",
            "istio",
            "--live-state",
            EXAMPLE_LIVE,
            "-o",
            "json",
        ])
        .assert()
        .code(1);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["source"]["repo"], r.url());
    assert_eq!(v["source"]["ref"], "main");
}

#[test]
fn crd_command_prints_the_generated_crd() {
    let a = istio_rollout().arg("crd").assert().code(0);
    assert!(stdout_of(&a).contains("name: istios.operator.kyma-project.io"));
}

/// `istio-rollout plan | head -1`: the reader has gone before the output is written. That is no
/// failure of this tool: exit 0 and nothing on stderr, as ripgrep does. (Rust ignores SIGPIPE, so
/// the write returns EPIPE; the reader is closed before the binary starts, so every write fails.)
#[test]
fn a_closed_stdout_exits_0_quietly() {
    let r = example_repo(&[]);
    let repo = r.path().to_str().unwrap();
    let plan = [
        "plan",
        "--repo",
        repo,
        "--path",
        "istio",
        "--live-state",
        EXAMPLE_LIVE,
    ];
    let json = [&plan[..], &["-o", "json"]].concat();
    for args in [&plan[..], &json, &["crd"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = istio_rollout().args(args).stdout(writer).output().unwrap();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).as_ref()
            ),
            (Some(0), ""),
            "{args:?}"
        );
    }
    // The same plan with its reader still there is pending (exit 1): the exit 0 above is the pipe's.
    istio_rollout().args(plan).assert().code(1);
}

/// An error with causes is one line: the message, then each cause once.
#[test]
fn an_error_prints_its_causes_on_one_line() {
    let r = example_repo(&[]);
    let a = plan(&r, "/nonexistent/live.yaml", &[]).code(2);
    let err = stderr_of(&a);
    assert!(
        err.starts_with(
            "istio-rollout: error: /nonexistent/live.yaml: cannot read the live state: "
        ),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(err.matches("/nonexistent/live.yaml").count(), 1, "{err}");
}

//! `plan --fail-on` (the pre-sync gate) through the binary: exit codes per condition, the
//! override, and what each output format says. Live states are built in the test.

use crate::common::cli::istio_rollout;
use crate::common::repo::TestRepo;
use crate::fixtures::*;
use serde_json::{Value, json};

/// The bundled example (module 1.30.0, Istio 1.30.2) under `istio/`.
fn repo() -> TestRepo {
    example_repo(&[])
}

/// A cluster before the upgrade (module 1.27.4, Istio 1.29.3, the CR as git has it) with these
/// workloads, written into a file of its own in the repository's directory (outside git).
fn live_with(r: &TestRepo, workloads: Vec<Value>) -> String {
    let mut objects = control_plane("1.29.3", "1.27.4");
    objects.push(json!({"apiVersion": "operator.kyma-project.io/v1alpha2", "kind": "Istio",
        "metadata": {"name": "default", "namespace": "kyma-system", "labels": {"app.kubernetes.io/name": "default"},
                     "annotations": {"operator.kyma-project.io/lastAppliedConfiguration": "{\"config\":{\"numTrustedProxies\":2,\"telemetry\":{\"metrics\":{\"prometheusMerge\":true}}},\"IstioTag\":\"1.29.3-distroless\"}"}},
        "spec": {"config": {"numTrustedProxies": 2, "telemetry": {"metrics": {"prometheusMerge": true}}},
                 "components": {"ingressGateway": {"k8s": {"hpaSpec": {"minReplicas": 2, "maxReplicas": 5}}}}},
        "status": {"state": "Ready"}}));
    objects.extend(workloads);
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = r.path().join(format!("live-{n}.json"));
    std::fs::write(
        &path,
        json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string(),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// Deployment `shop/<name>` of `replicas` with this strategy, one old pod.
fn web(name: &str, replicas: i64, strategy: Value) -> Vec<Value> {
    let mut d = deployment("shop", name, replicas);
    d["spec"]["strategy"] = strategy;
    let rs = format!("{name}-1");
    vec![
        d,
        replica_set("shop", &rs, Some(name), 1),
        pod("shop", &format!("{rs}-a")).rs(&rs).build(),
    ]
}

fn recreate() -> Vec<Value> {
    web("cart", 1, json!({"type": "Recreate"}))
}

fn safe() -> Vec<Value> {
    web("catalog", 3, json!({"type": "RollingUpdate"}))
}

fn bare() -> Vec<Value> {
    vec![pod("shop", "debug").build()]
}

fn run(r: &TestRepo, live: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = istio_rollout();
    c.args([
        "plan",
        "--repo",
        r.path().to_str().unwrap(),
        "--path",
        "istio",
        "--live-state",
        live,
    ])
    .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn exit_codes_for_each_condition() {
    let r = repo();
    let unsafe_live = live_with(&r, [recreate(), safe()].concat());
    let safe_live = live_with(&r, safe());
    let manual_live = live_with(&r, [safe(), bare()].concat());
    let mut paused = web("paused", 2, json!(null));
    paused[0]["spec"]["paused"] = json!(true);
    let blocked_live = live_with(&r, paused);
    let skew_live = live_with(
        &r,
        vec![pod("shop", "ancient").image(&proxy_image("1.28.5")).build()],
    );
    // (case, live state, --fail-on values, exit code)
    let cases: &[(&str, &str, &[&str], i32)] = &[
        ("without --fail-on: pending is 1", &unsafe_live, &[], 1),
        (
            "unavailable: a 1-replica Recreate",
            &unsafe_live,
            &["--fail-on", "unavailable"],
            5,
        ),
        (
            "unavailable: only safe restarts",
            &safe_live,
            &["--fail-on", "unavailable"],
            0,
        ),
        (
            "pending: as without the flag",
            &safe_live,
            &["--fail-on", "pending"],
            1,
        ),
        (
            "pending and unavailable: unsafe",
            &unsafe_live,
            &["--fail-on", "pending,unavailable"],
            5,
        ),
        (
            "repeatable",
            &unsafe_live,
            &["--fail-on", "manual", "--fail-on", "unavailable"],
            5,
        ),
        (
            "any: safe restarts are only pending",
            &safe_live,
            &["--fail-on", "any"],
            1,
        ),
        ("any: unsafe", &unsafe_live, &["--fail-on", "any"], 5),
        ("none", &unsafe_live, &["--fail-on", "none"], 0),
        (
            "manual: a bare pod",
            &manual_live,
            &["--fail-on", "manual"],
            5,
        ),
        (
            "manual: none there",
            &unsafe_live,
            &["--fail-on", "manual"],
            0,
        ),
        (
            "blocked: a bare pod is not",
            &manual_live,
            &["--fail-on", "blocked"],
            0,
        ),
        (
            "blocked: a paused Deployment",
            &blocked_live,
            &["--fail-on", "blocked"],
            5,
        ),
        (
            "skew: a sidecar two minors behind",
            &skew_live,
            &["--fail-on", "skew"],
            5,
        ),
        ("skew: none there", &unsafe_live, &["--fail-on", "skew"], 0),
    ];
    for (case, live, args, code) in cases {
        let (got, stdout, stderr) = run(&r, live, args, &[]);
        assert_eq!(got, *code, "{case}\n{stdout}\n{stderr}");
        assert_eq!(stderr, "", "{case}");
        assert_eq!(
            stdout.contains("Gate: "),
            !args.is_empty(),
            "{case}: {stdout}"
        );
    }
    // The environment variable stands in for the flag.
    let (code, ..) = run(
        &r,
        &unsafe_live,
        &[],
        &[("ISTIO_ROLLOUT_FAIL_ON", "unavailable")],
    );
    assert_eq!(code, 5);
    // `apply --dry-run` plans like `plan`.
    let out = istio_rollout()
        .args([
            "apply",
            "--dry-run",
            "--repo",
            r.path().to_str().unwrap(),
            "--path",
            "istio",
        ])
        .args(["--live-state", &unsafe_live, "--fail-on", "unavailable"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
}

#[test]
fn the_outputs_say_what_tripped_and_for_which_workloads() {
    let r = repo();
    let live = live_with(&r, [recreate(), safe(), bare()].concat());
    let (code, text, _) = run(&r, &live, &["--fail-on", "unavailable,blocked"], &[]);
    assert_eq!(code, 5);
    assert!(
        text.contains("Gate: gate refused (--fail-on unavailable, blocked): unavailable tripped\n"),
        "{text}"
    );
    assert!(
        text.contains("  unavailable (fails):\n    Deployment shop/cart: strategy Recreate: its only pod goes down before the new one starts\n"),
        "{text}"
    );
    // Found but not asked for: reported, not failing.
    assert!(
        text.contains("  manual (reported only):\n    Pod shop/debug: "),
        "{text}"
    );
    assert!(
        text.contains("  pending (reported only): 3 workloads"),
        "{text}"
    );
    assert!(
        !text.contains("catalog:"),
        "a safe restart is no gate finding: {text}"
    );

    let (code, md, _) = run(
        &r,
        &live,
        &["--fail-on", "unavailable", "-o", "markdown"],
        &[],
    );
    assert_eq!(code, 5);
    assert!(md.contains("#### Pre-sync gate: refused\n"), "{md}");
    assert!(
        md.contains("| `unavailable` | fails | Deployment `shop/cart` | strategy Recreate: its only pod goes down before the new one starts |"),
        "{md}"
    );

    let (code, out, _) = run(&r, &live, &["--fail-on", "unavailable", "-o", "json"], &[]);
    assert_eq!(code, 5);
    let g = &json_of(&out)["gate"];
    assert_eq!(g["fail_on"], json!(["unavailable"]));
    assert_eq!(g["tripped"], json!(["unavailable"]));
    assert_eq!(g["refused"], true);
    assert_eq!(g["override"], Value::Null);
    let found: Vec<&str> = g["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["condition"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["pending", "unavailable", "manual"]);
    let unavailable = &g["found"][1];
    assert_eq!(unavailable["fails"], true);
    assert_eq!(
        unavailable["workloads"],
        json!([{"kind": "Deployment", "namespace": "shop", "name": "cart",
                "why": "strategy Recreate: its only pod goes down before the new one starts"}])
    );
    assert_eq!(g["found"][2]["fails"], false);
    assert_eq!(g["found"][2]["workloads"][0]["name"], "debug");

    // Without the flag the JSON has no gate.
    let (code, out, _) = run(&r, &live, &["-o", "json"], &[]);
    assert_eq!(code, 1);
    assert!(json_of(&out).get("gate").is_none());
}

#[test]
fn an_override_proceeds_and_is_recorded() {
    let r = repo();
    let live = live_with(&r, [recreate(), safe()].concat());
    let fail = ["--fail-on", "unavailable"];
    let reason = "cart downtime accepted by the shop team (CHG-42)";
    let (code, text, _) = run(&r, &live, &fail, &[("ISTIO_ROLLOUT_GATE_OVERRIDE", reason)]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("Gate: gate overridden by ISTIO_ROLLOUT_GATE_OVERRIDE: {reason} (tripped: unavailable)\n")),
        "{text}"
    );
    let json_args = ["--fail-on", "unavailable", "-o", "json"];
    let (code, out, _) = run(
        &r,
        &live,
        &json_args,
        &[("ISTIO_ROLLOUT_GATE_OVERRIDE", reason)],
    );
    assert_eq!(code, 0);
    let g = &json_of(&out)["gate"];
    assert_eq!(
        g["override"],
        json!({"by": "ISTIO_ROLLOUT_GATE_OVERRIDE", "reason": reason})
    );
    assert_eq!(
        (g["refused"].clone(), g["tripped"].clone()),
        (json!(false), json!(["unavailable"]))
    );
    // The flag names itself.
    let (code, out, _) = run(
        &r,
        &live,
        &[&json_args[..], &["--gate-override", "by hand"]].concat(),
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(json_of(&out)["gate"]["override"]["by"], "--gate-override");
    // Empty (a pod annotation that is not set, through the downward API) or blank: no override.
    for empty in ["", "  "] {
        let (code, out, _) = run(
            &r,
            &live,
            &json_args,
            &[("ISTIO_ROLLOUT_GATE_OVERRIDE", empty)],
        );
        assert_eq!(code, 5);
        assert_eq!(json_of(&out)["gate"]["override"], Value::Null);
    }
    // Overriding also turns `pending` into 0.
    let (code, ..) = run(
        &r,
        &live,
        &["--fail-on", "pending"],
        &[("ISTIO_ROLLOUT_GATE_OVERRIDE", reason)],
    );
    assert_eq!(code, 0);
    // Without --fail-on the default exit codes stay.
    let (code, text, _) = run(&r, &live, &[], &[("ISTIO_ROLLOUT_GATE_OVERRIDE", reason)]);
    assert_eq!(code, 1);
    assert!(!text.contains("Gate"), "{text}");
}

#[test]
fn bad_fail_on_values_are_usage_errors() {
    let r = repo();
    let live = live_with(&r, safe());
    for (value, needle) in [
        ("unavailabel", "--fail-on: unknown condition `unavailabel`"),
        (
            "none,manual",
            "--fail-on: `none` cannot be combined with other conditions",
        ),
        ("manual,", "--fail-on: an empty condition"),
    ] {
        let (code, stdout, stderr) = run(&r, &live, &["--fail-on", value], &[]);
        assert_eq!(code, 2, "{value}");
        assert_eq!(stdout, "");
        assert!(stderr.contains(needle), "{value}: {stderr}");
    }
    let out = istio_rollout()
        .args([
            "apply",
            "--repo",
            r.path().to_str().unwrap(),
            "--fail-on",
            "manual",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--fail-on: the gate judges a plan"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Skew: a control plane supports sidecars at most one minor version older. Workloads that stay
//! behind say from which Istio version on they are out of support; a target that leaves a
//! sidecar two minors behind is an error in every format.

use super::*;
use crate::plan::Action;
use crate::render::{Format, render};

fn custom(p: PodB) -> PodB {
    p.annotation("sidecar.istio.io/proxyImage", "my/proxy:1")
}

fn bare(version: &str) -> Value {
    pod("ns", "bare").version(version).build()
}

fn paused(f: fn(PodB) -> PodB) -> Vec<Value> {
    let mut o = web(f);
    o[0]["spec"]["paused"] = json!(true);
    o
}

#[test]
fn workloads_that_stay_behind_say_when_they_fall_out_of_support() {
    type Case = (
        &'static str,
        &'static str,
        Vec<Value>,
        &'static str,
        &'static str,
        Action,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        // (name, target, objects, kind, workload, action, warning)
        (
            "skipped, one behind",
            T,
            web(|p| custom(p).version("1.29.3")),
            "Deployment",
            "web",
            Action::Skip,
            Some(
                "stays on Istio 1.29.3: out of support once the control plane runs Istio 1.31 or later",
            ),
        ),
        (
            "manual, one behind",
            T,
            vec![bare("1.29.3")],
            "Pod",
            "bare",
            Action::Manual,
            Some(
                "stays on Istio 1.29.3: out of support once the control plane runs Istio 1.31 or later",
            ),
        ),
        (
            "blocked, one behind",
            T,
            paused(|p| p.version("1.29.3")),
            "Deployment",
            "web",
            Action::Blocked,
            Some("out of support once the control plane runs Istio 1.31 or later"),
        ),
        (
            "skipped, two behind",
            "1.31.1",
            web(|p| custom(p).version("1.29.3")),
            "Deployment",
            "web",
            Action::Skip,
            Some(
                "out of support once the control plane runs Istio 1.31 or later (the target does)",
            ),
        ),
        (
            "restarted: not behind",
            T,
            web(|p| p.version("1.29.3")),
            "Deployment",
            "web",
            Action::Restart,
            None,
        ),
        (
            "blocked on the target: not behind",
            T,
            paused(|p| p.env("ISTIO_META_DNS_CAPTURE", "true")),
            "Deployment",
            "web",
            Action::Blocked,
            None,
        ),
    ];
    for (name, target, objects, kind, wl, action, warning) in cases {
        let p = run_desired(&desired(json!({}), target), objects);
        let e = find(&p, kind, "ns", wl).unwrap_or_else(|| panic!("{name}: {:?}", p.workloads));
        assert_eq!(e.action, action, "{name}");
        let found = e.warnings.iter().find(|w| w.starts_with("stays on Istio"));
        match warning {
            Some(w) => assert!(
                found.is_some_and(|f| f.contains(w)),
                "{name}: {:?}",
                e.warnings
            ),
            None => assert!(found.is_none(), "{name}: {:?}", e.warnings),
        }
    }
}

#[test]
fn a_target_two_minors_ahead_of_a_sidecar_is_an_error() {
    let cases: Vec<(&str, &str, Vec<Value>, bool)> = vec![
        ("one minor", T, web(|p| custom(p).version("1.29.3")), false),
        (
            "two minors, skipped",
            "1.31.1",
            web(|p| custom(p).version("1.29.3")),
            true,
        ),
        (
            "two minors, restarted later",
            "1.31.1",
            web(|p| p.version("1.29.3")),
            true,
        ),
        ("two minors, manual", "1.31.1", vec![bare("1.29.0")], true),
        ("three minors", "1.31.1", vec![bare("1.28.6")], true),
        ("on the target", "1.31.1", vec![bare("1.31.1")], false),
        (
            "one minor behind the target",
            "1.31.1",
            vec![bare("1.30.4")],
            false,
        ),
    ];
    for (name, target, objects, error) in cases {
        let p = run_desired(&desired(json!({}), target), objects);
        assert_eq!(!p.errors.is_empty(), error, "{name}: {:?}", p.errors);
        if error {
            assert!(
                p.errors[0].contains("two or more minor versions behind"),
                "{name}: {:?}",
                p.errors
            );
        }
    }
    assert!(
        plan(
            &uninstall(),
            &live(vec![bare("1.20.0")]),
            &Options::default()
        )
        .errors
        .is_empty()
    );
}

#[test]
fn the_skew_error_shows_in_every_format() {
    let p = run_desired(&desired(json!({}), "1.31.1"), vec![bare("1.29.3")]);
    let out = |f: Format| {
        let mut v = Vec::new();
        render(&p, f, false, &mut v).unwrap();
        String::from_utf8(v).unwrap()
    };
    let text = out(Format::Text);
    assert!(
        text.lines()
            .any(|l| l.starts_with("  error: Istio 1.31.1 would leave 1 sidecar")),
        "{text}"
    );
    let md = out(Format::Markdown);
    assert!(
        md.contains("> [!CAUTION]\n> Istio 1.31.1 would leave 1 sidecar"),
        "{md}"
    );
    let json: Value = serde_json::from_str(&out(Format::Json)).unwrap();
    assert!(
        json["errors"][0].as_str().unwrap().contains("ns/bare"),
        "{json}"
    );
    // Nothing to say: no errors key in JSON, no error line.
    let p = run(json!({}), web(|p| p));
    let mut v = Vec::new();
    render(&p, Format::Json, false, &mut v).unwrap();
    let json: Value = serde_json::from_slice(&v).unwrap();
    assert!(json.get("errors").is_none());
}

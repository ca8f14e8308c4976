//! Gateways: the module's own in `istio-system` have their own rule; injected user gateways are
//! workloads like any other. The ingress gateway rule: stats matcher regexps are a set, and a
//! `lastAppliedConfiguration` that does not parse is said and counts as nothing applied.

use super::*;
use crate::plan::Action;

fn gateway_pod(ns: &str, rs: &str, injected: bool) -> Value {
    let mut p = pod(ns, &format!("{rs}-a"))
        .owner("ReplicaSet", rs)
        .label("istio", "ingressgateway")
        .version("1.29.3")
        .build();
    if !injected {
        p["metadata"]["annotations"] = json!({});
    }
    p
}

#[test]
fn only_the_module_gateways_are_not_sidecar_targets() {
    let cases = [
        ("istio-system", false, false),
        ("istio-system", true, false),
        ("shop", true, true),
        ("shop", false, false),
    ];
    for (ns, injected, planned) in cases {
        let objects = vec![
            deployment(ns, "my-gateway", 1),
            replica_set(ns, "my-gateway-1", "my-gateway"),
            gateway_pod(ns, "my-gateway-1", injected),
        ];
        let p = run(json!({}), objects);
        let e = find(&p, "Deployment", ns, "my-gateway");
        assert_eq!(
            e.is_some(),
            planned,
            "{ns} injected={injected}: {:?}",
            p.workloads
        );
        if let Some(e) = e {
            assert_eq!(
                (e.action, e.reasons.clone()),
                (Action::Restart, vec![Reason::IstioVersion])
            );
        }
    }
    // After the restart the user gateway runs the target: nothing more.
    let mut restarted = gateway_pod("shop", "my-gateway-1", true);
    restarted["spec"]["containers"][1]["image"] = json!(image(T));
    let objects = vec![
        deployment("shop", "my-gateway", 1),
        replica_set("shop", "my-gateway-1", "my-gateway"),
        restarted,
    ];
    assert!(run(json!({}), objects).workloads.is_empty());
}

#[test]
fn a_user_gateway_goes_on_uninstall_like_any_sidecar() {
    let objects = vec![
        deployment("shop", "my-gateway", 1),
        replica_set("shop", "my-gateway-1", "my-gateway"),
        gateway_pod("shop", "my-gateway-1", true),
        deployment("istio-system", "istio-ingressgateway", 1),
        replica_set("istio-system", "gw-1", "istio-ingressgateway"),
        gateway_pod("istio-system", "gw-1", false),
    ];
    let p = plan(&uninstall(), &live(objects), &Options::default());
    let names: Vec<&str> = p.workloads.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["my-gateway"]);
}

fn ingress(last_applied: &str, git: Value) -> Plan {
    let objects = vec![
        live_cr("default", git.clone(), Some(last_applied)),
        deployment("istio-system", "istio-ingressgateway", 1),
        replica_set("istio-system", "gw-1", "istio-ingressgateway"),
        {
            let mut p = gateway_pod("istio-system", "gw-1", false);
            p["spec"]["containers"][1]["image"] = json!(image(T));
            p
        },
    ];
    run(git, objects)
}

fn gateway_planned(p: &Plan) -> bool {
    find(p, "Deployment", "istio-system", "istio-ingressgateway").is_some()
}

#[test]
fn stats_matcher_regexps_are_a_set() {
    let git = |r: &[&str]| json!({"config": {"proxyStatsMatcher": {"inclusionRegexps": r}}});
    let applied = r#"{"config":{"proxyStatsMatcher":{"inclusionRegexps":["a.*","b.*"]},"telemetry":{"metrics":{}}},"IstioTag":"1.30.2"}"#;
    let cases: Vec<(&str, Value, bool)> = vec![
        ("same order", git(&["a.*", "b.*"]), false),
        ("reordered", git(&["b.*", "a.*"]), false),
        ("a repeat", git(&["b.*", "a.*", "a.*"]), false),
        ("one more", git(&["a.*", "b.*", "c.*"]), true),
        ("one other", git(&["a.*", "c.*"]), true),
        ("removed", json!({}), true),
    ];
    for (name, g, planned) in cases {
        assert_eq!(gateway_planned(&ingress(applied, g)), planned, "{name}");
    }
}

#[test]
fn a_last_applied_that_does_not_parse_is_said_and_counts_as_nothing_applied() {
    let ntp = json!({"config": {"numTrustedProxies": 2}});
    let cases: Vec<(&str, &str, Value, bool, bool)> = vec![
        // (name, lastApplied, git, notice, gateway planned)
        (
            "not JSON, git sets a gateway field",
            "{not json",
            ntp.clone(),
            true,
            true,
        ),
        (
            "not JSON, git sets none",
            "{not json",
            json!({}),
            true,
            false,
        ),
        (
            "wrong shape",
            r#"{"config":{"numTrustedProxies":"two"}}"#,
            ntp.clone(),
            true,
            true,
        ),
        (
            "applied equals git",
            r#"{"config":{"numTrustedProxies":2},"IstioTag":"1.30.2"}"#,
            ntp.clone(),
            false,
            false,
        ),
        (
            "applied differs",
            r#"{"config":{"numTrustedProxies":1},"IstioTag":"1.30.2"}"#,
            ntp,
            false,
            true,
        ),
    ];
    for (name, applied, git, notice, planned) in cases {
        let p = ingress(applied, git);
        let said = p.notices.iter().any(|n| {
            n.contains("does not parse") && n.contains("as if the operator had applied nothing")
        });
        assert_eq!(said, notice, "{name}: {:?}", p.notices);
        assert_eq!(gateway_planned(&p), planned, "{name}: {:?}", p.workloads);
    }
}

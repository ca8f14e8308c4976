//! Item: settings that git removes. The CRD has no defaults, so a removal is a change back to the
//! module's default: the CR diff shows it, and the sidecar rules judge "unset" as that default.

use super::*;
use crate::plan::cr::CrAction;

#[test]
fn the_cr_diff_shows_fields_git_removed_but_not_metadata_the_cluster_added() {
    let cases: Vec<(&str, Value, Value, CrAction, &[&str])> = vec![
        (
            "DNS proxying removed",
            json!({"config": {"enableDNSProxying": true}}),
            json!({}),
            CrAction::Update,
            &["-  config:", "-    enableDNSProxying: true"],
        ),
        (
            "one of two settings removed",
            json!({"config": {"numTrustedProxies": 2, "telemetry": {"metrics": {"prometheusMerge": true}}}}),
            json!({"config": {"numTrustedProxies": 2}}),
            CrAction::Update,
            &["-    telemetry:", "-        prometheusMerge: true"],
        ),
        (
            "proxy resources removed",
            json!({"components": {"proxy": {"k8s": {"resources": {"limits": {"cpu": "1"}}}}}}),
            json!({}),
            CrAction::Update,
            &["-  components:"],
        ),
        (
            "compatibility mode removed",
            json!({"compatibilityMode": true}),
            json!({}),
            CrAction::Update,
            &["-  compatibilityMode: true"],
        ),
        (
            "equal",
            json!({"compatibilityMode": true}),
            json!({"compatibilityMode": true}),
            CrAction::None,
            &[],
        ),
        ("both empty", json!({}), json!({}), CrAction::None, &[]),
    ];
    for (name, live_spec, git_spec, action, lines) in cases {
        let mut cr = live_cr(
            "default",
            live_spec,
            Some(r#"{"config":{"telemetry":{"metrics":{}}},"IstioTag":"1.30.2"}"#),
        );
        cr["metadata"]["labels"] = json!({"added-by": "someone"});
        cr["metadata"]["uid"] = json!("u-1");
        let p = run(git_spec, vec![cr]);
        assert_eq!(p.cr.action, action, "{name}: {}", p.cr.diff);
        for l in lines {
            assert!(
                p.cr.diff.lines().any(|d| d == *l),
                "{name}: no `{l}` in\n{}",
                p.cr.diff
            );
        }
        assert!(
            !p.cr.diff.contains("added-by"),
            "{name}: metadata git does not set is hidden"
        );
        assert!(!p.cr.diff.contains("lastApplied"), "{name}");
        assert_eq!(
            p.summary.pending,
            action != CrAction::None,
            "{name}: a removal is pending"
        );
    }
}

#[test]
fn unset_dns_proxying_is_off() {
    let capture = |p: PodB| p.env("ISTIO_META_DNS_CAPTURE", "true");
    let cases: Vec<(&str, Value, Option<Value>, bool, bool)> = vec![
        // (name, git spec, live spec (None: as git), pod captures DNS, planned)
        ("unset, pod captures", json!({}), None, true, true),
        ("unset, pod does not", json!({}), None, false, false),
        (
            "git removes it, pod captures",
            json!({}),
            Some(json!({"config": {"enableDNSProxying": true}})),
            true,
            true,
        ),
        (
            "git removes it, pod restarted",
            json!({}),
            Some(json!({"config": {"enableDNSProxying": true}})),
            false,
            false,
        ),
        (
            "off, pod captures",
            json!({"config": {"enableDNSProxying": false}}),
            None,
            true,
            true,
        ),
        (
            "on, pod does not",
            json!({"config": {"enableDNSProxying": true}}),
            None,
            false,
            true,
        ),
        (
            "on, pod captures",
            json!({"config": {"enableDNSProxying": true}}),
            None,
            true,
            false,
        ),
    ];
    for (name, git, live_spec, captures, planned) in cases {
        let mut objects = web(|p| if captures { capture(p) } else { p });
        if let Some(s) = live_spec {
            objects.push(live_cr("default", s, None));
        }
        let r = web_reasons(&run(git, objects));
        assert_eq!(r == vec![Reason::DnsProxying], planned, "{name}: {r:?}");
    }
}

#[test]
fn unset_prometheus_merge_and_compatibility_mode_are_off() {
    let merged = |p: PodB| {
        p.annotation("prometheus.io/path", "/stats/prometheus")
            .annotation("prometheus.io/port", "15020")
    };
    let live_on = live_cr(
        "default",
        json!({"config": {"telemetry": {"metrics": {"prometheusMerge": true}}}}),
        None,
    );
    let r = web_reasons(&run(
        json!({}),
        [web(merged), vec![live_on.clone()]].concat(),
    ));
    assert_eq!(r, vec![Reason::PrometheusMerge]);
    // After the restart the pod lacks the annotations: nothing more.
    assert!(web_reasons(&run(json!({}), [web(|p| p), vec![live_on]].concat())).is_empty());

    let d = desired(json!({}), "1.24.2");
    let flags = |p: PodB| {
        p.version("1.24.2")
            .env("ENABLE_DEFERRED_STATS_CREATION", "false")
            .env("BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS", "false")
    };
    let live_on = live_cr("default", json!({"compatibilityMode": true}), None);
    let p = run_desired(&d, [web(flags), vec![live_on.clone()]].concat());
    assert_eq!(web_reasons(&p), vec![Reason::CompatibilityMode]);
    let p = run_desired(&d, [web(|p| p.version("1.24.2")), vec![live_on]].concat());
    assert!(p.workloads.is_empty(), "{:?}", p.workloads);
}

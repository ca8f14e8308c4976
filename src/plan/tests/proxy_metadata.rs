//! `proxy.istio.io/config` on a pod overrides the mesh's proxy metadata per field: a pod that sets
//! a flag itself is in sync with it.

use super::*;

const CONFIG: &str = "proxy.istio.io/config";

#[test]
fn a_pod_that_sets_dns_capture_itself_is_in_sync() {
    let on = json!({"config": {"enableDNSProxying": true}});
    let yaml_off = "proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"false\"\n";
    let json_on = r#"{"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"}}"#;
    let other = "proxyMetadata:\n  OTHER: \"1\"\nholdApplicationUntilProxyStarts: true\n";
    type Case = (&'static str, Value, Option<&'static str>, bool, bool);
    let cases: Vec<Case> = vec![
        // (name, git, annotation, pod captures, planned)
        (
            "git on, pod overrides off",
            on.clone(),
            Some(yaml_off),
            false,
            false,
        ),
        (
            "git off, pod overrides on",
            json!({}),
            Some(json_on),
            true,
            false,
        ),
        (
            "git on, pod overrides on",
            on.clone(),
            Some(json_on),
            true,
            false,
        ),
        (
            "git on, override of another key",
            on.clone(),
            Some(other),
            false,
            true,
        ),
        (
            "git on, annotation does not parse",
            on.clone(),
            Some("{["),
            false,
            true,
        ),
        ("git on, no annotation", on.clone(), None, false, true),
        ("git on, no annotation, restarted", on, None, true, false),
    ];
    for (name, git, annotation, captures, planned) in cases {
        let p = run(
            git,
            web(|mut p| {
                if let Some(a) = annotation {
                    p = p.annotation(CONFIG, a);
                }
                if captures {
                    p = p.env("ISTIO_META_DNS_CAPTURE", "true");
                }
                p
            }),
        );
        assert_eq!(
            web_reasons(&p) == vec![Reason::DnsProxying],
            planned,
            "{name}: {:?}",
            p.workloads
        );
    }
}

#[test]
fn compatibility_flags_the_pod_sets_itself_are_its_own() {
    let d = |spec: Value| desired(spec, "1.24.2");
    let both = "proxyMetadata:\n  ENABLE_DEFERRED_STATS_CREATION: \"true\"\n  BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS: \"true\"\n";
    let one = "proxyMetadata:\n  ENABLE_DEFERRED_STATS_CREATION: \"false\"\n";
    type Case = (
        &'static str,
        Value,
        Option<&'static str>,
        &'static [&'static str],
        bool,
    );
    let cases: Vec<Case> = vec![
        (
            "mode on, pod overrides both",
            json!({"compatibilityMode": true}),
            Some(both),
            &[],
            false,
        ),
        (
            "mode on, pod overrides one, the other missing",
            json!({"compatibilityMode": true}),
            Some(one),
            &[],
            true,
        ),
        (
            "mode on, pod overrides one, the other present",
            json!({"compatibilityMode": true}),
            Some(one),
            &["BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS"],
            false,
        ),
        (
            "mode off, the pod's own flag present",
            json!({}),
            Some(one),
            &["ENABLE_DEFERRED_STATS_CREATION"],
            false,
        ),
        (
            "mode off, a flag present without override",
            json!({}),
            None,
            &["ENABLE_DEFERRED_STATS_CREATION"],
            true,
        ),
    ];
    for (name, spec, annotation, env, planned) in cases {
        let p = run_desired(
            &d(spec),
            web(|mut p| {
                p = p.version("1.24.2");
                if let Some(a) = annotation {
                    p = p.annotation(CONFIG, a);
                }
                for k in env {
                    p = p.env(k, "false");
                }
                p
            }),
        );
        assert_eq!(
            web_reasons(&p) == vec![Reason::CompatibilityMode],
            planned,
            "{name}: {:?}",
            p.workloads
        );
    }
}

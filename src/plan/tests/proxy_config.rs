//! The ProxyConfig a sidecar started with (`PROXY_CONFIG` on `istio-proxy`) against git's: DNS
//! capture, the compatibility flags and `proxyStatsMatcher` (issue 11 item 13). Pods without
//! `PROXY_CONFIG` are judged from their env vars, and their stats matcher not at all.

use super::*;
use istio_rollout_testenv::injector::{InjectorSettings, inject};
use k8s_openapi::api::core::v1::Pod;

const CONFIG: &str = "proxy.istio.io/config";

fn carried(config: Value) -> impl Fn(PodB) -> PodB {
    move |p| p.env("PROXY_CONFIG", &config.to_string())
}

fn stats(regexps: &[&str]) -> Value {
    json!({"config": {"proxyStatsMatcher": {"inclusionRegexps": regexps}}})
}

#[test]
fn stats_matcher_is_judged_from_proxy_config_as_a_set() {
    type Case = (
        &'static str,
        Value,
        Option<Value>,
        Option<&'static str>,
        bool,
    );
    let cases: Vec<Case> = vec![
        // (name, git, PROXY_CONFIG, proxy.istio.io/config, planned)
        (
            "same set, another order",
            stats(&["a.*", "b.*"]),
            Some(json!({"proxyStatsMatcher": {"inclusionRegexps": ["b.*", "a.*"]}})),
            None,
            false,
        ),
        (
            "one regexp missing",
            stats(&["a.*", "b.*"]),
            Some(json!({"proxyStatsMatcher": {"inclusionRegexps": ["a.*"]}})),
            None,
            true,
        ),
        (
            "git sets one, the pod started with none",
            stats(&["a.*"]),
            Some(json!({"proxyMetadata": {}})),
            None,
            true,
        ),
        (
            "git removed it (module default: none), the pod has one",
            json!({}),
            Some(json!({"proxyStatsMatcher": {"inclusionRegexps": ["a.*"]}})),
            None,
            true,
        ),
        (
            "neither sets one",
            json!({}),
            Some(json!({"statusPort": 15020})),
            None,
            false,
        ),
        (
            "the pod sets its own in proxy.istio.io/config",
            stats(&["a.*"]),
            Some(json!({"proxyStatsMatcher": {"inclusionRegexps": ["own.*"]}})),
            Some("proxyStatsMatcher:\n  inclusionRegexps: [\"own.*\"]\n"),
            false,
        ),
        (
            "no PROXY_CONFIG: not judged, as before",
            stats(&["a.*"]),
            None,
            None,
            false,
        ),
    ];
    for (name, git, config, annotation, planned) in cases {
        let p = run(
            git,
            web(|mut p| {
                if let Some(c) = &config {
                    p = carried(c.clone())(p);
                }
                if let Some(a) = annotation {
                    p = p.annotation(CONFIG, a);
                }
                p
            }),
        );
        assert_eq!(
            web_reasons(&p) == vec![Reason::ProxyStatsMatcher],
            planned,
            "{name}: {:?}",
            p.workloads
        );
    }
}

#[test]
fn a_proxy_config_that_is_not_json_is_judged_from_the_env() {
    let p = run(
        json!({"config": {"enableDNSProxying": true}}),
        web(|p| {
            p.env("PROXY_CONFIG", "{not json")
                .env("ISTIO_META_DNS_CAPTURE", "true")
        }),
    );
    assert!(web_reasons(&p).is_empty(), "{:?}", p.workloads);
    let p = run(stats(&["a.*"]), web(|p| p.env("PROXY_CONFIG", "[1]")));
    assert!(web_reasons(&p).is_empty(), "{:?}", p.workloads);
}

#[test]
fn dns_capture_is_judged_from_proxy_config_when_the_pod_has_it() {
    let on = json!({"config": {"enableDNSProxying": true}});
    let capture = |v: &str| json!({"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": v}});
    type Case = (&'static str, Value, Value, Option<&'static str>, bool);
    let cases: Vec<Case> = vec![
        // (name, git, PROXY_CONFIG, env ISTIO_META_DNS_CAPTURE, planned)
        ("on, carried on", on.clone(), capture("true"), None, false),
        // PROXY_CONFIG is what the proxy started with; a stray env var does not count.
        (
            "on, carried off",
            on.clone(),
            capture("false"),
            Some("true"),
            true,
        ),
        (
            "on, carried without the key",
            on.clone(),
            json!({}),
            Some("true"),
            true,
        ),
        (
            "off (unset), carried on",
            json!({}),
            capture("true"),
            None,
            true,
        ),
        (
            "off (unset), carried off",
            json!({}),
            capture("false"),
            None,
            false,
        ),
    ];
    for (name, git, config, env, planned) in cases {
        let p = run(
            git,
            web(|mut p| {
                p = carried(config.clone())(p);
                if let Some(v) = env {
                    p = p.env("ISTIO_META_DNS_CAPTURE", v);
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
fn compatibility_flags_are_judged_from_proxy_config() {
    let both = json!({"proxyMetadata": {
        "ENABLE_DEFERRED_STATS_CREATION": "false",
        "BYPASS_OVERLOAD_MANAGER_FOR_STATIC_LISTENERS": "false"}});
    let one = json!({"proxyMetadata": {"ENABLE_DEFERRED_STATS_CREATION": "false"}});
    let cases: Vec<(&str, Value, Value, bool)> = vec![
        (
            "on, both carried",
            json!({"compatibilityMode": true}),
            both.clone(),
            false,
        ),
        (
            "on, one carried",
            json!({"compatibilityMode": true}),
            one.clone(),
            true,
        ),
        ("off, one carried", json!({}), one, true),
        (
            "off, none carried",
            json!({}),
            json!({"proxyMetadata": {}}),
            false,
        ),
    ];
    for (name, spec, config, planned) in cases {
        let p = run_desired(
            &desired(spec, "1.24.2"),
            web(|p| carried(config.clone())(p.version("1.24.2"))),
        );
        assert_eq!(
            web_reasons(&p) == vec![Reason::CompatibilityMode],
            planned,
            "{name}: {:?}",
            p.workloads
        );
    }
}

/// Pod `ns/web-1-a` as the simulated injector renders it with `settings` (Istio's template:
/// `PROXY_CONFIG` and the proxyMetadata env) and the API server then defaults it, owned by
/// ReplicaSet `web-1`.
pub fn rendered(settings: &InjectorSettings, annotations: &[(&str, &str)]) -> Value {
    let a: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let raw = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1-a", "namespace": "ns", "labels": {"app": "web"},
                     "annotations": a,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "web-1", "uid": "u", "controller": true}]},
        "spec": {"containers": [
            {"name": "app", "image": "app:1", "readinessProbe": {"httpGet": {"port": 80}}}
        ]}
    });
    let pod: Pod = serde_json::from_value(raw).unwrap();
    let out = inject(&pod, settings).unwrap().expect("injected");
    let mut v = serde_json::to_value(out).unwrap();
    // The API server defaults a container's missing request from its limit.
    for list in ["containers", "initContainers"] {
        for c in v["spec"][list].as_array_mut().into_iter().flatten() {
            let Some(limits) = c["resources"]["limits"].as_object().cloned() else {
                continue;
            };
            let requests = c["resources"]
                .as_object_mut()
                .unwrap()
                .entry("requests")
                .or_insert_with(|| json!({}));
            for (k, q) in limits {
                requests.as_object_mut().unwrap().entry(k).or_insert(q);
            }
        }
    }
    v["status"] = json!({"phase": "Running"});
    v
}

/// Level-triggered: after the restart the injector renders the pod from git's settings, and
/// planning again gives no entry.
#[test]
fn the_pod_the_injector_renders_after_the_restart_gives_no_entry() {
    let mut settings = InjectorSettings::kyma_default(T);
    settings.dns_proxying = true;
    settings.proxy_stats_matcher = Some(vec!["b.*".into(), "a.*".into()]);
    let git = json!({"config": {"enableDNSProxying": true,
                                "proxyStatsMatcher": {"inclusionRegexps": ["a.*", "b.*"]}}});
    let objects = |pod: Value| {
        vec![
            deployment("ns", "web", 1),
            replica_set("ns", "web-1", "web"),
            pod,
        ]
    };
    for annotations in [
        vec![],
        vec![(
            CONFIG,
            "proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"false\"\n",
        )],
        vec![(
            CONFIG,
            "proxyStatsMatcher:\n  inclusionRegexps: [\"own.*\"]\n",
        )],
    ] {
        let p = run(git.clone(), objects(rendered(&settings, &annotations)));
        assert!(p.workloads.is_empty(), "{annotations:?}: {:?}", p.workloads);
    }

    // The same pods rendered before git's change (nothing set) are planned for both.
    let before = InjectorSettings::kyma_default(T);
    let p = run(git, objects(rendered(&before, &[])));
    assert_eq!(
        web_reasons(&p),
        vec![Reason::DnsProxying, Reason::ProxyStatsMatcher]
    );
}

/// Items 1 and 2 against the injector's own rendering: pods injected with git's settings, whatever
/// their resource and Prometheus annotations, are in sync.
#[test]
fn pods_rendered_with_gits_settings_give_no_entry() {
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use std::collections::BTreeMap;
    let objects = |pod: Value| {
        vec![
            deployment("ns", "web", 1),
            replica_set("ns", "web-1", "web"),
            pod,
        ]
    };
    let mut settings = InjectorSettings::kyma_default(T);
    settings.prometheus_merge = true;
    settings.resources.requests = Some(BTreeMap::from([
        ("cpu".to_string(), Quantity("100m".into())),
        ("memory".to_string(), Quantity("128Mi".into())),
    ]));
    let git = json!({"config": {"telemetry": {"metrics": {"prometheusMerge": true}}},
                     "components": {"proxy": {"k8s": {"resources":
                         {"requests": {"cpu": "100m", "memory": "128Mi"}}}}}});
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("sidecar.istio.io/proxyCPU", "50m")],
        vec![("sidecar.istio.io/proxyMemoryLimit", "1Gi")],
        vec![
            ("sidecar.istio.io/proxyCPULimit", "2"),
            ("sidecar.istio.io/proxyMemory", "64Mi"),
        ],
        vec![("prometheus.io/scrape", "False")],
        vec![("prometheus.istio.io/merge-metrics", "0")],
        vec![
            ("prometheus.io/port", "15020"),
            ("prometheus.io/path", "/metrics"),
        ],
    ];
    for annotations in &cases {
        let p = run(git.clone(), objects(rendered(&settings, annotations)));
        assert!(p.workloads.is_empty(), "{annotations:?}: {:?}", p.workloads);
    }

    // Merge off in the mesh, forced on by the pod; and the same pods before git's change.
    let mut off = InjectorSettings::kyma_default(T);
    off.prometheus_merge = false;
    let forced = [("prometheus.istio.io/merge-metrics", "true")];
    let p = run(json!({}), objects(rendered(&off, &forced)));
    assert!(p.workloads.is_empty(), "{:?}", p.workloads);
    let p = run(git, objects(rendered(&off, &[])));
    assert_eq!(
        web_reasons(&p),
        vec![Reason::PrometheusMerge, Reason::ProxyResources]
    );
}

//! `proxy-resources`: the CR's values, the pod's resource annotations (which replace the global
//! values entirely), and the module default once git drops the setting.

use super::*;
use crate::plan::resources::MODULE_DEFAULTS;

const LARGE: [&str; 4] = MODULE_DEFAULTS[0];
const SMALL: [&str; 4] = MODULE_DEFAULTS[1];

fn cr_resources(req: (&str, &str), lim: (&str, &str)) -> Value {
    let pair = |(cpu, mem): (&str, &str)| {
        let mut m = serde_json::Map::new();
        if !cpu.is_empty() {
            m.insert("cpu".into(), json!(cpu));
        }
        if !mem.is_empty() {
            m.insert("memory".into(), json!(mem));
        }
        Value::Object(m)
    };
    json!({"components": {"proxy": {"k8s": {"resources": {"requests": pair(req), "limits": pair(lim)}}}}})
}

fn planned(spec: Value, extra: Vec<Value>, f: impl Fn(PodB) -> PodB) -> Vec<String> {
    let p = run(spec, [web(f), extra].concat());
    match find(&p, "Deployment", "ns", "web") {
        Some(e) if e.reasons == vec![Reason::ProxyResources] => e.details.clone(),
        Some(e) => panic!("unexpected reasons {:?}", e.reasons),
        None => Vec::new(),
    }
}

#[test]
fn git_dropping_the_resources_means_the_module_default() {
    let old = cr_resources(("100m", "128Mi"), ("", ""));
    let old_pod = ["100m", "128Mi", "1000m", "1024Mi"];
    let applied = r#"{"components":{"proxy":{"k8s":{"resources":{"requests":{"cpu":"100m","memory":"128Mi"}}}}},"config":{"telemetry":{"metrics":{}}},"IstioTag":"1.30.2"}"#;
    let cases: Vec<(&str, Vec<Value>, [&str; 4], bool)> = vec![
        (
            "live CR still sets them, old pod",
            vec![live_cr("default", old.clone(), None)],
            old_pod,
            true,
        ),
        (
            "live CR still sets them, large default",
            vec![live_cr("default", old.clone(), None)],
            LARGE,
            false,
        ),
        (
            "live CR still sets them, small default",
            vec![live_cr("default", old.clone(), None)],
            SMALL,
            false,
        ),
        (
            "default by value (0.01, 1Gi)",
            vec![live_cr("default", old.clone(), None)],
            ["0.01", "192Mi", "1", "1Gi"],
            false,
        ),
        (
            "only lastApplied sets them, old pod",
            vec![live_cr("default", json!({}), Some(applied))],
            old_pod,
            true,
        ),
        (
            "only lastApplied sets them, restarted",
            vec![live_cr("default", json!({}), Some(applied))],
            LARGE,
            false,
        ),
        ("nobody sets them: not judged", vec![], old_pod, false),
        (
            "nobody sets them: not judged, no resources",
            vec![],
            ["", "", "", ""],
            false,
        ),
        (
            "half a default profile",
            vec![live_cr("default", old, None)],
            ["10m", "192Mi", "", ""],
            true,
        ),
    ];
    for (name, extra, res, want) in cases {
        let d = planned(json!({}), extra, |p| p.resources(res));
        assert_eq!(!d.is_empty(), want, "{name}: {d:?}");
        if want {
            assert!(d[0].contains("-> the module default"), "{name}: {d:?}");
        }
    }
}

#[test]
fn the_cr_values_are_compared_by_value_field_by_field() {
    let spec = cr_resources(("100m", "128Mi"), ("", "1Gi"));
    let cases: Vec<(&str, [&str; 4], usize)> = vec![
        ("equal", ["100m", "128Mi", "2", "1Gi"], 0),
        ("equal by value", ["0.1", "128Mi", "2", "1024Mi"], 0),
        ("one request differs", ["200m", "128Mi", "2", "1Gi"], 1),
        ("request and limit differ", ["200m", "128Mi", "2", "2Gi"], 2),
        ("a field git sets is missing", ["", "128Mi", "2", "1Gi"], 1),
    ];
    for (name, res, n) in cases {
        let d = planned(spec.clone(), vec![], |p| p.resources(res));
        assert_eq!(d.len(), n, "{name}: {d:?}");
    }
}

#[test]
fn resource_annotations_replace_the_global_values_entirely() {
    let spec = cr_resources(("100m", "128Mi"), ("1", "1Gi"));
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        [&'static str; 4],
        usize,
    );
    let cases: Vec<Case> = vec![
        // What the injector renders for each annotation alone (the API server copies a missing
        // request from its limit); the CR's values are not used at all.
        (
            "proxyCPU alone",
            &[("sidecar.istio.io/proxyCPU", "300m")],
            ["300m", "", "", ""],
            0,
        ),
        (
            "proxyCPU alone, stale CR values",
            &[("sidecar.istio.io/proxyCPU", "300m")],
            ["300m", "128Mi", "1", "1Gi"],
            0,
        ),
        (
            "proxyCPU alone, differs",
            &[("sidecar.istio.io/proxyCPU", "300m")],
            ["100m", "", "", ""],
            1,
        ),
        (
            "proxyMemory alone",
            &[("sidecar.istio.io/proxyMemory", "64Mi")],
            ["", "64Mi", "", ""],
            0,
        ),
        (
            "proxyCPULimit alone: request from limit",
            &[("sidecar.istio.io/proxyCPULimit", "2")],
            ["2", "", "2", ""],
            0,
        ),
        (
            "proxyCPULimit alone: request differs",
            &[("sidecar.istio.io/proxyCPULimit", "2")],
            ["100m", "", "2", ""],
            1,
        ),
        (
            "proxyMemoryLimit alone: request from limit",
            &[("sidecar.istio.io/proxyMemoryLimit", "512Mi")],
            ["", "512Mi", "", "512Mi"],
            0,
        ),
        (
            "all four",
            &[
                ("sidecar.istio.io/proxyCPU", "50m"),
                ("sidecar.istio.io/proxyCPULimit", "500m"),
                ("sidecar.istio.io/proxyMemory", "64Mi"),
                ("sidecar.istio.io/proxyMemoryLimit", "256Mi"),
            ],
            ["0.05", "64Mi", "500m", "256Mi"],
            0,
        ),
        (
            "all four, two differ",
            &[
                ("sidecar.istio.io/proxyCPU", "50m"),
                ("sidecar.istio.io/proxyCPULimit", "500m"),
                ("sidecar.istio.io/proxyMemory", "64Mi"),
                ("sidecar.istio.io/proxyMemoryLimit", "256Mi"),
            ],
            ["100m", "128Mi", "500m", "256Mi"],
            2,
        ),
        (
            "request and limit of CPU",
            &[
                ("sidecar.istio.io/proxyCPU", "50m"),
                ("sidecar.istio.io/proxyCPULimit", "500m"),
            ],
            ["50m", "", "500m", ""],
            0,
        ),
    ];
    for (name, annotations, res, n) in cases {
        for spec in [spec.clone(), json!({})] {
            // With git setting no resources and nothing to go back from, nothing is judged.
            let judged = spec != json!({});
            let d = planned(spec, vec![], |mut p| {
                for (k, v) in annotations {
                    p = p.annotation(k, v);
                }
                p.resources(res)
            });
            assert_eq!(d.len(), if judged { n } else { 0 }, "{name}: {d:?}");
        }
    }
}

#[test]
fn annotated_pods_are_judged_against_their_annotations_when_git_drops_the_resources() {
    let old = live_cr("default", cr_resources(("100m", "128Mi"), ("", "")), None);
    let d = planned(json!({}), vec![old.clone()], |p| {
        p.annotation("sidecar.istio.io/proxyCPU", "300m")
            .resources(["300m", "", "", ""])
    });
    assert!(d.is_empty(), "{d:?}");
    let d = planned(json!({}), vec![old], |p| {
        p.annotation("sidecar.istio.io/proxyCPU", "300m")
            .resources(["100m", "128Mi", "1", "1Gi"])
    });
    assert_eq!(
        d,
        vec!["istio-proxy requests.cpu 100m -> 300m (pod annotation)"]
    );
}

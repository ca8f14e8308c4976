//! `prometheus-merge` as Istio's injector decides it.

use super::*;
use crate::plan::prometheus::parse_bool;

const FALSE: [&str; 6] = ["0", "f", "F", "FALSE", "false", "False"];
const TRUE: [&str; 6] = ["1", "t", "T", "TRUE", "true", "True"];

fn on() -> Value {
    json!({"config": {"telemetry": {"metrics": {"prometheusMerge": true}}}})
}

fn off() -> Value {
    json!({"config": {"telemetry": {"metrics": {"prometheusMerge": false}}}})
}

/// What the injector leaves on a merged pod.
fn merged(p: PodB) -> PodB {
    p.annotation("prometheus.io/path", "/stats/prometheus")
        .annotation("prometheus.io/port", "15020")
        .annotation("prometheus.io/scrape", "true")
}

fn planned(spec: Value, f: impl Fn(PodB) -> PodB) -> bool {
    let r = web_reasons(&run(spec, web(f)));
    assert!(r.is_empty() || r == vec![Reason::PrometheusMerge], "{r:?}");
    !r.is_empty()
}

#[test]
fn booleans_parse_like_go() {
    for s in TRUE {
        assert_eq!(parse_bool(s), Some(true), "{s}");
    }
    for s in FALSE {
        assert_eq!(parse_bool(s), Some(false), "{s}");
    }
    for s in ["", "yes", "no", "off", "tRUE", " true", "2"] {
        assert_eq!(parse_bool(s), None, "{s:?}");
    }
}

#[test]
fn every_false_spelling_opts_out_of_both_annotations() {
    for key in ["prometheus.io/scrape", "prometheus.istio.io/merge-metrics"] {
        for v in FALSE {
            // Merge on and no merge annotations: the injector skips the pod, so it is in sync.
            assert!(!planned(on(), |p| p.annotation(key, v)), "{key}: {v}");
            // Merge off and the annotations present: they are the app's own, left alone.
            assert!(
                !planned(off(), |p| merged(p).annotation(key, v)),
                "{key}: {v}"
            );
        }
    }
    // Values that do not parse opt nobody out.
    for v in ["no", "off", ""] {
        assert!(
            planned(on(), |p| p.annotation("prometheus.io/scrape", v)),
            "{v:?}"
        );
    }
}

#[test]
fn merge_metrics_on_the_pod_overrides_the_mesh_in_both_directions() {
    let forced =
        |v: &'static str| move |p: PodB| p.annotation("prometheus.istio.io/merge-metrics", v);
    for v in TRUE {
        // Mesh off, pod forces merge on: the injector merges it.
        assert!(planned(off(), forced(v)), "{v}: not merged yet");
        assert!(!planned(off(), |p| merged(forced(v)(p))), "{v}: merged");
        assert!(
            !planned(json!({}), |p| merged(forced(v)(p))),
            "{v}: unset mesh, merged"
        );
        // Mesh on: the annotation agrees.
        assert!(planned(on(), forced(v)), "{v}");
        assert!(!planned(on(), |p| merged(forced(v)(p))), "{v}");
    }
    for v in FALSE {
        // Mesh on, pod forces merge off.
        assert!(!planned(on(), forced(v)), "{v}");
    }
    // An unparsable value falls back to the mesh setting.
    assert!(planned(on(), forced("maybe")));
    assert!(!planned(off(), forced("maybe")));
    assert!(planned(off(), |p| merged(forced("maybe")(p))));
}

#[test]
fn a_pod_whose_own_port_is_the_status_port_keeps_its_annotations() {
    let own = |path: &'static str| {
        move |p: PodB| {
            p.annotation("prometheus.io/port", "15020")
                .annotation("prometheus.io/path", path)
        }
    };
    assert!(
        !planned(on(), own("/metrics")),
        "left alone by the injector"
    );
    assert!(!planned(on(), |p| p.annotation("prometheus.io/port", "15020")));
    assert!(
        planned(on(), |p| p.annotation("prometheus.io/port", "8080")),
        "another port is merged"
    );
    assert!(
        !planned(off(), own("/metrics")),
        "merge off: not the merge annotations"
    );
    assert!(
        planned(off(), own("/stats/prometheus")),
        "merge off: the merge annotations go"
    );
}

#[test]
fn the_status_port_comes_from_the_mesh_config() {
    let mesh = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
                      "data": {"mesh": "defaultConfig:\n  statusPort: 15099\n"}});
    let with = |f: fn(PodB) -> PodB| [web(f), vec![mesh.clone()]].concat();
    assert_eq!(
        web_reasons(&run(on(), with(merged))),
        vec![Reason::PrometheusMerge]
    );
    let merged_15099: fn(PodB) -> PodB = |p| {
        p.annotation("prometheus.io/path", "/stats/prometheus")
            .annotation("prometheus.io/port", "15099")
    };
    assert!(run(on(), with(merged_15099)).workloads.is_empty());
    assert!(web_reasons(&run(off(), with(merged_15099))) == vec![Reason::PrometheusMerge]);
}

#[test]
fn after_the_restart_nothing_is_planned() {
    // Every case: the pod before, the pod as the injector renders it after a restart.
    type Shape = fn(PodB) -> PodB;
    let cases: Vec<(&str, Value, Shape, Shape)> = vec![
        ("mesh on", on(), |p| p, merged),
        ("mesh off", off(), merged, |p| p),
        (
            "forced on",
            off(),
            |p| p.annotation("prometheus.istio.io/merge-metrics", "True"),
            |p| merged(p).annotation("prometheus.istio.io/merge-metrics", "True"),
        ),
    ];
    for (name, spec, before, after) in cases {
        assert!(planned(spec.clone(), before), "{name}: before");
        assert!(!planned(spec, after), "{name}: after");
    }
}

//! Property test: generated hostile documents (deep nesting, odd unicode, control characters,
//! huge numbers, duplicate keys, wrong types) through the parser, the CR validator, the planner
//! and every renderer. Whatever the input: no panic, and either an invalid-input error (exit 2)
//! on one line, or output that is valid (JSON that parses, markdown whose blocks balance, text
//! without escape sequences). The case count is modest so the offline suite stays fast.

use crate::fixtures::*;
use istio_rollout::desired::{self, File};
use istio_rollout::error::{ExitCode, report};
use istio_rollout::live::snapshot;
use istio_rollout::render::{self, Format};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Strings that have broken renderers and error lines before, and arbitrary ones.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a|b`c</details>".to_string()),
        Just("\u{1b}[31mred\u{1b}]8;;x\u{7}".to_string()),
        Just("line\nbreak\r\n".to_string()),
        Just("é€😀\u{202e}\u{200b}".to_string()),
        Just("@team [x](http://e) *b*".to_string()),
        "[a-z0-9.-]{1,20}",
        any::<String>(),
        "\\PC{0,80}",
        "[\u{0}-\u{1f}\u{7f}-\u{9f}]{1,10}",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e308)),
        Just(json!(-0.0)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
}

/// Any JSON value, nested up to a few levels (a deeply nested one is added separately).
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(hostile_string(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A pointer into the objects this tool reads, to put a wrong value at.
fn pointer() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/metadata/name",
        "/metadata/namespace",
        "/metadata/labels",
        "/metadata/annotations",
        "/metadata/ownerReferences",
        "/metadata/uid",
        "/spec",
        "/spec/containers",
        "/spec/containers/1/image",
        "/spec/replicas",
        "/spec/template",
        "/status",
        "/status/phase",
        "/kind",
        "/apiVersion",
        "/data/mesh",
    ])
}

/// Sets `pointer` in `doc` to `v`, creating objects on the way where it can.
fn set(doc: &mut Value, pointer: &str, v: Value) {
    let mut cur = doc;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        cur = match cur {
            Value::Object(o) => {
                if last {
                    o.insert(p.to_string(), v);
                    return;
                }
                o.entry(p.to_string()).or_insert_with(|| json!({}))
            }
            Value::Array(a) => match p.parse::<usize>().ok().filter(|i| *i < a.len()) {
                Some(i) if last => {
                    a[i] = v;
                    return;
                }
                Some(i) => &mut a[i],
                None => return,
            },
            _ => return,
        };
    }
}

/// A live-state object: a valid one of a kind the tool reads, with hostile names and one
/// field replaced by anything.
fn object() -> impl Strategy<Value = Value> {
    let kinds = prop::sample::select(vec![
        ("v1", "Pod"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("policy/v1", "PodDisruptionBudget"),
        ("v1", "ConfigMap"),
        ("operator.kyma-project.io/v1alpha2", "Istio"),
        ("batch/v1", "Job"),
        ("x/v1", "Unknown"),
    ]);
    (
        kinds,
        hostile_string(),
        hostile_string(),
        prop::option::of((pointer(), value())),
    )
        .prop_map(|((api, kind), ns, name, mutation)| {
            let mut o = match kind {
                "Pod" => pod(&ns, &name).rs(&name).version("1.29.3").build(),
                "Deployment" => deployment(&ns, &name, 2),
                "ReplicaSet" => replica_set(&ns, &name, Some(&name), 1),
                _ => json!({"apiVersion": api, "kind": kind,
                            "metadata": {"name": name, "namespace": ns}, "spec": {}}),
            };
            if let Some((p, v)) = mutation {
                set(&mut o, p, v);
            }
            o
        })
}

/// A live state's text: the objects as JSON or YAML, sometimes with a key twice, sometimes
/// wrapped in deep nesting.
fn live_text() -> impl Strategy<Value = String> {
    (prop::collection::vec(object(), 0..6), 0..4u8, 0..300usize).prop_map(
        |(objects, style, depth)| {
            let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
            match style {
                0 => list.to_string(),
                1 => serde_saphyr::to_string(&list).unwrap_or_default(),
                // The same key twice: refused by both parsers.
                2 => list.to_string().replacen(
                    "{\"apiVersion\"",
                    "{\"kind\":\"X\",\"kind\":\"Y\",\"apiVersion\"",
                    1,
                ),
                _ => format!("{}{}{}", "[".repeat(depth), list, "]".repeat(depth)),
            }
        },
    )
}

/// The error of a rejected input: invalid input, one line, no control characters.
fn assert_one_line_invalid(e: &istio_rollout::error::Error) {
    let line = report(e);
    assert_eq!(e.exit_code(), ExitCode::InvalidInput, "{line}");
    assert!(!line.chars().any(char::is_control), "{line:?}");
    assert!(
        line.chars().count() < 8 * 1024,
        "{} chars",
        line.chars().count()
    );
}

/// Every rendering of a plan is valid.
fn assert_renders(plan: &istio_rollout::plan::Plan) {
    let mut json_out = Vec::new();
    render::render(plan, Format::Json, false, &mut json_out).unwrap();
    serde_json::from_slice::<Value>(&json_out).expect("the JSON output parses");
    let mut md = Vec::new();
    render::render(plan, Format::Markdown, false, &mut md).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count(),
        "{md}"
    );
    assert!(!md.contains('\u{1b}'), "{md}");
    for color in [false, true] {
        let mut text = Vec::new();
        render::render(plan, Format::Text, color, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        if !color {
            assert!(!text.contains('\u{1b}'), "{text}");
        }
        assert!(!text.contains('\r') && !text.contains('\u{202e}'), "{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_live_states_are_planned_and_rendered_or_refused_in_one_line(text in live_text()) {
        match snapshot::parse("live.json", &text) {
            Err(e) => assert_one_line_invalid(&e),
            Ok(live) => {
                let d = desired(json!({}), "1.30.2");
                if istio_rollout::plan::upgrade::check(&d, &live).is_ok() {
                    let plan = istio_rollout::plan::plan(&d, &live, &Default::default());
                    assert_renders(&plan);
                }
            }
        }
    }

    #[test]
    fn hostile_crs_are_validated_or_refused_in_one_line(
        spec in value(),
        ns in hostile_string(),
        api in prop::sample::select(vec!["operator.kyma-project.io/v1alpha2", "operator.kyma-project.io/v9", ""]),
        json_text in any::<bool>(),
    ) {
        let cr = json!({"apiVersion": api, "kind": "Istio",
                        "metadata": {"name": "default", "namespace": ns}, "spec": spec});
        let text = if json_text { cr.to_string() } else { serde_saphyr::to_string(&cr).unwrap_or_default() };
        let files = vec![File { path: "istio/cr.yaml".into(), contents: text.into_bytes() }];
        let mut s = source();
        s.path = "istio".into();
        match desired::parse(s, &files, &Default::default()) {
            Err(e) => assert_one_line_invalid(&e),
            Ok(d) => {
                let live = live(control_plane("1.29.3", "1.27.4"));
                if istio_rollout::plan::upgrade::check(&d, &live).is_ok() {
                    assert_renders(&istio_rollout::plan::plan(&d, &live, &Default::default()));
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = snapshot::parse("live.yaml", &text) {
            assert_one_line_invalid(&e);
        }
    }
}

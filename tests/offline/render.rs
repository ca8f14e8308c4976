//! Snapshots (insta) of the three renderings of the bundled example, and the size bound of the
//! markdown rendering on a large cluster.

use crate::fixtures;
use istio_rollout::desired::{self, File};
use istio_rollout::live::snapshot;
use istio_rollout::plan::{Options, Plan, plan};
use istio_rollout::render::{Format, render};

fn example_plan() -> Plan {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let files: Vec<File> = ["istio-manager.yaml", "istio-default-cr.yaml", "README.md"]
        .iter()
        .filter_map(|f| {
            let path = format!("{root}/gitops/istio/{f}");
            std::fs::read(&path).ok().map(|contents| File {
                path: format!("examples/gitops/istio/{f}"),
                contents,
            })
        })
        .collect();
    let mut source = fixtures::source();
    source.path = "examples/gitops/istio".into();
    let d = desired::parse(source, &files, &Default::default()).unwrap();
    let live = snapshot::read(std::path::Path::new(&format!("{root}/live-state.yaml"))).unwrap();
    istio_rollout::plan::upgrade::check(&d, &live).unwrap();
    plan(&d, &live, &Options::default())
}

fn rendered(p: &Plan, f: Format, color: bool) -> String {
    let mut out = Vec::new();
    render(p, f, color, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn text() {
    insta::assert_snapshot!(rendered(&example_plan(), Format::Text, false));
}

#[test]
fn markdown() {
    insta::assert_snapshot!(rendered(&example_plan(), Format::Markdown, false));
}

#[test]
fn json() {
    let out = rendered(&example_plan(), Format::Json, false);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format_version"], 1);
    insta::assert_snapshot!(out);
}

#[test]
fn colour_only_when_asked() {
    let p = example_plan();
    assert!(!rendered(&p, Format::Text, false).contains('\u{1b}'));
    assert!(rendered(&p, Format::Text, true).contains('\u{1b}'));
}

#[test]
fn markdown_stays_under_60_kib_on_a_large_cluster() {
    use fixtures::*;
    let mut objects = Vec::new();
    for i in 0..3000 {
        let ns = format!("team-{}", i % 50);
        let name = format!("service-with-a-long-name-{i}");
        let rs = format!("{name}-1");
        objects.push(deployment(&ns, &name, 2));
        objects.push(replica_set(&ns, &rs, Some(&name), 1));
        objects.push(
            pod(&ns, &format!("{rs}-a"))
                .rs(&rs)
                .version("1.29.3")
                .build(),
        );
    }
    objects.extend(control_plane("1.30.2", "1.30.0"));
    let p = plan(
        &desired(serde_json::json!({}), "1.30.2"),
        &live(objects),
        &Options::default(),
    );
    assert_eq!(p.summary.restart, 3000);
    let md = rendered(&p, Format::Markdown, false);
    assert!(md.len() < 60 * 1024, "{} bytes", md.len());
    assert!(
        md.contains("more restart entries"),
        "the rest is summarised"
    );
    assert!(md.contains("| restart | 3000 |"));
}

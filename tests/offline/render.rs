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

/// The gate's part of the text and markdown output (`plan --fail-on any` on the example, with
/// and without an override): every condition the example meets, and its workloads.
#[test]
fn gate() {
    use istio_rollout::plan::gate::{FailOn, Override, judge};
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let live = snapshot::read(std::path::Path::new(&format!("{root}/live-state.yaml"))).unwrap();
    let p = example_plan();
    let g = judge(&p, &live, &FailOn::parse(&["any"]).unwrap(), None);
    let mut text = Vec::new();
    istio_rollout::render::gate::text(&g, &mut text).unwrap();
    insta::assert_snapshot!("gate_text", String::from_utf8(text).unwrap());
    let mut md = Vec::new();
    istio_rollout::render::gate::markdown(&g, &mut md).unwrap();
    insta::assert_snapshot!("gate_markdown", String::from_utf8(md).unwrap());
    let o = Override {
        by: "ISTIO_ROLLOUT_GATE_OVERRIDE".into(),
        reason: "accepted by the platform team (CHG-1)".into(),
    };
    let g = judge(
        &p,
        &live,
        &FailOn::parse(&["unavailable"]).unwrap(),
        Some(o),
    );
    let mut md = Vec::new();
    istio_rollout::render::gate::markdown(&g, &mut md).unwrap();
    insta::assert_snapshot!("gate_markdown_overridden", String::from_utf8(md).unwrap());
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

mod report {
    //! The apply report's three renderings, from a hand-built report: one of each result, a
    //! run-wide failure and `|` in a message (escaped in markdown cells).
    use crate::fixtures as common;
    use istio_rollout::apply::report::{Outcome, Report, Result};
    use istio_rollout::plan::{Action, Summary};
    use istio_rollout::render::Format;
    use istio_rollout::render::report::render;

    fn outcome(
        kind: &str,
        name: &str,
        action: Action,
        result: Result,
        message: &str,
        seconds: f64,
    ) -> Outcome {
        Outcome {
            kind: istio_rollout::live::Kind::from_name(kind),
            namespace: "shop".into(),
            name: name.into(),
            action,
            result,
            message: message.into(),
            seconds,
        }
    }

    fn example() -> Report {
        Report {
            format_version: 1,
            source: common::source(),
            cr: "applied with server-side apply (field manager istio-rollout)".into(),
            operator: Some("caught up: control plane on 1.30.2".into()),
            workloads: vec![
                outcome(
                    "Deployment",
                    "web",
                    Action::Restart,
                    Result::Restarted,
                    "rolled out for 1.30.2",
                    3.25,
                ),
                outcome(
                    "ReplicaSet",
                    "legacy",
                    Action::Evict,
                    Result::Evicted,
                    "2 pods evicted one at a time and replaced",
                    12.0,
                ),
                outcome(
                    "StatefulSet",
                    "db",
                    Action::Wait,
                    Result::Waited,
                    "the rollout under way completed",
                    40.5,
                ),
                outcome(
                    "Deployment",
                    "api",
                    Action::Restart,
                    Result::Failed,
                    "shop/api: rollout failed: ProgressDeadlineExceeded | see events",
                    600.0,
                ),
                outcome(
                    "DaemonSet",
                    "agent",
                    Action::Restart,
                    Result::TimedOut,
                    "not done within 600s",
                    600.0,
                ),
                outcome(
                    "Job",
                    "migrate",
                    Action::Manual,
                    Result::Manual,
                    "owned by a Job: re-run it",
                    0.0,
                ),
                outcome(
                    "Deployment",
                    "paused",
                    Action::Blocked,
                    Result::Blocked,
                    "paused",
                    0.0,
                ),
                outcome(
                    "Deployment",
                    "opted-out",
                    Action::Skip,
                    Result::Skipped,
                    "excluded",
                    0.0,
                ),
            ],
            failures: vec!["the overall timeout of 3600s ran out".into()],
            remaining: Some(Summary {
                restart: 2,
                manual: 1,
                blocked: 1,
                pending: true,
                ..Default::default()
            }),
            seconds: 1256.25,
        }
    }

    fn rendered(r: &Report, f: Format) -> String {
        let mut out = Vec::new();
        render(r, f, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text() {
        insta::assert_snapshot!(rendered(&example(), Format::Text));
    }

    #[test]
    fn markdown() {
        let out = rendered(&example(), Format::Markdown);
        assert!(
            out.contains("ProgressDeadlineExceeded \\| see events"),
            "{out}"
        );
        insta::assert_snapshot!(out);
    }

    #[test]
    fn json() {
        let out = rendered(&example(), Format::Json);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["workloads"][4]["result"], "timed-out");
        insta::assert_snapshot!(out);
    }

    #[test]
    fn markdown_of_a_clean_run_has_no_failures_section() {
        let mut r = example();
        r.failures.clear();
        r.workloads.retain(|o| !o.failed());
        r.remaining = Some(Summary::default());
        let out = rendered(&r, Format::Markdown);
        assert!(out.starts_with("### istio-rollout apply: done\n"), "{out}");
        assert!(!out.contains("Failures"), "{out}");
        r.remaining.as_mut().unwrap().manual = 1;
        assert!(
            rendered(&r, Format::Markdown)
                .starts_with("### istio-rollout apply: done, manual steps remain\n")
        );
    }

    #[test]
    fn markdown_stays_under_60_kib_with_many_workloads() {
        let mut r = example();
        let many = (0..5000).map(|i| {
            outcome(
                "Deployment",
                &format!("service-with-a-long-name-{i}"),
                Action::Restart,
                if i % 2 == 0 {
                    Result::Restarted
                } else {
                    Result::Failed
                },
                "a message long enough to matter in a comment of bounded size",
                1.0,
            )
        });
        r.workloads.extend(many);
        let out = rendered(&r, Format::Markdown);
        assert!(out.len() <= 60 * 1024, "{} bytes", out.len());
        assert!(out.contains("more failed workloads"), "{out}");
        assert!(out.contains("more workloads, left out"), "{out}");
    }
}

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
fn compact() {
    insta::assert_snapshot!(rendered(&example_plan(), Format::Compact, false));
}

/// The text and compact forms group the workloads by namespace: one header per namespace, each
/// namespace's entries together under it, with its counts.
#[test]
fn text_and_compact_are_grouped_by_namespace() {
    let p = example_plan();
    for (format, header) in [
        (Format::Text, "── shop (11 workloads, 21 pods)"),
        (Format::Compact, "shop (11 workloads, 21 pods)"),
    ] {
        let out = rendered(&p, format, false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines.iter().filter(|l| **l == header).count(),
            1,
            "{format:?}: {out}"
        );
        let mut namespaces: Vec<&str> = p.workloads.iter().map(|e| e.namespace.as_str()).collect();
        namespaces.dedup();
        let headers = lines
            .iter()
            .filter(|l| {
                namespaces
                    .iter()
                    .any(|n| l.trim_start_matches("── ").starts_with(&format!("{n} (")))
            })
            .count();
        assert_eq!(
            headers,
            namespaces.len(),
            "{format:?}: one header per namespace"
        );
    }
    let compact = rendered(&p, Format::Compact, false);
    assert_eq!(
        compact.lines().filter(|l| l.starts_with("  ")).count(),
        p.workloads.len(),
        "one line per workload"
    );
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

/// `n` Deployments of one pod on the old sidecar, spread over 50 namespaces.
fn restarts_in_50_namespaces(n: usize) -> Vec<serde_json::Value> {
    use fixtures::*;
    let mut objects = Vec::new();
    for i in 0..n {
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
    objects
}

#[test]
fn markdown_stays_under_60_kib_on_a_large_cluster() {
    use fixtures::*;
    let mut objects = restarts_in_50_namespaces(3000);
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
        md.contains("more restart entries, by namespace"),
        "the rest is rolled up"
    );
    assert!(md.contains("| restart | 3000 | 3000 |"));
    // Every namespace is there, in rows or rolled up: nothing disappears.
    let rolled = (0..50)
        .filter(|i| md.contains(&format!("| `team-{i}` | ")))
        .count();
    assert!(rolled > 10, "{rolled} namespaces rolled up");
    for i in 0..50 {
        assert!(
            md.contains(&format!("| `team-{i}` | ")) || md.contains(&format!("`team-{i}/")),
            "team-{i}"
        );
    }
}

/// The pull-request comment puts what needs a person first: with 3,000 restarts filling the
/// budget, every manual and blocked entry is still listed in full, before the restarts; the
/// closing line counts pods and the people.
#[test]
fn markdown_lists_what_needs_a_person_first_and_in_full() {
    use fixtures::*;
    let mut objects = restarts_in_50_namespaces(3000);
    for i in 0..12 {
        // Pods without a controller: manual.
        objects.push(
            pod("tools", &format!("debug-shell-{i}"))
                .version("1.29.3")
                .build(),
        );
    }
    let mut paused = deployment("shop", "payments", 1);
    paused["spec"]["paused"] = serde_json::json!(true);
    objects.push(paused);
    objects.push(replica_set("shop", "payments-1", Some("payments"), 1));
    objects.push(
        pod("shop", "payments-1-a")
            .rs("payments-1")
            .version("1.29.3")
            .build(),
    );
    objects.extend(control_plane("1.30.2", "1.30.0"));
    let p = plan(
        &desired(serde_json::json!({}), "1.30.2"),
        &live(objects),
        &Options::default(),
    );
    assert_eq!((p.summary.manual, p.summary.blocked), (12, 1));
    let md = rendered(&p, Format::Markdown, false);
    assert!(md.len() < 60 * 1024, "{} bytes", md.len());
    assert!(
        md.contains("**Needs a person: 13 workloads** (12 manual, 1 blocked)"),
        "{}",
        &md[..2000]
    );
    for i in 0..12 {
        assert!(
            md.contains(&format!("`tools/debug-shell-{i}`")),
            "debug-shell-{i}"
        );
    }
    assert!(md.contains("`shop/payments`"));
    let first_restart_row = md
        .find("| Deployment | `team-")
        .expect("some restarts listed");
    assert!(md.find("`tools/debug-shell-0`").unwrap() < first_restart_row);
    assert!(md.find("`shop/payments`").unwrap() < first_restart_row);
    assert!(
        md.contains("13 need a person (12 manual, 1 blocked); 3000 to restart (3000 pods)"),
        "{}",
        &md[md.len() - 400..]
    );
}

/// A warning that nearly every entry of a section carries is said once above its table (naming
/// the few without it), not on each row.
#[test]
fn markdown_says_a_repeated_warning_once_per_section() {
    let md = rendered(&example_plan(), Format::Markdown, false);
    let w = "waits until the control plane runs Istio 1.30.2";
    assert!(
        md.contains(&format!(
            "⚠ every entry but `istio-system/istio-ingressgateway`: {w}"
        )),
        "{md}"
    );
    assert!(md.contains(&format!("⚠ every entry: {w}")), "evict section");
    // Only the one-entry wait section keeps it on its row.
    let rows = md
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(w))
        .count();
    assert_eq!(rows, 1, "{md}");
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

//! The apply [`Report`] for people and programs: text, markdown (a pull-request or job summary)
//! and JSON. Pure: writes to any `io::Write`.

use super::markdown::{MAX_BYTES, cell, code};
use super::{Format, short_commit};
use crate::apply::report::{Outcome, Report, Result as R};
use crate::escape::control as c;
use std::fmt::Write as _;
use std::io::{Result, Write};

pub fn render(report: &Report, format: Format, out: &mut dyn Write) -> Result<()> {
    match format {
        Format::Text | Format::Compact => text(report, out),
        Format::Markdown => markdown(report, out),
        Format::Json => json(report, out),
    }
}

/// `Apply: 2 restarted, 0 evicted, ... in 12.3s. Still pending: nothing.`
fn summary(report: &Report) -> String {
    let s = |r| report.count(r);
    let mut line = format!(
        "Apply: {} restarted, {} evicted, {} waited for, {} failed, {} timed out, {} manual, {} blocked, {} skipped in {:.1}s.",
        s(R::Restarted),
        s(R::Evicted),
        s(R::Waited),
        s(R::Failed),
        s(R::TimedOut),
        s(R::Manual),
        s(R::Blocked),
        s(R::Skipped),
        report.seconds
    );
    if let Some(r) = &report.remaining {
        let _ = write!(
            line,
            " Still pending: {}.",
            if r.pending {
                "yes (plan again to see what)"
            } else {
                "nothing"
            }
        );
    }
    line
}

pub fn text(report: &Report, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "istio-rollout apply")?;
    let s = &report.source;
    writeln!(
        out,
        "  desired: {}@{} commit {}",
        c(&s.repo),
        c(&s.reference),
        c(short_commit(&s.commit))
    )?;
    writeln!(out, "  Istio CR: {}", c(&report.cr))?;
    if let Some(op) = &report.operator {
        writeln!(out, "  operator: {}", c(op))?;
    }
    writeln!(out)?;
    for o in &report.workloads {
        writeln!(
            out,
            "{:>12} {} {}/{} ({:.1}s): {}",
            o.result.as_str(),
            c(&o.kind.to_string()),
            c(&o.namespace),
            c(&o.name),
            o.seconds,
            c(&o.message)
        )?;
    }
    for f in &report.failures {
        writeln!(out, "failure: {}", c(f))?;
    }
    writeln!(out, "\n{}", summary(report))
}

pub fn json(report: &Report, out: &mut dyn Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

fn row(o: &Outcome) -> String {
    format!(
        "| {} | {} | {} | {:.1}s | {} |\n",
        o.result.as_str(),
        crate::escape::markdown(&o.kind.to_string()),
        code(&format!("{}/{}", o.namespace, o.name)),
        o.seconds,
        cell(&o.message)
    )
}

/// Summary first, then what failed, then one row per workload; bounded like the plan's markdown.
pub fn markdown(report: &Report, out: &mut dyn Write) -> Result<()> {
    let mut md = String::new();
    let status = if report.failed() {
        "failed"
    } else if report.manual_remaining() {
        "done, manual steps remain"
    } else {
        "done"
    };
    super::markdown::heading(&mut md, "apply", status, &report.source);
    match &report.operator {
        Some(op) => {
            let _ = writeln!(
                md,
                "Istio CR: {}  \nOperator: {}\n",
                cell(&report.cr),
                cell(op)
            );
        }
        None => {
            let _ = writeln!(md, "Istio CR: {}\n", cell(&report.cr));
        }
    }
    let _ = writeln!(md, "**{}**\n", summary(report));

    let failed: Vec<&Outcome> = report.workloads.iter().filter(|o| o.failed()).collect();
    if !report.failures.is_empty() || !failed.is_empty() {
        let _ = writeln!(md, "#### Failures\n");
        for f in &report.failures {
            let _ = writeln!(md, "- {}", cell(f));
        }
        // At most half the budget: the table below repeats them.
        for (i, o) in failed.iter().enumerate() {
            if md.len() > MAX_BYTES / 2 {
                let _ = writeln!(md, "- _…and {} more failed workloads_", failed.len() - i);
                break;
            }
            let _ = writeln!(
                md,
                "- {} {} {}: {}",
                crate::escape::markdown(&o.kind.to_string()),
                code(&format!("{}/{}", o.namespace, o.name)),
                o.result.as_str(),
                cell(&o.message)
            );
        }
        md.push('\n');
    }

    if !report.workloads.is_empty() {
        let _ = writeln!(
            md,
            "| result | kind | workload | time | message |\n|---|---|---|---:|---|"
        );
        let mut shown = 0;
        for o in &report.workloads {
            let r = row(o);
            if md.len() + r.len() + 1024 > MAX_BYTES {
                break;
            }
            md.push_str(&r);
            shown += 1;
        }
        if shown < report.workloads.len() {
            let _ = writeln!(
                md,
                "\n_…and {} more workloads, left out to keep this under {} KiB: see `--output json` for the full list._",
                report.workloads.len() - shown,
                MAX_BYTES / 1024
            );
        }
    }
    out.write_all(md.as_bytes())
}

//! `--output compact`: one line per workload, grouped by namespace (like `flux diff`), for plans
//! of hundreds of workloads. What needs a person keeps its note; restarts show their reasons.

use super::text::symbol;
use super::{counts, pods, short_commit, version_change};
use crate::plan::cr::CrAction;
use crate::plan::{Action, Entry, Plan};
use std::io::{Result, Write};

/// A value from the input, on one line with its control characters shown escaped.
fn c(s: &str) -> std::borrow::Cow<'_, str> {
    crate::escape::control(s)
}

/// `~ Deployment cart  3 pods  istio-version, prometheus-merge  (1 warning)`
fn line(e: &Entry) -> String {
    let reasons: Vec<&str> = e.reasons.iter().map(|r| r.as_str()).collect();
    let mut l = format!(
        "  {} {:<7} {} {}  {}  {}",
        symbol(e.action),
        e.action.as_str(),
        e.kind,
        c(&e.name),
        pods(e.pods.len()),
        reasons.join(", ")
    );
    // A person must act on these, or needs to know why nothing happens: say what, on the line.
    if matches!(e.action, Action::Manual | Action::Blocked | Action::Skip) {
        l.push_str(": ");
        l.push_str(&c(&e.note));
    }
    match e.warnings.len() {
        0 => {}
        1 => l.push_str("  (1 warning)"),
        n => l.push_str(&format!("  ({n} warnings)")),
    }
    l
}

pub fn render(plan: &Plan, out: &mut dyn Write) -> Result<()> {
    let s = &plan.source;
    let v = &plan.versions;
    let versions = if plan.uninstall {
        "Istio uninstall".to_string()
    } else {
        format!(
            "module {}, Istio {}",
            version_change(v.live.module, v.target.module),
            version_change(v.live.istio, v.target.istio)
        )
    };
    writeln!(
        out,
        "istio-rollout plan: {versions} ({}@{} {}, {})",
        c(&s.repo),
        c(&s.reference),
        c(short_commit(&s.commit)),
        c(&s.path)
    )?;
    for e in &plan.errors {
        writeln!(out, "error: {}", c(e))?;
    }
    for n in &plan.notices {
        writeln!(out, "note: {}", c(n))?;
    }
    if plan.cr.action != CrAction::None {
        writeln!(
            out,
            "Istio CR {}/{}: {} (the text output shows the diff)",
            c(&plan.cr.namespace),
            c(&plan.cr.name),
            plan.cr.action.as_str()
        )?;
    }
    let mut namespace: Option<&str> = None;
    for (i, e) in plan.workloads.iter().enumerate() {
        if namespace != Some(e.namespace.as_str()) {
            namespace = Some(&e.namespace);
            writeln!(out, "{}", super::namespace_header(&plan.workloads[i..]))?;
        }
        writeln!(out, "{}", line(e))?;
    }
    let cr_part = match plan.cr.action {
        CrAction::None => String::new(),
        a => format!("; Istio CR: {}", a.as_str()),
    };
    writeln!(out, "Plan: {}{cr_part}.", counts(plan))
}

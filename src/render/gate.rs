//! The pre-sync gate's verdict (`plan --fail-on`) in text and markdown, after the plan. JSON
//! carries it as the plan's `gate` object.

use super::markdown::{cell, code};
use crate::escape::control as esc;
use crate::plan::gate::{Condition, Found, Gate};
use std::io::{Result, Write};

/// Workloads listed per condition; the rest are counted (JSON has every one).
const SHOWN: usize = 20;

fn state(f: &Found) -> &'static str {
    if f.fails { "fails" } else { "reported only" }
}

/// `pending` in one line: how many workloads, and what is not about one (the CR).
fn pending_line(f: &Found) -> String {
    let mut parts = vec![format!("{} workloads", f.workloads.len())];
    parts.extend(f.details.iter().cloned());
    parts.join(", ")
}

pub fn text(gate: &Gate, out: &mut dyn Write) -> Result<()> {
    writeln!(out)?;
    writeln!(out, "Gate: {}", esc(&gate.headline()))?;
    for f in &gate.found {
        let c = f.condition.as_str();
        if f.condition == Condition::Pending {
            writeln!(out, "  {c} ({}): {}", state(f), esc(&pending_line(f)))?;
            continue;
        }
        writeln!(out, "  {c} ({}):", state(f))?;
        for d in &f.details {
            writeln!(out, "    {}", esc(d))?;
        }
        for h in f.workloads.iter().take(SHOWN) {
            writeln!(
                out,
                "    {} {}/{}: {}",
                esc(&h.kind.to_string()),
                esc(&h.namespace),
                esc(&h.name),
                esc(&h.why)
            )?;
        }
        if f.workloads.len() > SHOWN {
            writeln!(out, "    and {} more", f.workloads.len() - SHOWN)?;
        }
    }
    Ok(())
}

pub fn markdown(gate: &Gate, out: &mut dyn Write) -> Result<()> {
    let status = match (gate.tripped.is_empty(), &gate.overridden) {
        (true, _) => "passed",
        (false, Some(_)) => "overridden",
        (false, None) => "refused",
    };
    writeln!(out, "\n#### Pre-sync gate: {status}\n")?;
    writeln!(out, "{}\n", cell(&gate.headline()))?;
    let rows: Vec<&Found> = gate
        .found
        .iter()
        .filter(|f| f.condition != Condition::Pending)
        .collect();
    if let Some(p) = gate
        .found
        .iter()
        .find(|f| f.condition == Condition::Pending)
    {
        writeln!(out, "pending ({}): {}\n", state(p), cell(&pending_line(p)))?;
    }
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(out, "| condition | | workload | why |")?;
    writeln!(out, "|---|---|---|---|")?;
    for f in rows {
        let c = f.condition.as_str();
        for d in &f.details {
            writeln!(out, "| `{c}` | {} | | {} |", state(f), cell(d))?;
        }
        for h in f.workloads.iter().take(SHOWN) {
            writeln!(
                out,
                "| `{c}` | {} | {} {} | {} |",
                state(f),
                crate::escape::markdown(&h.kind.to_string()),
                code(&format!("{}/{}", h.namespace, h.name)),
                cell(&h.why)
            )?;
        }
        if f.workloads.len() > SHOWN {
            writeln!(
                out,
                "| `{c}` | {} | and {} more | (`--output json` lists every one) |",
                state(f),
                f.workloads.len() - SHOWN
            )?;
        }
    }
    Ok(())
}

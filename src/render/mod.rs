//! Turns a [`Plan`](crate::plan::Plan) into what people and programs read. Pure: writes to any
//! `io::Write`.
pub mod compact;
pub mod gate;
pub mod json;
pub mod markdown;
pub mod report;
pub mod text;

use crate::plan::{Action, Plan};

/// Output formats of `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    /// One line per workload, grouped by namespace.
    Compact,
    Markdown,
    Json,
}

pub fn render(
    plan: &Plan,
    format: Format,
    color: bool,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    match format {
        Format::Text => text::render(plan, color, out)?,
        Format::Compact => compact::render(plan, out)?,
        Format::Markdown => markdown::render(plan, out)?,
        Format::Json => return json::render(plan, out),
    }
    match (&plan.gate, format) {
        (Some(g), Format::Text | Format::Compact) => gate::text(g, out),
        (Some(g), Format::Markdown) => gate::markdown(g, out),
        _ => Ok(()),
    }
}

/// `shop (11 workloads, 21 pods)`: the header of the run of entries that starts `entries` and
/// shares its namespace (the plan keeps a namespace's entries together, Kyma workloads first);
/// the namespace escaped for the terminal.
pub fn namespace_header(entries: &[crate::plan::Entry]) -> String {
    let Some(first) = entries.first() else {
        return String::new();
    };
    let (n, p) = entries
        .iter()
        .take_while(|e| e.namespace == first.namespace)
        .fold((0, 0), |(n, p), e| (n + 1, p + e.pods.len()));
    format!(
        "{} ({}, {})",
        crate::escape::control(&first.namespace),
        workloads(n),
        pods(p)
    )
}

/// `1 workload`, `3 workloads`.
pub fn workloads(n: usize) -> String {
    if n == 1 {
        "1 workload".into()
    } else {
        format!("{n} workloads")
    }
}

/// `1 pod`, `3 pods`.
pub fn pods(n: usize) -> String {
    if n == 1 {
        "1 pod".into()
    } else {
        format!("{n} pods")
    }
}

/// The pods of the entries with this action.
pub fn pods_of(plan: &Plan, action: Action) -> usize {
    plan.workloads
        .iter()
        .filter(|e| e.action == action)
        .map(|e| e.pods.len())
        .sum()
}

/// `2 need a person (1 manual, 1 blocked); 12 to restart (30 pods), 3 to evict (6 pods), ...`:
/// only the actions present, workloads and their pods.
pub fn counts(plan: &Plan) -> String {
    let s = &plan.summary;
    let parts: Vec<String> = Action::ALL
        .iter()
        .map(|a| {
            let n = match a {
                Action::Restart => s.restart,
                Action::Evict => s.evict,
                Action::Manual => s.manual,
                Action::Blocked => s.blocked,
                Action::Wait => s.wait,
                Action::Skip => s.skip,
            };
            (a, n)
        })
        .filter(|(_, n)| *n > 0)
        .map(|(a, n)| {
            let words = match a {
                Action::Restart => format!("{n} to restart"),
                Action::Evict => format!("{n} to evict"),
                Action::Manual => format!("{n} manual"),
                Action::Blocked => format!("{n} blocked"),
                Action::Wait => format!("{n} waiting"),
                Action::Skip => format!("{n} skipped"),
            };
            format!("{words} ({})", pods(pods_of(plan, *a)))
        })
        .collect();
    let mut line = if parts.is_empty() {
        "nothing to restart".to_string()
    } else {
        parts.join(", ")
    };
    let people = s.manual + s.blocked;
    if people > 0 {
        line = format!(
            "{people} need{} a person ({} manual, {} blocked); {line}",
            if people == 1 { "s" } else { "" },
            s.manual,
            s.blocked
        );
    }
    line.push_str(&format!(", {} in sync", s.in_sync));
    line
}

pub fn version_change(
    from: Option<crate::istio::Version>,
    to: Option<crate::istio::Version>,
) -> String {
    let show =
        |v: Option<crate::istio::Version>| v.map_or("unknown".to_string(), |v| v.to_string());
    if from == to {
        format!("{} (unchanged)", show(to))
    } else {
        format!("{} -> {}", show(from), show(to))
    }
}

pub fn short_commit(c: &str) -> &str {
    c.char_indices().nth(12).map_or(c, |(end, _)| &c[..end])
}

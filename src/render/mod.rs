//! Turns a [`Plan`](crate::plan::Plan) into what people and programs read. Pure: writes to any
//! `io::Write`.
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
        Format::Markdown => markdown::render(plan, out)?,
        Format::Json => return json::render(plan, out),
    }
    match (&plan.gate, format) {
        (Some(g), Format::Text) => gate::text(g, out),
        (Some(g), Format::Markdown) => gate::markdown(g, out),
        _ => Ok(()),
    }
}

/// `12 to restart, 3 to evict, ...`: only the actions present.
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
        .map(|(a, n)| match a {
            Action::Restart => format!("{n} to restart"),
            Action::Evict => format!("{n} to evict"),
            Action::Manual => format!("{n} manual"),
            Action::Blocked => format!("{n} blocked"),
            Action::Wait => format!("{n} waiting"),
            Action::Skip => format!("{n} skipped"),
        })
        .collect();
    let mut line = if parts.is_empty() {
        "nothing to restart".to_string()
    } else {
        parts.join(", ")
    };
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

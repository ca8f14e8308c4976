//! `--output markdown`: a pull-request comment. Summary first, details collapsed, bounded size.

use super::{counts, short_commit, version_change};
use crate::plan::cr::CrAction;
use crate::plan::{Action, Entry, Plan};
use std::fmt::Write as _;
use std::io::{Result, Write};

/// GitHub caps comments at 65,536 characters; stay clearly below.
pub const MAX_BYTES: usize = 60 * 1024;
const RESERVE: usize = 2 * 1024;

/// A table cell or quote of the tool's own words with values in them: on one line, `|` escaped,
/// HTML (`</details>`) and mentions made inert, control characters escaped; code spans the
/// words hold stay code.
pub(super) fn cell(s: &str) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    crate::escape::control(&one_line)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('@', "&#64;")
        .replace('[', "&#91;")
        .replace(']', "&#93;")
        .replace('|', "\\|")
}

/// A name (workload, namespace, repository, ref) as code: `<code>` with every markdown and HTML
/// character as an entity, so no name can end the cell, the code or the block around it.
pub(super) fn code(s: &str) -> String {
    format!("<code>{}</code>", crate::escape::markdown(s))
}

/// A fence for `text` in a fenced code block: longer than any run of backticks it holds.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in text.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat(longest.max(2) + 1)
}

fn row(e: &Entry) -> String {
    let reasons: Vec<String> = e.details.iter().map(|d| cell(d)).collect();
    let warnings: Vec<String> = e.warnings.iter().map(|w| cell(w)).collect();
    format!(
        "| {} | {} | {} | {} | {} |\n",
        crate::escape::markdown(&e.kind.to_string()),
        code(&format!("{}/{}", e.namespace, e.name)),
        e.pods.len(),
        reasons.join("<br>"),
        if warnings.is_empty() {
            cell(&e.note)
        } else {
            format!("{}<br>⚠ {}", cell(&e.note), warnings.join("<br>⚠ "))
        }
    )
}

/// The heading and the desired-state line that the plan's and the apply report's markdown share.
pub(super) fn heading(md: &mut String, command: &str, status: &str, s: &crate::desired::Source) {
    let _ = writeln!(md, "### istio-rollout {command}: {status}\n");
    let _ = writeln!(
        md,
        "Desired state: {} commit {}, path {}  ",
        code(&format!("{}@{}", s.repo, s.reference)),
        code(short_commit(&s.commit)),
        code(&s.path)
    );
}

pub fn render(plan: &Plan, out: &mut dyn Write) -> Result<()> {
    let mut md = String::new();
    let status = if plan.is_pending() {
        "changes pending"
    } else {
        "nothing to do"
    };
    heading(&mut md, "plan", status, &plan.source);
    if plan.uninstall {
        let _ = writeln!(md, "Istio: **uninstall** (git holds no Istio CR)\n");
    } else {
        let v = &plan.versions;
        let _ = writeln!(
            md,
            "Module: {} · Istio: {}\n",
            version_change(v.live.module, v.target.module),
            version_change(v.live.istio, v.target.istio)
        );
    }
    for e in &plan.errors {
        let _ = writeln!(md, "> [!CAUTION]\n> {}\n", cell(e));
    }
    for n in &plan.notices {
        let _ = writeln!(md, "> [!WARNING]\n> {}\n", cell(n));
    }
    let sm = &plan.summary;
    let _ = writeln!(md, "| action | workloads |\n|---|---:|");
    for (a, n) in [
        ("restart", sm.restart),
        ("evict", sm.evict),
        ("manual", sm.manual),
        ("blocked", sm.blocked),
        ("wait", sm.wait),
        ("skip", sm.skip),
        ("in sync", sm.in_sync),
    ] {
        let _ = writeln!(md, "| {a} | {n} |");
    }
    let cr_word = match plan.cr.action {
        CrAction::None => "in sync",
        CrAction::Create => "create",
        CrAction::Update => "update",
        CrAction::Delete => "delete (by GitOps)",
    };
    let _ = writeln!(md, "| Istio CR | {cr_word} |\n");

    if !plan.cr.diff.is_empty() {
        let fence = fence(&plan.cr.diff);
        let _ = writeln!(
            md,
            "<details><summary>Istio CR {}: {cr_word}</summary>\n\n{fence}diff\n{}{fence}\n</details>\n",
            code(&format!("{}/{}", plan.cr.namespace, plan.cr.name)),
            plan.cr
                .diff
                .lines()
                .map(|l| format!("{}\n", crate::escape::control(l)))
                .collect::<String>()
        );
    }
    let mut omitted = 0usize;
    for action in Action::ALL {
        let entries: Vec<&Entry> = plan
            .workloads
            .iter()
            .filter(|e| e.action == action)
            .collect();
        if entries.is_empty() {
            continue;
        }
        let mut section = format!(
            "<details><summary>{} ({})</summary>\n\n| kind | workload | pods | why | notes |\n|---|---|---:|---|---|\n",
            action.as_str(),
            entries.len()
        );
        let mut shown = 0;
        for e in &entries {
            let r = row(e);
            if md.len() + section.len() + r.len() + RESERVE > MAX_BYTES {
                break;
            }
            section.push_str(&r);
            shown += 1;
        }
        if shown < entries.len() {
            let rest = entries.len() - shown;
            omitted += rest;
            let _ = writeln!(
                section,
                "\n_…and {rest} more {} entries: see `--output json` for the full list._",
                action.as_str()
            );
        }
        section.push_str("\n</details>\n\n");
        md.push_str(&section);
    }
    if omitted > 0 {
        let _ = writeln!(
            md,
            "_{omitted} entries were summarised to keep this comment under {} KiB._\n",
            MAX_BYTES / 1024
        );
    }
    let _ = writeln!(md, "**Plan:** {}.", counts(plan));
    out.write_all(md.as_bytes())
}

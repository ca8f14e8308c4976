//! `--output markdown`: a pull-request comment. Summary first, details collapsed, bounded size.

use super::{counts, short_commit, version_change};
use crate::plan::cr::CrAction;
use crate::plan::{Action, Entry, Plan};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Result, Write};

/// GitHub caps comments at 65,536 characters; stay clearly below.
pub const MAX_BYTES: usize = 60 * 1024;
const RESERVE: usize = 2 * 1024;

/// A table cell or quote of the tool's own words with values in them: on one line, `|` escaped,
/// HTML (`</details>`, `<manifest>`) and mentions made inert, control characters escaped; code
/// spans the words hold stay code. `>` alone opens nothing inline and stays as it is (`1.29 -> 1.30`).
pub(super) fn cell(s: &str) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    crate::escape::control(&one_line)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('@', "&#64;")
        .replace('[', "&#91;")
        .replace(']', "&#93;")
        .replace('|', "\\|")
}

/// A name (workload, namespace, repository, ref) as code. A plain name (letters, digits and
/// `-._/:@+=,%`, as every Kubernetes name is) reads as before, `` `shop/cart` ``; any other one
/// becomes `<code>` with every markdown and HTML character as an entity, so no name can end the
/// cell, the code or the block around it.
pub(super) fn code(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/:@+=,%".contains(c));
    if plain {
        format!("`{s}`")
    } else {
        html_code(s)
    }
}

/// A name as `<code>` with entities, for HTML such as `<summary>` where markdown is not read.
fn html_code(s: &str) -> String {
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

fn row(e: &Entry, hoisted: &BTreeSet<&str>) -> String {
    let reasons: Vec<String> = e.details.iter().map(|d| cell(d)).collect();
    let warnings: Vec<String> = e
        .warnings
        .iter()
        .filter(|w| !hoisted.contains(w.as_str()))
        .map(|w| cell(w))
        .collect();
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

/// The order of the sections: what needs a person (and evictions, which only this tool does
/// safely) first, in full as long as the comment has room; restarts after them.
const SECTIONS: [Action; 6] = [
    Action::Manual,
    Action::Blocked,
    Action::Evict,
    Action::Restart,
    Action::Wait,
    Action::Skip,
];

/// Warnings that (nearly) every entry of a section carries are said once, above its table, instead
/// of on each row: those on at least two entries and missing on at most [`EXCEPTIONS`], which
/// are named. Returns the lines and the hoisted warnings.
fn hoist<'a>(entries: &[&'a Entry]) -> (String, BTreeSet<&'a str>) {
    let mut carriers: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries {
        for w in e.warnings.iter().collect::<BTreeSet<_>>() {
            *carriers.entry(w.as_str()).or_default() += 1;
        }
    }
    let mut lines = String::new();
    let mut hoisted = BTreeSet::new();
    for (w, n) in carriers {
        if n < 2 || entries.len() - n > EXCEPTIONS {
            continue;
        }
        let but: Vec<String> = entries
            .iter()
            .filter(|e| !e.warnings.iter().any(|x| x == w))
            .map(|e| code(&format!("{}/{}", e.namespace, e.name)))
            .collect();
        let which = if but.is_empty() {
            "every entry".to_string()
        } else {
            format!("every entry but {}", but.join(", "))
        };
        let _ = writeln!(lines, "⚠ {which}: {}  ", cell(w));
        hoisted.insert(w);
    }
    if !lines.is_empty() {
        lines.push('\n');
    }
    (lines, hoisted)
}

/// At most this many entries may lack a warning that is said once for their section.
const EXCEPTIONS: usize = 3;

/// One collapsed section of `entries` (one action). Rows while the comment has room; the rest
/// rolled up into one row per namespace (workloads, pods, reasons), so nothing disappears.
/// Returns how many entries were rolled up.
fn section(md: &mut String, action: Action, entries: &[&Entry]) -> usize {
    let (said_once, hoisted) = hoist(entries);
    let mut out = format!(
        "<details><summary>{} ({}, {})</summary>\n\n{said_once}| kind | workload | pods | why | notes |\n|---|---|---:|---|---|\n",
        action.as_str(),
        super::workloads(entries.len()),
        super::pods(entries.iter().map(|e| e.pods.len()).sum())
    );
    // Room kept for rolling up whatever does not fit: a row per namespace.
    let namespaces: BTreeSet<&str> = entries.iter().map(|e| e.namespace.as_str()).collect();
    let roll_up = 200 + namespaces.iter().map(|n| n.len() + 80).sum::<usize>();
    let mut shown = 0;
    for e in entries {
        let r = row(e, &hoisted);
        if md.len() + out.len() + r.len() + RESERVE + roll_up > MAX_BYTES {
            break;
        }
        out.push_str(&r);
        shown += 1;
    }
    let rest = &entries[shown..];
    if !rest.is_empty() {
        // namespace -> (workloads, pods, reasons)
        let mut by_ns: BTreeMap<&str, (usize, usize, BTreeSet<&str>)> = BTreeMap::new();
        for e in rest {
            let n = by_ns.entry(e.namespace.as_str()).or_default();
            n.0 += 1;
            n.1 += e.pods.len();
            n.2.extend(e.reasons.iter().map(|r| r.as_str()));
        }
        let _ = writeln!(
            out,
            "\n{} more {} entries, by namespace (`--output json` has each):\n\n| namespace | workloads | pods | reasons |\n|---|---:|---:|---|",
            rest.len(),
            action.as_str()
        );
        let mut left = by_ns.len();
        for (ns, (w, p, reasons)) in &by_ns {
            let r = format!(
                "| {} | {w} | {p} | {} |\n",
                code(ns),
                cell(&reasons.iter().copied().collect::<Vec<_>>().join(", "))
            );
            if md.len() + out.len() + r.len() + RESERVE / 2 > MAX_BYTES {
                let _ = writeln!(out, "| _{left} more namespaces_ | | | |");
                break;
            }
            out.push_str(&r);
            left -= 1;
        }
    }
    out.push_str("\n</details>\n\n");
    md.push_str(&out);
    rest.len()
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
    let people = plan.summary.manual + plan.summary.blocked;
    if people > 0 {
        let _ = writeln!(
            md,
            "**Needs a person: {}** ({} manual, {} blocked), listed first below.\n",
            super::workloads(people),
            plan.summary.manual,
            plan.summary.blocked
        );
    }
    let sm = &plan.summary;
    let _ = writeln!(md, "| action | workloads | pods |\n|---|---:|---:|");
    for (a, action, n) in [
        ("manual", Some(Action::Manual), sm.manual),
        ("blocked", Some(Action::Blocked), sm.blocked),
        ("evict", Some(Action::Evict), sm.evict),
        ("restart", Some(Action::Restart), sm.restart),
        ("wait", Some(Action::Wait), sm.wait),
        ("skip", Some(Action::Skip), sm.skip),
        ("in sync", None, sm.in_sync),
    ] {
        let p = action.map_or(String::new(), |a| super::pods_of(plan, a).to_string());
        let _ = writeln!(md, "| {a} | {n} | {p} |");
    }
    let cr_word = match plan.cr.action {
        CrAction::None => "in sync",
        CrAction::Create => "create",
        CrAction::Update => "update",
        CrAction::Delete => "delete (by GitOps)",
    };
    let _ = writeln!(md, "| Istio CR | {cr_word} | |\n");

    if !plan.cr.diff.is_empty() {
        let fence = fence(&plan.cr.diff);
        let _ = writeln!(
            md,
            "<details><summary>Istio CR {}: {cr_word}</summary>\n\n{fence}diff\n{}{fence}\n</details>\n",
            html_code(&format!("{}/{}", plan.cr.namespace, plan.cr.name)),
            plan.cr
                .diff
                .lines()
                .map(|l| format!("{}\n", crate::escape::control(l)))
                .collect::<String>()
        );
    }
    let mut omitted = 0usize;
    for action in SECTIONS {
        let entries: Vec<&Entry> = plan
            .workloads
            .iter()
            .filter(|e| e.action == action)
            .collect();
        if !entries.is_empty() {
            omitted += section(&mut md, action, &entries);
        }
    }
    if omitted > 0 {
        let _ = writeln!(
            md,
            "_{omitted} entries were rolled up by namespace to keep this comment under {} KiB._\n",
            MAX_BYTES / 1024
        );
    }
    let _ = writeln!(md, "**Plan:** {}.", counts(plan));
    out.write_all(md.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_read_as_code_spans_and_only_hostile_ones_become_entities() {
        assert_eq!(code("shop/cart"), "`shop/cart`");
        assert_eq!(code("kyma-system/istio.v1_2"), "`kyma-system/istio.v1_2`");
        assert_eq!(code("shop/a|b"), "<code>shop/a&#124;b</code>");
        assert_eq!(code("x`y"), "<code>x&#96;y</code>");
        assert_eq!(code("a</details>"), "<code>a&lt;/details&gt;</code>");
        assert_eq!(code(""), "<code></code>");
        assert_eq!(
            html_code("kyma-system/default"),
            "<code>kyma-system/default</code>"
        );
    }

    #[test]
    fn cells_keep_arrows_and_make_tags_and_mentions_inert() {
        assert_eq!(cell("1.29 -> 1.30"), "1.29 -> 1.30");
        assert_eq!(cell("-f <manifest>"), "-f &lt;manifest>");
        assert_eq!(
            cell("a|b\nc @team [x](y)"),
            "a\\|b c &#64;team &#91;x&#93;(y)"
        );
    }
}

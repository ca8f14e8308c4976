//! `--output text`: a review-friendly diff of the plan, coloured on a terminal.

use super::{counts, short_commit, version_change};
use crate::escape::control as c;
use crate::plan::cr::CrAction;
use crate::plan::{Action, Plan};
use owo_colors::{OwoColorize, Style};
use std::io::{Result, Write};

/// The one-character mark of an action (also in the compact form).
pub(super) fn symbol(a: Action) -> &'static str {
    match a {
        Action::Restart => "~",
        Action::Evict => ">",
        Action::Manual => "!",
        Action::Blocked => "x",
        Action::Wait => "…",
        Action::Skip => "-",
    }
}

fn style(a: Action) -> Style {
    match a {
        Action::Restart => Style::new().yellow(),
        Action::Evict => Style::new().magenta(),
        Action::Manual | Action::Blocked => Style::new().red(),
        Action::Wait => Style::new().cyan(),
        Action::Skip => Style::new().dimmed(),
    }
}

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, s: &str, st: Style) -> String {
        if self.color {
            s.style(st).to_string()
        } else {
            s.to_string()
        }
    }

    fn diff_line(&self, line: &str) -> String {
        let st = if line.starts_with("+++") || line.starts_with("---") {
            Style::new().bold()
        } else if line.starts_with('+') {
            Style::new().green()
        } else if line.starts_with('-') {
            Style::new().red()
        } else if line.starts_with("@@") {
            Style::new().cyan()
        } else {
            Style::new()
        };
        self.paint(line, st)
    }
}

pub fn render(plan: &Plan, color: bool, out: &mut dyn Write) -> Result<()> {
    let p = Painter { color };
    let s = &plan.source;
    writeln!(
        out,
        "{}",
        p.paint("istio-rollout plan", Style::new().bold())
    )?;
    writeln!(
        out,
        "  desired: {}@{} commit {} path {}",
        c(&s.repo),
        c(&s.reference),
        c(short_commit(&s.commit)),
        c(&s.path)
    )?;
    if plan.uninstall {
        writeln!(out, "  Istio:   uninstall (git holds no Istio CR)")?;
    } else {
        let v = &plan.versions;
        writeln!(
            out,
            "  module:  {}",
            version_change(v.live.module, v.target.module)
        )?;
        writeln!(
            out,
            "  Istio:   {}  (target from {})",
            version_change(v.live.istio, v.target.istio),
            c(&v.istio_from)
        )?;
        if let Some(img) = &v.proxy_image {
            writeln!(out, "  sidecar image: {}", c(img))?;
        }
    }
    for e in &plan.errors {
        writeln!(
            out,
            "  {} {}",
            p.paint("error:", Style::new().red().bold()),
            c(e)
        )?;
    }
    for n in &plan.notices {
        writeln!(
            out,
            "  {} {}",
            p.paint("note:", Style::new().yellow().bold()),
            c(n)
        )?;
    }
    writeln!(out)?;

    let cr = &plan.cr;
    match cr.action {
        CrAction::None if cr.name.is_empty() => {}
        CrAction::None => writeln!(
            out,
            "Istio CR {}/{}: in sync with git\n",
            c(&cr.namespace),
            c(&cr.name)
        )?,
        action => {
            let what = match action {
                CrAction::Create => "to be created",
                CrAction::Update => "differs from git",
                _ => "not in git: GitOps prunes it (this tool never deletes it)",
            };
            writeln!(out, "Istio CR {}/{}: {what}", c(&cr.namespace), c(&cr.name))?;
            for line in cr.diff.lines() {
                writeln!(out, "  {}", p.diff_line(&c(line)))?;
            }
            writeln!(out)?;
        }
    }

    let present: Vec<Action> = Action::ALL
        .into_iter()
        .filter(|a| plan.workloads.iter().any(|e| e.action == *a))
        .collect();
    if !present.is_empty() {
        let legend: Vec<String> = present
            .iter()
            .map(|a| p.paint(&format!("{} {}", symbol(*a), a.as_str()), style(*a)))
            .collect();
        writeln!(out, "Workloads ({}):", legend.join("  "))?;
        writeln!(out)?;
    }
    let mut namespace: Option<&str> = None;
    for (i, e) in plan.workloads.iter().enumerate() {
        if namespace != Some(e.namespace.as_str()) {
            namespace = Some(&e.namespace);
            let header = format!("── {}", super::namespace_header(&plan.workloads[i..]));
            writeln!(out, "{}", p.paint(&header, Style::new().bold()))?;
        }
        let head = format!(
            "{} {} {} {}/{}",
            symbol(e.action),
            e.action.as_str(),
            c(&e.kind.to_string()),
            c(&e.namespace),
            c(&e.name)
        );
        let pods = if e.pods.len() == 1 {
            "1 pod".to_string()
        } else {
            format!("{} pods", e.pods.len())
        };
        let kyma = if e.kyma { ", Kyma" } else { "" };
        if e.action == Action::Skip {
            // Skips need nobody: one line each, so a `--namespace` run stays readable.
            let line = format!("{head} ({pods}{kyma}): {}", c(&e.note));
            writeln!(out, "{}", p.paint(&line, style(e.action)))?;
            for w in &e.warnings {
                writeln!(
                    out,
                    "    {} {}",
                    p.paint("warning:", Style::new().yellow()),
                    c(w)
                )?;
            }
            continue;
        }
        writeln!(
            out,
            "{} ({pods}{kyma})",
            p.paint(&head, style(e.action).bold())
        )?;
        for d in &e.details {
            writeln!(out, "    {}", c(d))?;
        }
        writeln!(out, "    {}", p.paint(&c(&e.note), Style::new().italic()))?;
        if !e.template_annotations.is_empty() {
            writeln!(out, "    pod template annotations:")?;
            for (k, v) in &e.template_annotations {
                let before = e.template_annotations_before.get(k);
                let (k, v) = (c(k), c(v));
                if let Some(old) = before {
                    let old = c(old);
                    writeln!(out, "      {}", p.diff_line(&format!("- {k}: {old}")))?;
                }
                writeln!(out, "      {}", p.diff_line(&format!("+ {k}: {v}")))?;
            }
        }
        for w in &e.warnings {
            writeln!(
                out,
                "    {} {}",
                p.paint("warning:", Style::new().yellow()),
                c(w)
            )?;
        }
        let shown: Vec<String> = e.pods.iter().take(5).map(|p| c(p).into_owned()).collect();
        let more = if e.pods.len() > 5 {
            format!(" and {} more", e.pods.len() - 5)
        } else {
            String::new()
        };
        writeln!(out, "    pods: {}{more}", shown.join(", "))?;
        writeln!(out)?;
    }
    let cr_part = match plan.cr.action {
        CrAction::None => String::new(),
        a => format!("; Istio CR: {}", a.as_str()),
    };
    writeln!(
        out,
        "{} {}{cr_part}.",
        p.paint("Plan:", Style::new().bold()),
        counts(plan)
    )?;
    Ok(())
}

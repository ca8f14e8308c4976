//! Validated settings: what `cli` parsed, checked, with no clap types past this point.

use crate::cli::{ApplyArgs, ClusterArgs, Color, OutputFormat, PlanArgs, ScopeArgs, SnapshotArgs};
use crate::error::{Error, Result};
use crate::istio::Version;
use crate::render::Format;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct DesiredConfig {
    pub repo: String,
    pub reference: Option<String>,
    pub path: String,
    pub options: crate::desired::Options,
}

/// How to reach the cluster; both `None`: as kubectl does (`KUBECONFIG`, `~/.kube/config`, else
/// the in-cluster ServiceAccount).
#[derive(Clone, Debug, Default)]
pub struct ClusterConfig {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PlanConfig {
    pub desired: DesiredConfig,
    /// A saved live state; `None`: read the cluster.
    pub live_state: Option<PathBuf>,
    pub cluster: ClusterConfig,
    pub output: Format,
    pub color: bool,
    pub plan: crate::plan::Options,
    /// `--fail-on` and `--gate-override`; `None`: the default exit codes.
    pub gate: Option<GateConfig>,
}

/// The pre-sync gate's settings.
#[derive(Clone, Debug)]
pub struct GateConfig {
    pub fail_on: crate::plan::gate::FailOn,
    /// A non-empty `--gate-override`.
    pub overridden: Option<crate::plan::gate::Override>,
}

/// Logs on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    /// JSON lines, for a Job.
    Json,
}

#[derive(Clone, Debug)]
pub struct ApplyConfig {
    /// `--dry-run`: only plan and print, the same as `plan`.
    pub dry_run: bool,
    pub plan: PlanConfig,
    pub options: crate::apply::ApplyOptions,
    /// Exit 4 when manual or blocked entries remain.
    pub strict: bool,
    pub log_format: LogFormat,
}

/// `snapshot`'s settings.
#[derive(Clone, Debug, Default)]
pub struct SnapshotConfig {
    pub cluster: ClusterConfig,
    /// Only these namespaces' workloads, pods and PodDisruptionBudgets (empty: all).
    pub namespaces: Vec<String>,
}

pub fn snapshot(args: SnapshotArgs) -> Result<SnapshotConfig> {
    Ok(SnapshotConfig {
        cluster: cluster(args.cluster),
        namespaces: namespaces(args.namespace)?,
    })
}

/// `--namespace` values: names a namespace can have (blank ones from a trailing comma dropped).
fn namespaces(values: Vec<String>) -> Result<Vec<String>> {
    let names: Vec<String> = values
        .into_iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if let Some(bad) = names.iter().find(|n| {
        n.len() > 63
            || !n
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || n.starts_with('-')
            || n.ends_with('-')
    }) {
        return Err(Error::Usage(format!(
            "--namespace {bad}: not a namespace name (lower-case letters, digits and `-`, up to 63)"
        )));
    }
    Ok(names)
}

/// `--namespace`, `--selector`, `--namespace-selector` into the planner's scope.
fn scope(
    args: ScopeArgs,
) -> Result<(
    Vec<String>,
    Option<crate::plan::LabelFilter>,
    Option<crate::plan::LabelFilter>,
)> {
    let parse = |flag: &str, text: Option<String>| {
        text.map(|t| {
            crate::selector::parse(&t)
                .map(|selector| crate::plan::LabelFilter {
                    text: t.trim().to_string(),
                    selector,
                })
                .map_err(|e| Error::Usage(format!("{flag} {t}: {e}")))
        })
        .transpose()
    };
    Ok((
        namespaces(args.namespace)?,
        parse("--selector", args.selector)?,
        parse("--namespace-selector", args.namespace_selector)?,
    ))
}

pub fn cluster(args: ClusterArgs) -> ClusterConfig {
    ClusterConfig {
        kubeconfig: args.kubeconfig,
        context: args.context,
    }
}

pub fn plan(args: PlanArgs, stdout_is_terminal: bool) -> Result<PlanConfig> {
    let d = args.desired;
    let istio_version_override = d
        .istio_version
        .as_deref()
        .map(|v| {
            v.parse::<Version>().map_err(|e| Error::Flag {
                flag: "--istio-version",
                source: e.into(),
            })
        })
        .transpose()?;
    if d.repo.trim().is_empty() {
        return Err(Error::Usage("--repo: must not be empty".into()));
    }
    let exclude: Vec<String> = args
        .exclude
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    for p in &exclude {
        let parts = p.split('/').count();
        if !(2..=3).contains(&parts) || p.split('/').any(str::is_empty) {
            return Err(Error::Usage(format!(
                "--exclude {p}: expected namespace/name or Kind/namespace/name (`*` allowed)"
            )));
        }
    }
    let gate = gate(&args.fail_on, args.gate_override.as_deref())?;
    let (namespaces, selector, namespace_selector) = scope(args.scope)?;
    Ok(PlanConfig {
        gate,
        desired: DesiredConfig {
            repo: d.repo,
            reference: d.reference,
            path: d.path,
            options: crate::desired::Options {
                allow_uninstall: d.allow_uninstall,
                istio_version_override,
            },
        },
        live_state: args.live_state,
        cluster: cluster(args.cluster),
        output: match args.output {
            OutputFormat::Text => Format::Text,
            OutputFormat::Compact => Format::Compact,
            OutputFormat::Markdown => Format::Markdown,
            OutputFormat::Json => Format::Json,
        },
        color: match args.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => auto_color(stdout_is_terminal),
        },
        plan: crate::plan::Options {
            exclude,
            namespaces,
            selector,
            namespace_selector,
            no_image_rebuild: args.no_image_rebuild,
        },
    })
}

/// `--color auto`: only on a terminal, and neither `NO_COLOR` set nor `TERM=dumb`.
fn auto_color(stdout_is_terminal: bool) -> bool {
    color_wanted(
        stdout_is_terminal,
        std::env::var_os("NO_COLOR").is_some(),
        std::env::var_os("TERM").as_deref(),
    )
}

fn color_wanted(terminal: bool, no_color: bool, term: Option<&std::ffi::OsStr>) -> bool {
    terminal && !no_color && term.is_none_or(|t| t != "dumb")
}

/// `--fail-on` and `--gate-override`. The override names where it came from: the environment
/// variable when that holds it, else the flag. An override without `--fail-on` does nothing.
fn gate(fail_on: &[String], gate_override: Option<&str>) -> Result<Option<GateConfig>> {
    if fail_on.is_empty() {
        return Ok(None);
    }
    let fail_on = crate::plan::gate::FailOn::parse(fail_on)
        .map_err(|e| Error::Usage(format!("--fail-on: {e}")))?;
    let overridden = gate_override
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|reason| {
            let env = crate::cli::GATE_OVERRIDE_ENV;
            let from_env = std::env::var(env).is_ok_and(|v| v.trim() == reason);
            crate::plan::gate::Override {
                by: if from_env { env } else { "--gate-override" }.to_string(),
                reason: reason.to_string(),
            }
        });
    Ok(Some(GateConfig {
        fail_on,
        overridden,
    }))
}

/// `apply`'s settings. A progress bar replaces the info logs when the logs are text on a terminal.
pub fn apply(
    args: ApplyArgs,
    stdout_is_terminal: bool,
    stderr_is_terminal: bool,
) -> Result<ApplyConfig> {
    if !args.dry_run && args.plan.live_state.is_some() {
        return Err(Error::Usage(
            "--live-state: apply acts on a cluster; use it with `plan` or `apply --dry-run`".into(),
        ));
    }
    if !args.dry_run && !args.plan.fail_on.is_empty() {
        return Err(Error::Usage(
            "--fail-on: the gate judges a plan; use it with `plan` or `apply --dry-run`".into(),
        ));
    }
    let log_format = match args.log_format {
        crate::cli::LogFormat::Text => LogFormat::Text,
        crate::cli::LogFormat::Json => LogFormat::Json,
    };
    let lease = match args.lease.as_str() {
        "off" => None,
        value => Some(
            crate::apply::lease::LeaseOptions::parse(value, args.lease_wait).map_err(|e| {
                Error::Flag {
                    flag: "--lease",
                    source: e.into(),
                }
            })?,
        ),
    };
    let options = crate::apply::ApplyOptions {
        apply_cr: !args.no_apply_cr,
        lease,
        max_concurrent: usize::from(args.max_concurrent),
        workload_timeout: args.timeout,
        overall_timeout: args.overall_timeout,
        operator_timeout: args.operator_timeout,
        pdb_timeout: args.pdb_timeout,
        progress: log_format == LogFormat::Text && stderr_is_terminal,
        ..Default::default()
    };
    Ok(ApplyConfig {
        dry_run: args.dry_run,
        plan: plan(args.plan, stdout_is_terminal)?,
        options,
        strict: args.strict,
        log_format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn apply_args(extra: &[&str]) -> ApplyArgs {
        let argv = [&["istio-rollout", "apply", "--repo", "r"], extra].concat();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Apply(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn apply_needs_a_cluster_unless_it_only_plans() {
        let err = apply(apply_args(&["--live-state", "l.yaml"]), false, false).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--live-state: apply acts on a cluster")
        );
        assert_eq!(err.exit_code(), crate::error::ExitCode::InvalidInput);
        let cfg = apply(
            apply_args(&["--live-state", "l.yaml", "--dry-run"]),
            false,
            false,
        )
        .unwrap();
        assert!(cfg.dry_run);
        assert_eq!(cfg.plan.live_state, Some(PathBuf::from("l.yaml")));
    }

    fn plan_args(extra: &[&str]) -> PlanArgs {
        let argv = [&["istio-rollout", "plan", "--repo", "r"], extra].concat();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Plan(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_gate_is_set_only_by_fail_on() {
        use crate::plan::gate::Condition;
        assert!(plan(plan_args(&[]), false).unwrap().gate.is_none());
        // An override alone changes nothing: the default exit codes stay.
        let cfg = plan(plan_args(&["--gate-override", "why"]), false).unwrap();
        assert!(cfg.gate.is_none());
        let cfg = plan(
            plan_args(&[
                "--fail-on",
                "manual,skew",
                "--fail-on",
                "blocked",
                "--gate-override",
                " because ",
            ]),
            false,
        )
        .unwrap();
        let g = cfg.gate.unwrap();
        assert_eq!(
            g.fail_on.0.into_iter().collect::<Vec<_>>(),
            [Condition::Manual, Condition::Blocked, Condition::Skew]
        );
        let o = g.overridden.unwrap();
        assert_eq!(o.reason, "because");
        // A blank override is none.
        let cfg = plan(
            plan_args(&["--fail-on", "any", "--gate-override", " "]),
            false,
        )
        .unwrap();
        assert!(cfg.gate.unwrap().overridden.is_none());
        let err = plan(plan_args(&["--fail-on", "sometimes"]), false).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::InvalidInput);
        assert!(
            err.to_string()
                .starts_with("--fail-on: unknown condition `sometimes`")
        );
        // apply acts; only its dry run is a plan to judge.
        let err = apply(apply_args(&["--fail-on", "manual"]), false, false).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--fail-on: the gate judges a plan")
        );
        let cfg = apply(
            apply_args(&["--fail-on", "manual", "--dry-run"]),
            false,
            false,
        )
        .unwrap();
        assert!(cfg.plan.gate.is_some());
    }

    #[test]
    fn colour_only_on_a_terminal_that_wants_it() {
        use std::ffi::OsStr;
        assert!(color_wanted(
            true,
            false,
            Some(OsStr::new("xterm-256color"))
        ));
        assert!(color_wanted(true, false, None));
        assert!(!color_wanted(false, false, Some(OsStr::new("xterm"))));
        assert!(!color_wanted(true, true, Some(OsStr::new("xterm"))));
        assert!(!color_wanted(true, false, Some(OsStr::new("dumb"))));
    }

    #[test]
    fn scope_flags_are_validated() {
        let cfg = plan(
            plan_args(&[
                "-n",
                "shop,web",
                "--namespace",
                "ops",
                "-l",
                "app=web",
                "--namespace-selector",
                "team in (a,b)",
                "--exclude",
                "shop/a,shop/b",
            ]),
            false,
        )
        .unwrap();
        assert_eq!(cfg.plan.namespaces, ["shop", "web", "ops"]);
        assert_eq!(cfg.plan.exclude, ["shop/a", "shop/b"]);
        assert_eq!(cfg.plan.selector.unwrap().text, "app=web");
        assert_eq!(cfg.plan.namespace_selector.unwrap().text, "team in (a,b)");
        let err = plan(plan_args(&["-l", "app in (a"]), false).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::InvalidInput);
        assert_eq!(err.to_string(), "--selector app in (a: `(` without `)`");
        let err = plan(plan_args(&["-n", "Shop"]), false).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--namespace Shop: not a namespace name")
        );
    }

    #[test]
    fn apply_settings_carry_the_flags() {
        let cfg = apply(
            apply_args(&[
                "--no-apply-cr",
                "--max-concurrent",
                "5",
                "--strict",
                "-o",
                "json",
            ]),
            false,
            true,
        )
        .unwrap();
        assert!(!cfg.options.apply_cr);
        assert_eq!(cfg.options.max_concurrent, 5);
        assert!(cfg.strict);
        assert_eq!(cfg.plan.output, Format::Json);
        // Text logs on a terminal: a progress bar instead.
        assert!(cfg.options.progress);
        let cfg = apply(apply_args(&["--log-format", "json"]), false, true).unwrap();
        assert_eq!(cfg.log_format, LogFormat::Json);
        assert!(!cfg.options.progress);
    }
}

//! Validated settings: what `cli` parsed, checked, with no clap types past this point.

use crate::cli::{ApplyArgs, ClusterArgs, Color, OutputFormat, PlanArgs, ScopeArgs, SnapshotArgs};
use crate::error::{Error, Result};
use crate::istio::Version;
use crate::render::Format;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct DesiredConfig {
    pub repo: String,
    pub reference: Option<String>,
    pub path: String,
    /// The largest file read from the repository.
    pub max_file_size: u64,
    pub options: crate::desired::Options,
}

/// How to reach the cluster; both `None`: as kubectl does (`KUBECONFIG`, `~/.kube/config`, else
/// the in-cluster ServiceAccount).
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Limit for connecting (TCP and TLS) to the API server.
    pub connect_timeout: Duration,
    /// Limit for the API server's first answer once connected (the reachability probe).
    pub read_timeout: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            kubeconfig: None,
            context: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest duration any timeout flag takes: long enough for any run, short enough that no
/// clock arithmetic overflows.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A size flag's value: bytes, or a number with `K`, `KiB`, `M`, `MiB`, `G`, `GiB` (also `KB`,
/// `MB`, `GB`; all powers of 1024).
pub fn size(flag: &str, value: &str) -> Result<u64> {
    let v = value.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(Error::Usage(format!(
                "{flag} {}: not a size; e.g. 4MiB, 1GiB, 65536",
                crate::escape::value(value)
            )));
        }
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{flag} {}: not a size above 0; e.g. 4MiB, 1GiB, 65536",
                crate::escape::value(value)
            ))
        })
}

/// A timeout flag's value (`90s`, `10m`, `1h 30m`), more than 0 and at most [`MAX_DURATION`].
pub fn duration(flag: &str, value: &str) -> Result<Duration> {
    let d = wait(flag, value)?;
    if d.is_zero() {
        let shown = crate::escape::value(value);
        return Err(Error::Usage(format!("{flag} {shown}: must be more than 0")));
    }
    Ok(d)
}

/// A waiting flag's value (`--lease-wait 0s`: do not wait), at most [`MAX_DURATION`].
pub fn wait(flag: &str, value: &str) -> Result<Duration> {
    let shown = crate::escape::value(value);
    let d = humantime::parse_duration(value.trim()).map_err(|e| {
        Error::Usage(format!(
            "{flag} {shown}: not a duration ({e}); e.g. 90s, 10m"
        ))
    })?;
    if d > MAX_DURATION {
        return Err(Error::Usage(format!(
            "{flag} {shown}: more than the limit of 30 days"
        )));
    }
    Ok(d)
}

#[derive(Clone, Debug)]
pub struct PlanConfig {
    pub desired: DesiredConfig,
    /// A saved live state; `None`: read the cluster.
    pub live_state: Option<PathBuf>,
    /// How the saved live state is read.
    pub live_state_options: crate::live::snapshot::ReadOptions,
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
    /// `--pushgateway-url`: where the run's metrics go.
    pub pushgateway: Option<crate::http::BaseUrl>,
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
        cluster: cluster(args.cluster)?,
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
            "--namespace {}: not a namespace name (lower-case letters, digits and `-`, up to 63)",
            crate::escape::value(bad)
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
                .map_err(|e| Error::Usage(format!("{flag} {}: {e}", crate::escape::value(&t))))
        })
        .transpose()
    };
    Ok((
        namespaces(args.namespace)?,
        parse("--selector", args.selector)?,
        parse("--namespace-selector", args.namespace_selector)?,
    ))
}

pub fn cluster(args: ClusterArgs) -> Result<ClusterConfig> {
    Ok(ClusterConfig {
        kubeconfig: args.kubeconfig,
        context: args.context,
        connect_timeout: duration("--connect-timeout", &args.connect_timeout)?,
        read_timeout: duration("--read-timeout", &args.read_timeout)?,
    })
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
        live_state_options: crate::live::snapshot::ReadOptions {
            max_size: size("--max-live-state-size", &args.max_live_state_size)?,
            allow_empty: args.allow_empty_live_state,
        },
        desired: DesiredConfig {
            max_file_size: size("--max-file-size", &d.max_file_size)?,
            repo: d.repo,
            reference: d.reference,
            path: d.path,
            options: crate::desired::Options {
                allow_uninstall: d.allow_uninstall,
                istio_version_override,
            },
        },
        live_state: args.live_state,
        cluster: cluster(args.cluster)?,
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
            crate::apply::lease::LeaseOptions::parse(
                value,
                wait("--lease-wait", &args.lease_wait)?,
            )
            .map_err(|e| Error::Flag {
                flag: "--lease",
                source: e.into(),
            })?,
        ),
    };
    let (health, pushgateway) = health(&args.health)?;
    let options = crate::apply::ApplyOptions {
        health,
        apply_cr: !args.no_apply_cr,
        lease,
        max_concurrent: usize::from(args.max_concurrent),
        workload_timeout: duration("--timeout", &args.timeout)?,
        overall_timeout: duration("--overall-timeout", &args.overall_timeout)?,
        operator_timeout: duration("--operator-timeout", &args.operator_timeout)?,
        pdb_timeout: duration("--pdb-timeout", &args.pdb_timeout)?,
        progress: log_format == LogFormat::Text && stderr_is_terminal,
        ..Default::default()
    };
    Ok(ApplyConfig {
        dry_run: args.dry_run,
        plan: plan(args.plan, stdout_is_terminal)?,
        options,
        strict: args.strict,
        log_format,
        pushgateway,
    })
}

/// The health gate's and the metrics push's flags (`None`: no gate).
fn health(
    args: &crate::cli::HealthArgs,
) -> Result<(
    Option<std::sync::Arc<crate::apply::health::Gate>>,
    Option<crate::http::BaseUrl>,
)> {
    let url = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| {
                crate::http::BaseUrl::parse(t).map_err(|e| {
                    Error::Usage(format!(
                        "{flag} {}: {e}",
                        crate::escape::value(&crate::redact::url(t))
                    ))
                })
            })
            .transpose()
    };
    let prometheus = url("--prometheus-url", &args.prometheus_url)?;
    let pushgateway = url("--pushgateway-url", &args.pushgateway_url)?;
    let alert_filter = args
        .alert_filter_regexp
        .as_deref()
        .map(|re| {
            regex::Regex::new(re).map_err(|e| {
                Error::Usage(format!(
                    "--alert-filter-regexp {}: not a regular expression: {}",
                    crate::escape::value(re),
                    e.to_string().lines().last().unwrap_or_default().trim()
                ))
            })
        })
        .transpose()?;
    let mut blocking_pods = Vec::new();
    for text in &args.blocking_pod_selector {
        let t = text.trim();
        let selector = crate::selector::parse(t).map_err(|e| {
            Error::Usage(format!(
                "--blocking-pod-selector {}: {e}",
                crate::escape::value(t)
            ))
        })?;
        if t.is_empty() {
            return Err(Error::Usage(
                "--blocking-pod-selector: empty (it would match every pod)".into(),
            ));
        }
        blocking_pods.push((t.to_string(), selector));
    }
    let interval = duration("--health-interval", &args.health_interval)?;
    let timeout = duration("--health-timeout", &args.health_timeout)?;
    if alert_filter.is_some() && prometheus.is_none() {
        return Err(Error::Usage(
            "--alert-filter-regexp: filters the alerts of --prometheus-url; give that too".into(),
        ));
    }
    for (set, flag, what) in [
        (
            args.alert_firing_only,
            "--alert-firing-only",
            "filters the alerts of",
        ),
        (args.health_fail_open, "--health-fail-open", "is about"),
    ] {
        if set && prometheus.is_none() {
            return Err(Error::Usage(format!(
                "{flag}: {what} --prometheus-url; give that too"
            )));
        }
    }
    if args.alert_filter_match_only && alert_filter.is_none() {
        return Err(Error::Usage(
            "--alert-filter-match-only: inverts --alert-filter-regexp; give that too".into(),
        ));
    }
    let gate = (prometheus.is_some() || !blocking_pods.is_empty()).then(|| {
        std::sync::Arc::new(crate::apply::health::Gate::new(
            crate::apply::health::HealthOptions {
                prometheus,
                alert_filter,
                alert_filter_match_only: args.alert_filter_match_only,
                firing_only: args.alert_firing_only,
                blocking_pods,
                interval,
                timeout,
                fail_open: args.health_fail_open,
            },
        ))
    });
    Ok((gate, pushgateway))
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

    #[test]
    fn durations_are_parsed_and_capped() {
        assert_eq!(duration("--t", "90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            duration("--t", "1h 30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(duration("--t", "30days").unwrap(), MAX_DURATION);
        for bad in [
            "500000000000y",
            "31days",
            "0s",
            "soon",
            "",
            "18446744073709551615s",
        ] {
            let e = duration("--t", bad).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::ExitCode::InvalidInput, "{bad}");
            assert!(e.to_string().starts_with("--t "), "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
        // Every timeout flag goes through it: a huge value is a usage error, not a panic.
        let err = apply(
            apply_args(&["--operator-timeout", "500000000000y"]),
            false,
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--operator-timeout 500000000000y")
        );
    }

    #[test]
    fn sizes_are_parsed() {
        assert_eq!(size("--s", "65536").unwrap(), 65536);
        assert_eq!(size("--s", "4MiB").unwrap(), 4 << 20);
        assert_eq!(size("--s", "1 GiB").unwrap(), 1 << 30);
        assert_eq!(size("--s", "2k").unwrap(), 2048);
        for bad in [
            "0",
            "lots",
            "1TiB",
            "-1",
            "99999999999999999999",
            "17179869184GiB",
        ] {
            assert!(size("--s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn health_flags_make_a_gate_and_the_pushgateway_a_url() {
        let cfg = apply(apply_args(&[]), false, false).unwrap();
        assert!(cfg.options.health.is_none() && cfg.pushgateway.is_none());
        let cfg = apply(
            apply_args(&[
                "--prometheus-url",
                "http://prometheus:9090/",
                "--alert-filter-regexp",
                "^Watchdog$",
                "--alert-firing-only",
                "--blocking-pod-selector",
                "app=backup",
                "--blocking-pod-selector",
                "job-name",
                "--health-timeout",
                "5m",
                "--pushgateway-url",
                "http://pushgateway:9091",
            ]),
            false,
            false,
        )
        .unwrap();
        let gate = cfg.options.health.expect("a gate");
        let o = &gate.options;
        assert_eq!(
            o.prometheus.as_ref().unwrap().to_string(),
            "http://prometheus:9090"
        );
        assert!(o.firing_only && !o.fail_open && !o.alert_filter_match_only);
        assert_eq!(o.blocking_pods.len(), 2);
        assert_eq!(o.timeout, Duration::from_secs(300));
        assert_eq!(o.interval, Duration::from_secs(30));
        assert_eq!(
            cfg.pushgateway.unwrap().join("/metrics"),
            "http://pushgateway:9091/metrics"
        );
        // A selector alone is a gate too.
        let cfg = apply(
            apply_args(&["--blocking-pod-selector", "a=b"]),
            false,
            false,
        )
        .unwrap();
        assert!(cfg.options.health.unwrap().options.prometheus.is_none());
        for bad in [
            &["--health-fail-open"][..],
            &["--prometheus-url", "http://p", "--alert-filter-match-only"],
            &["--blocking-pod-selector", " "],
            &["--blocking-pod-selector", "a=b", "--health-interval", "0s"],
        ] {
            let e = apply(apply_args(bad), false, false).unwrap_err();
            assert_eq!(
                e.exit_code(),
                crate::error::ExitCode::InvalidInput,
                "{bad:?}"
            );
        }
    }
}

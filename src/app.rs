//! The only place that sequences the steps: read git, read the live state, check, plan, render.

use crate::cli::{Cli, Command};
use crate::config::PlanConfig;
use crate::desired::{self, Desired};
use crate::error::{Error, ExitCode, Result};
use crate::istio::version::check_step;
use crate::live::{LiveState, cluster, snapshot};
use crate::plan::{self, Plan};
use std::io::Write;

pub fn run(cli: Cli, stdout_is_terminal: bool, out: &mut dyn Write) -> Result<ExitCode> {
    match cli.command {
        Command::Crd => {
            write!(out, "{}", crate::istio::cr::crd_yaml()).map_err(io)?;
            Ok(ExitCode::Clean)
        }
        Command::Apply(args) => apply(args, stdout_is_terminal, out),
        Command::Snapshot(args) => {
            runtime()?.block_on(crate::live::snapshot::write_from_cluster(&args, out))?;
            Ok(ExitCode::Clean)
        }
        Command::Plan(args) => {
            let cfg = crate::config::plan(args, stdout_is_terminal)?;
            let plan = compute(&cfg)?;
            crate::render::render(&plan, cfg.output, cfg.color, out).map_err(io)?;
            Ok(if plan.is_pending() {
                ExitCode::Pending
            } else {
                ExitCode::Clean
            })
        }
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Failure(format!("writing the output: {e}"))
}

fn read_desired(cfg: &PlanConfig) -> Result<Desired> {
    let d = &cfg.desired;
    let (source, files) = desired::git::read(&d.repo, d.reference.as_deref(), &d.path)?;
    desired::parse(source, &files, &d.options)
}

fn apply(
    args: crate::cli::ApplyArgs,
    stdout_is_terminal: bool,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    if args.dry_run {
        return run(
            Cli {
                command: Command::Plan(args.plan),
            },
            stdout_is_terminal,
            out,
        );
    }
    if args.plan.live_state.is_some() {
        return Err(Error::Usage(
            "--live-state: apply acts on a cluster; use it with `plan` or `apply --dry-run`".into(),
        ));
    }
    use std::io::IsTerminal;
    let progress =
        args.log_format == crate::cli::LogFormat::Text && std::io::stderr().is_terminal();
    // On a terminal the progress bar tells what happens; the logs keep to warnings there.
    crate::logging::init(args.log_format, if progress { "warn" } else { "info" });
    let opts = crate::apply::ApplyOptions {
        apply_cr: !args.no_apply_cr,
        max_concurrent: usize::from(args.max_concurrent),
        workload_timeout: args.timeout,
        overall_timeout: args.overall_timeout,
        operator_timeout: args.operator_timeout,
        pdb_timeout: args.pdb_timeout,
        progress,
        ..Default::default()
    };
    let strict = args.strict;
    let cfg = crate::config::plan(args.plan, stdout_is_terminal)?;
    let desired = read_desired(&cfg)?;
    let report = runtime()?.block_on(async {
        let client = cluster::connect(
            cfg.cluster.kubeconfig.as_deref(),
            cfg.cluster.context.as_deref(),
        )
        .await?;
        let live = cluster::read(&client, &mut cluster::Stats::default()).await?;
        check_versions(&desired, &live)?;
        let plan = plan::plan(&desired, &live, &cfg.plan);
        crate::apply::run(&client, &desired, plan, &cfg.plan, &opts).await
    })?;
    crate::render::report::render(&report, cfg.output, out).map_err(io)?;
    Ok(if report.failed() {
        ExitCode::Failure
    } else if strict && report.manual_remaining() {
        ExitCode::ManualRemaining
    } else {
        ExitCode::Clean
    })
}

/// Reads both states and plans. Everything is validated before anything could act on the plan.
pub fn compute(cfg: &PlanConfig) -> Result<Plan> {
    let desired = read_desired(cfg)?;
    let live = match &cfg.live_state {
        Some(path) => snapshot::read(path)?,
        None => runtime()?.block_on(async {
            let client = cluster::connect(
                cfg.cluster.kubeconfig.as_deref(),
                cfg.cluster.context.as_deref(),
            )
            .await?;
            cluster::read(&client, &mut cluster::Stats::default()).await
        })?,
    };
    check_versions(&desired, &live)?;
    Ok(plan::plan(&desired, &live, &cfg.plan))
}

/// The module's upgrade rules, target against what runs.
pub fn check_versions(desired: &Desired, live: &LiveState) -> Result<()> {
    let origin = desired
        .istio_file
        .clone()
        .unwrap_or_else(|| desired.source.path.clone());
    if let (Some(target), Some(lowest)) =
        (desired.istio_version, live.control_plane_versions().first())
    {
        check_step(*lowest, target).map_err(|m| Error::input(&origin, format!("Istio {m}")))?;
    }
    if let (Some(target), Some(running)) = (
        desired.module_version,
        live.manager.as_ref().and_then(|m| m.version),
    ) && target < running
    {
        return Err(Error::input(
            &origin,
            format!("module downgrade from {running} to {target} is not supported"),
        ));
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Failure(format!("async runtime: {e}")))
}

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

/// Reads both states and plans. Everything is validated before anything could act on the plan.
pub fn compute(cfg: &PlanConfig) -> Result<Plan> {
    let d = &cfg.desired;
    let (source, files) = desired::git::read(&d.repo, d.reference.as_deref(), &d.path)?;
    let desired = desired::parse(source, &files, &d.options)?;
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

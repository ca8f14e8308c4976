//! The only place that sequences the steps: read git, read the live state, check, plan, render.

use crate::cli::{Cli, Command};
use crate::config::{self, ApplyConfig, PlanConfig};
use crate::desired::{self, Desired};
use crate::error::{Error, ExitCode, Result};
use crate::live::{cluster, snapshot};
use crate::plan::{self, Plan};
use std::io::{IsTerminal, Write};

pub fn run(cli: Cli, stdout_is_terminal: bool, out: &mut dyn Write) -> Result<ExitCode> {
    match cli.command {
        Command::Crd => {
            emit(out, |out| write!(out, "{}", crate::istio::cr::crd_yaml()))?;
            Ok(ExitCode::Clean)
        }
        Command::Apply(args) => {
            let cfg = config::apply(args, stdout_is_terminal, std::io::stderr().is_terminal())?;
            if cfg.dry_run {
                plan_command(&cfg.plan, out)
            } else {
                apply(&cfg, out)
            }
        }
        Command::Snapshot(args) => {
            let cfg = config::snapshot(args)?;
            // Spooled to an unnamed temporary file and written out only when complete: a failed
            // snapshot redirected to a file leaves it empty (which `plan --live-state` refuses),
            // never a header that reads as an empty cluster.
            let mut spool = tempfile::tempfile().map_err(|source| Error::Io {
                what: "creating the snapshot's temporary file",
                source,
            })?;
            runtime()?.block_on(async {
                let client = cluster::connect(&cfg.cluster).await?;
                let mut w = std::io::BufWriter::new(&mut spool);
                snapshot::write_from_cluster(&client, &cfg.namespaces, &mut w).await?;
                w.flush().map_err(|source| Error::Io {
                    what: "writing the snapshot's temporary file",
                    source,
                })
            })?;
            use std::io::Seek as _;
            spool
                .seek(std::io::SeekFrom::Start(0))
                .map_err(|source| Error::Io {
                    what: "reading the snapshot's temporary file",
                    source,
                })?;
            emit(out, |out| std::io::copy(&mut spool, out).map(|_| ()))?;
            Ok(ExitCode::Clean)
        }
        Command::Plan(args) => plan_command(&config::plan(args, stdout_is_terminal)?, out),
        Command::Completion { shell } => {
            emit(out, |out| {
                completion(shell, out);
                Ok(())
            })?;
            Ok(ExitCode::Clean)
        }
        Command::Man { out_dir: None } => {
            let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            emit(out, |out| man.render(out))?;
            Ok(ExitCode::Clean)
        }
        Command::Man { out_dir: Some(dir) } => {
            let io = |what| move |source| Error::Io { what, source };
            std::fs::create_dir_all(&dir).map_err(io("creating the man page directory"))?;
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), &dir)
                .map_err(io("writing the man pages"))?;
            Ok(ExitCode::Clean)
        }
    }
}

/// A completion script for `shell`, of every command and flag.
fn completion(shell: crate::cli::Shell, out: &mut dyn Write) {
    use clap_complete::Shell as S;
    let shell = match shell {
        crate::cli::Shell::Bash => S::Bash,
        crate::cli::Shell::Zsh => S::Zsh,
        crate::cli::Shell::Fish => S::Fish,
        crate::cli::Shell::Powershell => S::PowerShell,
    };
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "istio-rollout", out);
}

/// Writes to stdout and flushes it, so that a failed write is seen here, not lost at exit.
fn emit(
    out: &mut dyn Write,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    write(out).and_then(|()| out.flush()).map_err(Error::Output)
}

fn plan_command(cfg: &PlanConfig, out: &mut dyn Write) -> Result<ExitCode> {
    let (mut plan, live) = compute_with_live(cfg)?;
    if let Some(g) = &cfg.gate {
        plan.gate = Some(plan::gate::judge(
            &plan,
            &live,
            &g.fail_on,
            g.overridden.clone(),
        ));
    }
    drop(live);
    emit(out, |out| {
        crate::render::render(&plan, cfg.output, cfg.color, out)
    })?;
    Ok(match &plan.gate {
        None if plan.is_pending() => ExitCode::Pending,
        None => ExitCode::Clean,
        Some(g) if !g.refused => ExitCode::Clean,
        Some(g) if g.only_pending() => ExitCode::Pending,
        Some(_) => ExitCode::GateRefused,
    })
}

fn read_desired(cfg: &PlanConfig) -> Result<Desired> {
    let d = &cfg.desired;
    let (source, files) =
        desired::git::read_limited(&d.repo, d.reference.as_deref(), &d.path, d.max_file_size)?;
    desired::parse(source, &files, &d.options)
}

fn apply(cfg: &ApplyConfig, out: &mut dyn Write) -> Result<ExitCode> {
    // On a terminal the progress bar tells what happens; the logs keep to warnings there.
    let level = if cfg.options.progress { "warn" } else { "info" };
    crate::logging::init(cfg.log_format, level);
    let started = std::time::Instant::now();
    let rt = runtime()?;
    let result = acted(cfg, &rt).and_then(|report| {
        let gate_stopped = cfg
            .options
            .health
            .as_ref()
            .is_some_and(|g| g.stopped().is_some());
        let code = if gate_stopped {
            ExitCode::HealthGate
        } else if report.failed() {
            ExitCode::Failure
        } else if cfg.strict && report.manual_remaining() {
            ExitCode::ManualRemaining
        } else {
            ExitCode::Clean
        };
        let written = emit(out, |out| {
            crate::render::report::render(&report, cfg.plan.output, out)
        });
        match written {
            // The run is over: a reader that stopped reading the report does not change its outcome.
            Err(e) if e.is_broken_pipe() => Ok((report, code)),
            other => other.map(|()| (report, code)),
        }
    });
    // METRICS call site (src/metrics.rs): pushed once, at the end, also when the run failed.
    if let Some(url) = &cfg.pushgateway {
        let (report, exit) = match &result {
            Ok((report, code)) => (Some(report), *code),
            Err(e) => (None, e.exit_code()),
        };
        let finished_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let run = crate::metrics::Run {
            report,
            exit,
            seconds: started.elapsed().as_secs_f64(),
            finished_at,
        };
        rt.block_on(crate::metrics::push(url, &run));
    }
    result.map(|(_, code)| code)
}

/// Reads git, then acts on the cluster (the Lease held); the report of what was done.
fn acted(cfg: &ApplyConfig, rt: &tokio::runtime::Runtime) -> Result<crate::apply::Report> {
    let desired = read_desired(&cfg.plan)?;
    rt.block_on(async {
        let client = cluster::connect(&cfg.plan.cluster).await?;
        let plan_now = || async {
            let live = cluster::read(&client, &mut cluster::Stats::default()).await?;
            plan::upgrade::check(&desired, &live)?;
            Ok::<_, Error>(plan::plan(&desired, &live, &cfg.plan.plan))
        };
        // Checked before anything is written, the Lease included.
        let plan = plan_now().await?;
        match &cfg.options.lease {
            None => crate::apply::run(&client, &desired, plan, &cfg.plan.plan, &cfg.options).await,
            Some(lease) => {
                let identity = crate::apply::lease::identity();
                crate::apply::lease::hold(&client, lease, &identity, async {
                    // Planned again once held: another run may have acted before it let go.
                    let plan = plan_now().await?;
                    crate::apply::run(&client, &desired, plan, &cfg.plan.plan, &cfg.options).await
                })
                .await
            }
        }
    })
}

/// Reads both states and plans. Everything is validated before anything could act on the plan.
pub fn compute(cfg: &PlanConfig) -> Result<Plan> {
    compute_with_live(cfg).map(|(plan, _)| plan)
}

/// [`compute`], also handing back the live state the plan was computed from.
fn compute_with_live(cfg: &PlanConfig) -> Result<(Plan, crate::live::LiveState)> {
    let desired = read_desired(cfg)?;
    let live = match &cfg.live_state {
        Some(path) => snapshot::read_with(path, cfg.live_state_options)?,
        None => runtime()?.block_on(async {
            let client = cluster::connect(&cfg.cluster).await?;
            cluster::read(&client, &mut cluster::Stats::default()).await
        })?,
    };
    plan::upgrade::check(&desired, &live)?;
    let plan = plan::plan(&desired, &live, &cfg.plan);
    Ok((plan, live))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            what: "starting the async runtime",
            source,
        })
}

//! Validated settings: what `cli` parsed, checked, with no clap types past this point.

use crate::cli::{Color, PlanArgs};
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

#[derive(Clone, Debug)]
pub struct PlanConfig {
    pub desired: DesiredConfig,
    /// A saved live state; `None`: read the cluster.
    pub live_state: Option<PathBuf>,
    pub cluster: crate::cli::ClusterArgs,
    pub output: Format,
    pub color: bool,
    pub plan: crate::plan::Options,
}

pub fn plan(args: PlanArgs, stdout_is_terminal: bool) -> Result<PlanConfig> {
    let d = args.desired;
    let istio_version_override = d
        .istio_version
        .as_deref()
        .map(|v| {
            v.parse::<Version>()
                .map_err(|e| Error::Usage(format!("--istio-version: {e}")))
        })
        .transpose()?;
    if d.repo.trim().is_empty() {
        return Err(Error::Usage("--repo: must not be empty".into()));
    }
    for p in &args.exclude {
        let parts = p.split('/').count();
        if !(2..=3).contains(&parts) || p.split('/').any(str::is_empty) {
            return Err(Error::Usage(format!(
                "--exclude {p}: expected namespace/name or Kind/namespace/name (`*` allowed)"
            )));
        }
    }
    Ok(PlanConfig {
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
        cluster: args.cluster,
        output: args.output,
        color: match args.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => stdout_is_terminal && std::env::var_os("NO_COLOR").is_none(),
        },
        plan: crate::plan::Options {
            exclude: args.exclude,
            namespaces: args.namespace,
            no_image_rebuild: args.no_image_rebuild,
        },
    })
}

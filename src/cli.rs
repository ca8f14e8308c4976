//! Command-line flags (clap only). Turned into a validated [`crate::config`] before anything runs.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `--version`: the crate version, the commit and the build date (stamped by `build.rs`; the
/// commit is `unknown` in a build without git).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ISTIO_ROLLOUT_COMMIT"),
    ", built ",
    env!("ISTIO_ROLLOUT_BUILD_DATE"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "istio-rollout",
    version = VERSION,
    about = "Plans the restarts of Istio-injected workloads that a Kyma Istio module change needs, from git, as a reviewable diff.",
    after_help = exit_codes_help(),
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant (apply's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compute the restart plan and print it. Exit 0: nothing to do; 1: something is pending;
    /// 5: `--fail-on` refused (a condition other than pending tripped).
    Plan(PlanArgs),
    /// Apply the plan to the cluster: the CR, then restarts and evictions, each waited for.
    /// Exit 0: done; 3: something failed; 4: `--strict` and manual entries remain.
    Apply(ApplyArgs),
    /// Write the live state of the cluster in the `--live-state` format (multi-document YAML).
    Snapshot(SnapshotArgs),
    /// Print the Istio CustomResourceDefinition generated from this tool's types.
    Crd,
    /// Print a shell completion script: `source <(istio-rollout completion bash)`.
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff), or write one page per command into `--out-dir`.
    Man {
        /// Write `istio-rollout.1` and `istio-rollout-<command>.1` into this directory.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// The shells `completion` writes a script for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// Every exit code and what it means, as `--help` ends.
pub fn exit_codes_help() -> String {
    let mut s = String::from("Exit codes:\n");
    for code in crate::error::ExitCode::ALL {
        s.push_str(&format!("  {}  {}\n", code.code(), code.meaning()));
    }
    s
}

/// Which workloads a command looks at, as kubectl selects them (`plan`, `apply`, `snapshot`).
#[derive(Args, Debug, Clone, Default)]
pub struct ScopeArgs {
    /// Only workloads in this namespace; comma-separated, repeatable.
    #[arg(
        long,
        short = 'n',
        value_name = "NAMESPACE",
        env = "ISTIO_ROLLOUT_NAMESPACE",
        value_delimiter = ','
    )]
    pub namespace: Vec<String>,
    /// Only workloads whose labels match this selector (`app=web,tier!=db,env in (a,b),!x`).
    /// A bare pod is matched on its own labels.
    #[arg(
        long,
        short = 'l',
        value_name = "SELECTOR",
        env = "ISTIO_ROLLOUT_SELECTOR"
    )]
    pub selector: Option<String>,
    /// Only workloads in namespaces whose labels match this selector.
    #[arg(
        long,
        value_name = "SELECTOR",
        env = "ISTIO_ROLLOUT_NAMESPACE_SELECTOR"
    )]
    pub namespace_selector: Option<String>,
}

/// `snapshot`'s flags.
#[derive(Args, Debug, Clone, Default)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Only this namespace's workloads, pods and PodDisruptionBudgets (the Istio CR, the control
    /// plane and the Namespace objects are always written); comma-separated, repeatable.
    #[arg(
        long,
        short = 'n',
        value_name = "NAMESPACE",
        env = "ISTIO_ROLLOUT_NAMESPACE",
        value_delimiter = ','
    )]
    pub namespace: Vec<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, else the in-cluster ServiceAccount).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Limit for connecting to the API server (TCP and TLS), e.g. 10s.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        env = "ISTIO_ROLLOUT_CONNECT_TIMEOUT"
    )]
    pub connect_timeout: String,
    /// Limit for the API server's first answer once connected, e.g. 10s.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        env = "ISTIO_ROLLOUT_READ_TIMEOUT"
    )]
    pub read_timeout: String,
}

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    /// One line per workload, grouped by namespace (for large plans).
    Compact,
    Markdown,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug)]
pub struct DesiredArgs {
    /// Git repository with the desired state: a local path, or an https, ssh or file URL.
    #[arg(long, env = "ISTIO_ROLLOUT_REPO")]
    pub repo: String,
    /// Branch, tag or commit to read (default: the repository's HEAD).
    #[arg(long = "ref", env = "ISTIO_ROLLOUT_REF")]
    pub reference: Option<String>,
    /// Directory inside the repository holding the Istio CR and the module release manifest.
    #[arg(long, env = "ISTIO_ROLLOUT_PATH", default_value = ".")]
    pub path: String,
    /// Plan the uninstall of Istio when the directory holds no Istio CR.
    #[arg(long)]
    pub allow_uninstall: bool,
    /// The Istio version sidecars must run, when git does not tell it (no proxyv2 image, module not in the table).
    #[arg(long, value_name = "VERSION")]
    pub istio_version: Option<String>,
    /// The largest file read from the repository (bytes, or with KiB, MiB, GiB).
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "8MiB",
        env = "ISTIO_ROLLOUT_MAX_FILE_SIZE"
    )]
    pub max_file_size: String,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub desired: DesiredArgs,
    /// Saved live state (`istio-rollout snapshot` or the kubectl command in the README); without
    /// it the cluster is read.
    #[arg(long, value_name = "FILE", env = "ISTIO_ROLLOUT_LIVE_STATE", conflicts_with_all = ["kubeconfig", "context"])]
    pub live_state: Option<PathBuf>,
    /// The largest `--live-state` file read (bytes, or with KiB, MiB, GiB).
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "512MiB",
        env = "ISTIO_ROLLOUT_MAX_LIVE_STATE_SIZE"
    )]
    pub max_live_state_size: String,
    /// A `--live-state` without objects is an empty cluster (without it, an error: a failed
    /// snapshot leaves an empty file).
    #[arg(long)]
    pub allow_empty_live_state: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output format.
    #[arg(
        long,
        short,
        value_enum,
        default_value = "text",
        env = "ISTIO_ROLLOUT_OUTPUT"
    )]
    pub output: OutputFormat,
    /// Colour in text output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: Color,
    /// Leave workloads out (`namespace/name` or `Kind/namespace/name`, `*` wildcards);
    /// comma-separated, repeatable.
    #[arg(
        long,
        value_name = "PATTERN",
        env = "ISTIO_ROLLOUT_EXCLUDE",
        value_delimiter = ','
    )]
    pub exclude: Vec<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Leave out `image-rebuild` restarts (same Istio version, another image build).
    #[arg(long)]
    pub no_image_rebuild: bool,
    /// The pre-sync gate: exit non-zero only on these conditions (comma-separated, repeatable):
    /// pending, unavailable, manual, blocked, skew, any, none. Exit 5 when one other than
    /// pending trips, 1 when only pending does. Without it: exit 1 whenever anything is pending.
    #[arg(long, value_name = "CONDITIONS", env = "ISTIO_ROLLOUT_FAIL_ON")]
    pub fail_on: Vec<String>,
    /// Proceed although `--fail-on` conditions tripped (exit 0); the reason is recorded in the
    /// output. Empty means no override.
    #[arg(long, value_name = "REASON", env = GATE_OVERRIDE_ENV)]
    pub gate_override: Option<String>,
}

/// The environment variable of `--gate-override` (the manifests fill it from a pod annotation).
pub const GATE_OVERRIDE_ENV: &str = "ISTIO_ROLLOUT_GATE_OVERRIDE";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Only compute and print the plan (the same as `plan`).
    #[arg(long)]
    pub dry_run: bool,
    /// Do not apply the Istio CR (Argo CD or Flux owns it); still wait for the operator.
    #[arg(long, env = "ISTIO_ROLLOUT_NO_APPLY_CR")]
    pub no_apply_cr: bool,
    /// Workloads rolling at the same time.
    #[arg(long, default_value_t = 2, env = "ISTIO_ROLLOUT_MAX_CONCURRENT", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent: u16,
    /// Per-workload limit for its rollout or evictions (e.g. 10m, 90s).
    #[arg(long, default_value = "10m", env = "ISTIO_ROLLOUT_TIMEOUT")]
    pub timeout: String,
    /// Limit for the whole run.
    #[arg(long, default_value = "60m", env = "ISTIO_ROLLOUT_OVERALL_TIMEOUT")]
    pub overall_timeout: String,
    /// Limit for the operator to catch up with the CR and module version.
    #[arg(long, default_value = "10m", env = "ISTIO_ROLLOUT_OPERATOR_TIMEOUT")]
    pub operator_timeout: String,
    /// Limit for a PodDisruptionBudget that allows no disruption before a workload starts.
    #[arg(long, default_value = "5m", env = "ISTIO_ROLLOUT_PDB_TIMEOUT")]
    pub pdb_timeout: String,
    /// The Lease (`NAMESPACE/NAME`) held while acting, so that two runs (a CronJob and a sync
    /// hook) never act at once; `off` for none.
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        default_value = "kyma-system/istio-rollout",
        env = "ISTIO_ROLLOUT_LEASE"
    )]
    pub lease: String,
    /// How long to wait for a Lease another run holds before giving up with exit 6 (a killed
    /// run's Lease frees itself after 30 s).
    #[arg(long, default_value = "60s", env = "ISTIO_ROLLOUT_LEASE_WAIT")]
    pub lease_wait: String,
    /// Exit 4 when manual or blocked entries remain after the run.
    #[arg(long, env = "ISTIO_ROLLOUT_STRICT")]
    pub strict: bool,
    /// Logs on stderr: text, or JSON lines for a Job.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "ISTIO_ROLLOUT_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub health: HealthArgs,
}

/// `apply`'s health gates (kured's flags) and metrics push.
#[derive(Args, Debug, Clone, Default)]
pub struct HealthArgs {
    /// Prometheus to ask for active alerts before anything changes and before each workload
    /// starts: any pending or firing alert pauses the run (see --alert-filter-regexp).
    #[arg(long, value_name = "URL", env = "ISTIO_ROLLOUT_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// Alerts whose name matches this regular expression are ignored (as kured does), e.g.
    /// `^(Watchdog|InfoInhibitor)$`.
    #[arg(long, value_name = "REGEX", env = "ISTIO_ROLLOUT_ALERT_FILTER_REGEXP")]
    pub alert_filter_regexp: Option<String>,
    /// Invert --alert-filter-regexp: only alerts whose name matches it block.
    #[arg(long, env = "ISTIO_ROLLOUT_ALERT_FILTER_MATCH_ONLY")]
    pub alert_filter_match_only: bool,
    /// Only firing alerts block; pending ones (not yet past their `for`) do not.
    #[arg(long, env = "ISTIO_ROLLOUT_ALERT_FIRING_ONLY")]
    pub alert_firing_only: bool,
    /// Any pod (any namespace) matching this label selector pauses the run while it exists;
    /// repeatable.
    #[arg(long, value_name = "SELECTOR")]
    pub blocking_pod_selector: Vec<String>,
    /// How often a closed health gate is checked again.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        env = "ISTIO_ROLLOUT_HEALTH_INTERVAL"
    )]
    pub health_interval: String,
    /// How long a closed health gate is waited for before the run stops with exit 7.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30m",
        env = "ISTIO_ROLLOUT_HEALTH_TIMEOUT"
    )]
    pub health_timeout: String,
    /// A Prometheus that cannot be asked does not block (default: it blocks, failing closed).
    #[arg(long, env = "ISTIO_ROLLOUT_HEALTH_FAIL_OPEN")]
    pub health_fail_open: bool,
    /// Pushgateway to push the run's metrics to (`istio_rollout_*`, job `istio-rollout`) when it
    /// ends; one that cannot be reached is a warning.
    #[arg(long, value_name = "URL", env = "ISTIO_ROLLOUT_PUSHGATEWAY_URL")]
    pub pushgateway_url: Option<String>,
}

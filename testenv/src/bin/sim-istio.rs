//! `sim-istio`: the simulated Kyma Istio module of the test cluster.
//!   sim-istio injector --listen 127.0.0.1:PORT --tls-cert F --tls-key F   (the webhook server)
//!   sim-istio install --injector-url URL --ca-bundle F [--module-version V --istio-version V]
//!   sim-istio upgrade --module-version V --istio-version V
//!   sim-istio reset [--module-version V --istio-version V]   (back to a default installation)
//!   sim-istio operator [--mode passive|autonomous] [--requeue-ready 10h --requeue-warning 1h --requeue-error 1m]
//! `hack/cluster/up.sh` runs `injector`, `install` and `operator`; a person can run `upgrade` to play
//! the operator while it is passive.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use istio_rollout_testenv::{Sim, injector, operator, sim};
use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(Parser)]
#[command(about = "The simulated Kyma Istio module of the istio-rollout test cluster")]
struct Cli {
    /// Admin kubeconfig of the cluster.
    #[arg(long, env = "KUBECONFIG", global = true)]
    kubeconfig: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the sidecar-injection webhook over HTTPS.
    Injector {
        #[arg(long, default_value = "127.0.0.1:9443")]
        listen: SocketAddr,
        #[arg(long)]
        tls_cert: PathBuf,
        #[arg(long)]
        tls_key: PathBuf,
    },
    /// Install (or reset) the simulated module and register the webhook.
    Install {
        #[arg(long)]
        injector_url: String,
        /// PEM file of the CA that signed the injector's serving certificate.
        #[arg(long)]
        ca_bundle: PathBuf,
        #[arg(long, default_value = sim::DEFAULT_MODULE_VERSION)]
        module_version: String,
        #[arg(long, default_value = sim::DEFAULT_ISTIO_VERSION)]
        istio_version: String,
    },
    /// Reset the simulated module (settings, control plane, CR) to a default installation.
    Reset {
        #[arg(long, default_value = sim::DEFAULT_MODULE_VERSION)]
        module_version: String,
        #[arg(long, default_value = sim::DEFAULT_ISTIO_VERSION)]
        istio_version: String,
    },
    /// Play the operator's upgrade of the control plane (and of what new pods get injected).
    Upgrade {
        #[arg(long)]
        module_version: String,
        #[arg(long)]
        istio_version: String,
    },
    /// Run the simulated operator (cluster-wide). The ConfigMap istio-system/sim-operator
    /// (settings.json) overrides these flags while it exists.
    Operator {
        /// passive: do nothing (tests play the operator); autonomous: reconcile by itself.
        #[arg(long, default_value = "passive")]
        mode: operator::Mode,
        /// Requeue after a Ready reconcile (500ms, 5s, 2m, 1h).
        #[arg(long, default_value = "10h", value_parser = operator::rules::parse_duration)]
        requeue_ready: std::time::Duration,
        /// Requeue after Warning.
        #[arg(long, default_value = "1h", value_parser = operator::rules::parse_duration)]
        requeue_warning: std::time::Duration,
        /// Requeue after Error.
        #[arg(long, default_value = "1m", value_parser = operator::rules::parse_duration)]
        requeue_error: std::time::Duration,
    },
}

async fn client(kubeconfig: Option<PathBuf>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let client = client(cli.kubeconfig).await?;
    match cli.command {
        Cmd::Injector {
            listen,
            tls_cert,
            tls_key,
        } => {
            let tls = injector::tls_config(&tls_cert, &tls_key)?;
            injector::serve(listen, tls, client).await
        }
        Cmd::Install {
            injector_url,
            ca_bundle,
            module_version,
            istio_version,
        } => {
            let ca = std::fs::read(&ca_bundle)
                .with_context(|| format!("reading {}", ca_bundle.display()))?;
            let sim = Sim::new(client);
            sim.install_webhook(&injector_url, &ca).await?;
            sim.install(&module_version, &istio_version).await?;
            eprintln!("simulated Istio module {module_version} (Istio {istio_version}) installed");
            Ok(())
        }
        Cmd::Reset {
            module_version,
            istio_version,
        } => {
            Sim::new(client)
                .install(&module_version, &istio_version)
                .await?;
            eprintln!("simulated Istio module reset to {module_version} (Istio {istio_version})");
            Ok(())
        }
        Cmd::Operator {
            mode,
            requeue_ready,
            requeue_warning,
            requeue_error,
        } => {
            let requeue = operator::Requeue {
                ready: requeue_ready,
                warning: requeue_warning,
                error: requeue_error,
            };
            operator::run(client, operator::Defaults { mode, requeue }).await
        }
        Cmd::Upgrade {
            module_version,
            istio_version,
        } => {
            Sim::new(client)
                .upgrade(&module_version, &istio_version)
                .await?;
            eprintln!(
                "simulated Istio module upgraded to {module_version} (Istio {istio_version})"
            );
            Ok(())
        }
    }
}

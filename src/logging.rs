//! Structured logs on stderr (stdout carries only the plan or report).

use crate::config::LogFormat;

/// Installs the global subscriber once; `RUST_LOG` overrides the default level.
pub fn init(format: LogFormat, default_level: &str) {
    // kube's client logs every failed attempt at ERROR (`failed with status 503`) and broken
    // connections at WARN, also those this tool then retries with success: its own retry logs
    // them at DEBUG, and what still fails is reported once, by the tool. `RUST_LOG` shows them.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default_level},kube_client=off"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}

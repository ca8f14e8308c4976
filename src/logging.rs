//! Structured logs on stderr (stdout carries only the plan or report), redacted, coloured only on
//! a terminal.

use crate::config::LogFormat;
use std::io::IsTerminal;

/// Installs the global subscriber once; `RUST_LOG` overrides the default level.
pub fn init(format: LogFormat, default_level: &str) {
    // kube's client logs every failed attempt at ERROR (`failed with status 503`) and broken
    // connections at WARN, also those this tool then retries with success: its own retry logs
    // them at DEBUG, and what still fails is reported once, by the tool. `RUST_LOG` shows them.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default_level},kube_client=off"))
    });
    // Every event passes the redaction on its way out (`kube` logs requests at DEBUG and TRACE);
    // colour only when stderr is a terminal and NO_COLOR is unset (a log file or pipe gets none).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(|| crate::redact::Stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}

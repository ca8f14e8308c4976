//! The library's error type and the process exit codes it maps onto.

use std::fmt;

/// Exit codes of the `istio-rollout` binary. They follow diff tools (`kubectl diff`): 0 nothing to
/// do, 1 something to do, 2 and above errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Nothing is pending: no restart, no manual action, no CR difference.
    Clean = 0,
    /// The plan has pending work (restarts, evictions, manual or blocked entries, a CR difference).
    Pending = 1,
    /// Invalid input or usage. Nothing was done.
    InvalidInput = 2,
    /// Any other failure: an API error, a rollout that failed or timed out, a git transport error.
    Failure = 3,
    /// `apply --strict`: everything automatic is done but manual entries remain.
    ManualRemaining = 4,
}

impl ExitCode {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Every error the library returns. Messages are one line and name the file, field or object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or flag combinations.
    #[error("{0}")]
    Usage(String),
    /// Invalid content: `origin` names the file (or git location) and the message names the field.
    #[error("{origin}: {message}")]
    Input { origin: String, message: String },
    /// The git repository, ref or path could not be read as asked.
    #[error("git: {0}")]
    Git(String),
    /// The repository could not be reached (network, authentication): not the input's fault.
    #[error("git transport: {0}")]
    GitTransport(String),
    /// Any other failure (I/O, Kubernetes API).
    #[error("{0}")]
    Failure(String),
}

impl Error {
    pub fn input(origin: impl fmt::Display, message: impl fmt::Display) -> Self {
        Error::Input {
            origin: origin.to_string(),
            message: message.to_string(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::Input { .. } | Error::Git(_) => ExitCode::InvalidInput,
            Error::GitTransport(_) | Error::Failure(_) => ExitCode::Failure,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

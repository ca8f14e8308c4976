//! The library's error type and the process exit codes it maps onto.
//!
//! An error says what was being done (the file, object, request or flag) and keeps what it failed
//! on as its [`source`](std::error::Error::source): a `Display` shows its own layer only, and
//! [`Report`] writes the whole chain on one line, as `main` prints it.

use std::error::Error as StdError;
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
    /// `plan --fail-on`: a condition other than `pending` tripped and no override was given; the
    /// upgrade must not start.
    GateRefused = 5,
    /// `apply`: another run holds the Lease (`--lease`) and did not free it within `--lease-wait`.
    /// Nothing was done.
    Busy = 6,
    /// `apply`: a health gate (`--prometheus-url`, `--blocking-pod-selector`) stayed closed for
    /// `--health-timeout`: a firing alert, a blocking pod, or Prometheus not answering (it fails
    /// closed). No workload was started after the gate closed.
    HealthGate = 7,
}

impl ExitCode {
    /// Every exit code, in order.
    pub const ALL: [ExitCode; 8] = [
        ExitCode::Clean,
        ExitCode::Pending,
        ExitCode::InvalidInput,
        ExitCode::Failure,
        ExitCode::ManualRemaining,
        ExitCode::GateRefused,
        ExitCode::Busy,
        ExitCode::HealthGate,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    /// What the code means, in the words `--help` and the man page show.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Clean => "nothing to do (plan), or done (apply)",
            ExitCode::Pending => "plan: restarts, manual entries or a CR difference are pending",
            ExitCode::InvalidInput => "invalid input or usage; nothing was done",
            ExitCode::Failure => {
                "a failure: an API error, a rollout that failed or timed out, a git transport error"
            }
            ExitCode::ManualRemaining => {
                "apply --strict: everything automatic is done but manual or blocked entries remain"
            }
            ExitCode::GateRefused => {
                "plan --fail-on: the pre-sync gate refused (a condition other than pending tripped)"
            }
            ExitCode::Busy => {
                "apply: another run holds the Lease (--lease) and did not free it within --lease-wait"
            }
            ExitCode::HealthGate => {
                "apply: a health gate (firing alert, blocking pod, Prometheus unreachable) stayed closed for --health-timeout"
            }
        }
    }
}

/// Any error, for sources of more than one type.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Every error the library returns. Each names the file, field, object or request it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or flag combinations.
    #[error("{0}")]
    Usage(String),
    /// A flag whose value cannot be used (`--istio-version`, `--context`).
    #[error("{flag}")]
    Flag {
        flag: &'static str,
        #[source]
        source: BoxError,
    },
    /// Invalid content: `origin` names the file (or git location), the source what is wrong there.
    #[error("{origin}")]
    Input {
        origin: String,
        #[source]
        source: Invalid,
    },
    /// The git repository, ref or path could not be read as asked, or the remote not reached.
    #[error(transparent)]
    Git(GitError),
    /// A request to the Kubernetes API failed. `request` says what was asked
    /// (`list pods (all namespaces)`); [`Error::status`] gives the HTTP status of the answer.
    #[error("{request}{}", api_detail(.source, *.retries, .hint.as_deref()))]
    Api {
        request: String,
        /// How many times it was retried before giving up (0: not retried).
        retries: u32,
        /// What to do about it, shown after the status.
        hint: Option<String>,
        #[source]
        source: kube::Error,
    },
    /// A request to the Kubernetes API got no answer in time, on its last attempt.
    #[error("{request}: timed out{}", after(*.retries))]
    Timeout { request: String, retries: u32 },
    /// No client for the cluster could be set up.
    #[error("{what}")]
    Cluster {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    /// An object read from the cluster that cannot be used (`ConfigMap istio-system/istio`).
    #[error("{object}")]
    Live {
        object: String,
        #[source]
        source: Invalid,
    },
    /// Writing the plan, report or snapshot to stdout failed. A closed pipe (`| head`) is no
    /// failure of this tool: see [`Error::is_broken_pipe`].
    #[error("writing the output")]
    Output(#[source] std::io::Error),
    /// Any other I/O failure (`what`: what was being done).
    #[error("{what}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// An object could not be encoded (`what`: which).
    #[error("encoding {what}")]
    Encode {
        what: String,
        #[source]
        source: BoxError,
    },
    /// Another `apply` holds the Lease: it renewed it `renewed_ago` seconds ago; this run waited
    /// `waited` seconds for it.
    #[error(
        "{lease} is held by {holder} (renewed {renewed_ago} s ago): another apply is acting on this cluster; waited {waited} s (--lease-wait)"
    )]
    LeaseHeld {
        lease: String,
        holder: String,
        renewed_ago: u64,
        waited: u64,
    },
    /// A health gate (`--prometheus-url`, `--blocking-pod-selector`) stayed closed for
    /// `--health-timeout`; the text says why (the alerts, the pods, or the unreachable URL).
    #[error("{0}")]
    HealthGate(String),
    /// Any other failure: a rollout that failed or timed out, an operator that did not catch up.
    #[error("{0}")]
    Failure(String),
}

impl Error {
    /// Invalid content by a rule of this tool: `message` names the field or object.
    pub fn input(origin: impl fmt::Display, message: impl fmt::Display) -> Self {
        Error::Input {
            origin: origin.to_string(),
            source: Invalid::Message(message.to_string()),
        }
    }

    /// A failed request to the Kubernetes API, not retried.
    pub fn api(request: impl Into<String>, source: kube::Error) -> Self {
        Error::Api {
            request: request.into(),
            retries: 0,
            hint: None,
            source,
        }
    }

    /// The same error with `hint` (what to do about it) when it is a failed API request.
    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        match self {
            Error::Api {
                request,
                retries,
                source,
                ..
            } => Error::Api {
                request,
                retries,
                hint: Some(hint.into()),
                source,
            },
            other => other,
        }
    }

    /// The HTTP status the API server answered a failed request with.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api {
                source: kube::Error::Api(s),
                ..
            } => Some(s.code),
            _ => None,
        }
    }

    /// Stdout was closed by its reader (`istio-rollout plan | head -1`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::Flag { .. } | Error::Input { .. } => ExitCode::InvalidInput,
            Error::LeaseHeld { .. } => ExitCode::Busy,
            Error::HealthGate(_) => ExitCode::HealthGate,
            Error::Git(g) if !g.is_transport() => ExitCode::InvalidInput,
            Error::Git(_)
            | Error::Api { .. }
            | Error::Timeout { .. }
            | Error::Cluster { .. }
            | Error::Live { .. }
            | Error::Output(_)
            | Error::Io { .. }
            | Error::Encode { .. }
            | Error::Failure(_) => ExitCode::Failure,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The status of a failed API request in words, the retries, and the hint.
fn api_detail(source: &kube::Error, retries: u32, hint: Option<&str>) -> String {
    let mut out = String::new();
    let code = match source {
        kube::Error::Api(s) => {
            out.push_str(&format!(
                ": {} ({}){}",
                status_name(s.code),
                s.code,
                after(retries)
            ));
            Some(s.code)
        }
        _ if retries > 0 => {
            out.push_str(&format!(" failed{}", after(retries)));
            None
        }
        _ => None,
    };
    let hint = hint.or((code == Some(403))
        .then_some("grant this permission to the tool's ServiceAccount (see manifests/)"));
    if let Some(h) = hint {
        out.push_str("; ");
        out.push_str(h);
    }
    out
}

fn after(retries: u32) -> String {
    if retries > 0 {
        format!(" after {retries} retries")
    } else {
        String::new()
    }
}

fn status_name(code: u16) -> &'static str {
    match code {
        400 => "bad request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not found",
        405 => "method not allowed",
        409 => "conflict",
        410 => "gone",
        422 => "invalid",
        429 => "too many requests",
        500 => "internal server error",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "gateway timeout",
        _ => "status",
    }
}

/// What is wrong with an input, without where: [`Error::Input`] adds the file, [`Error::Live`]
/// the cluster object, [`Invalid::Object`] and [`Invalid::Field`] the place inside a file.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// The file could not be read (`what`: which file, in words).
    #[error("cannot read {what}")]
    Read {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig that cannot be read or used (`what`: "read" or "use").
    #[error("cannot {what} the kubeconfig")]
    Kubeconfig {
        what: &'static str,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A file past its size limit (`what`: which file, in words).
    #[error("{what} is larger than the limit of {max} bytes")]
    TooLarge { what: &'static str, max: u64 },
    #[error("not UTF-8 text")]
    Utf8(#[source] std::str::Utf8Error),
    #[error("not valid YAML")]
    Yaml(#[source] Box<serde_saphyr::Error>),
    #[error("not valid JSON")]
    Json(#[source] serde_json::Error),
    /// A document that is a scalar or a list.
    #[error("a document is not an object but `{0}`")]
    NotAnObject(String),
    #[error("a List whose `items` is not a list")]
    ListItems,
    /// A value that does not decode into its type.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// One object of a file (`Deployment shop/x`).
    #[error("{object}")]
    Object {
        object: String,
        #[source]
        source: Box<Invalid>,
    },
    /// One field of an object (`data.mesh`).
    #[error("{field}")]
    Field {
        field: &'static str,
        #[source]
        source: Box<Invalid>,
    },
    /// The `Istio` CR breaks its CRD's schema.
    #[error(transparent)]
    Cr(#[from] crate::istio::validate::CrError),
    /// The target Istio version cannot follow the one that runs.
    #[error("Istio {0}")]
    IstioStep(crate::istio::version::StepError),
    #[error("module downgrade from {running} to {target} is not supported")]
    ModuleDowngrade {
        running: crate::istio::Version,
        target: crate::istio::Version,
    },
    /// Any other rule of this tool, in words that name the field.
    #[error("{0}")]
    Message(String),
}

impl Invalid {
    /// The same problem inside `object` (`Deployment shop/x`).
    pub fn in_object(self, object: impl Into<String>) -> Self {
        Invalid::Object {
            object: object.into(),
            source: Box::new(self),
        }
    }
}

/// A value that does not decode into its type: `path` from the document root (`spec.replicas`),
/// `None` when the document itself does not (`missing field `spec``).
#[derive(Debug)]
pub struct DecodeError {
    pub path: Option<String>,
    pub source: serde_json::Error,
}

impl From<serde_path_to_error::Error<serde_json::Error>> for DecodeError {
    fn from(e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = e.path().to_string();
        DecodeError {
            path: (path != ".").then_some(path),
            source: e.into_inner(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => f.write_str(p),
            None => self.source.fmt(f),
        }
    }
}

impl StdError for DecodeError {
    // Either shown or the source, never both: the path is shown, the decoder's reason follows it.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.path {
            Some(_) => Some(&self.source),
            None => self.source.source(),
        }
    }
}

/// Decodes `value` into `T`; a failure names the field (`spec.replicas`).
pub fn decode<'de, T, D>(value: D) -> std::result::Result<T, DecodeError>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de, Error = serde_json::Error>,
{
    serde_path_to_error::deserialize(value).map_err(DecodeError::from)
}

/// The git repository, ref or path could not be read as asked, or the remote could not be
/// reached. `place` and the source never carry credentials.
#[derive(Debug, thiserror::Error)]
#[error("{}: {place}: {problem}", git_prefix(.problem))]
pub struct GitError {
    /// The repository (`https://host/org/repo.git`), with the ref (`repo@main`), or a file.
    pub place: String,
    pub problem: GitProblem,
    #[source]
    pub source: Option<git2::Error>,
}

impl GitError {
    /// Not the input's fault: the network or the credentials (exit 3).
    pub fn is_transport(&self) -> bool {
        self.problem.is_transport()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GitProblem {
    #[error("not a git repository")]
    NotARepository,
    #[error("ref `{0}` not found")]
    RefNotFound(String),
    #[error("path `{path}` does not exist in commit {commit}")]
    NoSuchPath { path: String, commit: String },
    #[error("path `{0}` is not a directory")]
    NotADirectory(String),
    /// A tree or file of the commit could not be read (`0`: which, in words).
    #[error("cannot read {0}")]
    Read(String),
    /// The remote does not have what was asked (the input's fault).
    #[error("cannot fetch `{0}`")]
    Fetch(String),
    /// The remote could not be reached or refused the credentials.
    #[error("cannot fetch `{0}`")]
    Transport(String),
    #[error("cannot create a repository to fetch into")]
    Init,
}

impl GitProblem {
    fn is_transport(&self) -> bool {
        matches!(self, GitProblem::Transport(_) | GitProblem::Init)
    }
}

fn git_prefix(problem: &GitProblem) -> &'static str {
    if problem.is_transport() {
        "git transport"
    } else {
        "git"
    }
}

/// An error and its causes on one line, `message: cause: cause`, as `main` prints it. A cause
/// whose text the line already holds is left out (many errors repeat their source's text), line
/// breaks inside a message (YAML and regex errors show snippets) become spaces, other control
/// characters are escaped, each cause is cut at [`MAX_CAUSE_CHARS`] (a 500 KB regex is not echoed
/// whole) and credentials are removed ([`crate::redact::text`]).
pub struct Report<'a>(pub &'a (dyn StdError + 'static));

/// The most characters of one link of an error's chain on its line.
pub const MAX_CAUSE_CHARS: usize = 400;

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = String::new();
        let mut next: Option<&(dyn StdError + 'static)> = Some(self.0);
        while let Some(e) = next {
            let text = crate::escape::cap(
                &crate::escape::control(&one_line(&text_of(e))),
                MAX_CAUSE_CHARS,
            )
            .into_owned();
            if !text.is_empty() && !line.contains(&text) {
                if !line.is_empty() {
                    line.push_str(": ");
                }
                line.push_str(&text);
            }
            next = e.source();
        }
        f.write_str(&crate::redact::text(&line))
    }
}

/// [`Report`] as a string.
pub fn report(e: &(dyn StdError + 'static)) -> String {
    Report(e).to_string()
}

/// One link's own text. Two foreign types show more than their message: git2 appends its class and
/// code, and kube's `Api` variant a debug dump of the status that its source shows in words.
fn text_of(e: &(dyn StdError + 'static)) -> String {
    if let Some(g) = e.downcast_ref::<git2::Error>() {
        return g.message().to_string();
    }
    if let Some(kube::Error::Api(_)) = e.downcast_ref::<kube::Error>() {
        return String::new();
    }
    e.to_string()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str, reason: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: message.into(),
            reason: reason.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn the_report_joins_the_causes_on_one_line() {
        let e = Error::Input {
            origin: "live.yaml".into(),
            source: Invalid::Read {
                what: "the live state",
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            },
        };
        assert_eq!(e.to_string(), "live.yaml");
        assert_eq!(
            report(&e),
            "live.yaml: cannot read the live state: no such file"
        );
    }

    #[test]
    fn the_report_leaves_out_a_cause_it_already_shows_and_line_breaks() {
        // kube's Api variant shows a debug dump, then its source the same words: shown once.
        let e = Error::api(
            "list pods (all namespaces)",
            status(403, "pods is forbidden", "Forbidden"),
        );
        assert_eq!(
            report(&e),
            "list pods (all namespaces): forbidden (403); grant this permission to the tool's \
             ServiceAccount (see manifests/): pods is forbidden: Forbidden"
        );
        // A wrapper that repeats its source's text.
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Repeats(#[source] std::io::Error);
        let inner = std::io::Error::other("line one\n   line two");
        assert_eq!(report(&Repeats(inner)), "outer: line one line two");
    }

    #[test]
    fn git_causes_show_their_message_only() {
        let e = Error::Git(GitError {
            place: "/tmp/r".into(),
            problem: GitProblem::NotARepository,
            source: Some(git2::Error::new(
                git2::ErrorCode::NotFound,
                git2::ErrorClass::Repository,
                "could not find repository",
            )),
        });
        assert_eq!(
            report(&e),
            "git: /tmp/r: not a git repository: could not find repository"
        );
        assert_eq!(e.exit_code(), ExitCode::InvalidInput);
    }

    #[test]
    fn api_errors_keep_their_status() {
        let e = Error::api("get pods a/b", status(404, "not found", "NotFound"));
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.exit_code(), ExitCode::Failure);
        let e = e.with_hint("try again");
        assert_eq!(e.to_string(), "get pods a/b: not found (404); try again");
        assert_eq!(Error::Failure("x".into()).status(), None);
        let e = Error::Api {
            request: "get pods a/b".into(),
            retries: 5,
            hint: None,
            source: status(503, "unavailable", "ServiceUnavailable"),
        };
        assert_eq!(
            e.to_string(),
            "get pods a/b: service unavailable (503) after 5 retries"
        );
    }

    #[test]
    fn a_decode_error_shows_its_path_or_the_reason() {
        let value = serde_json::json!({"spec": {"replicas": "many"}});
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            spec: Spec,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Spec {
            replicas: i32,
        }
        let e = decode::<S, _>(value).unwrap_err();
        assert_eq!(e.to_string(), "spec.replicas");
        assert!(report(&e).starts_with("spec.replicas: invalid type: string \"many\""));
        let e = decode::<S, _>(serde_json::json!({})).unwrap_err();
        assert_eq!(report(&e), "missing field `spec`");
    }

    #[test]
    fn only_a_closed_stdout_is_a_broken_pipe() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(Error::Output(pipe).is_broken_pipe());
        let other = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(
            !Error::Io {
                what: "x",
                source: other
            }
            .is_broken_pipe()
        );
    }
}

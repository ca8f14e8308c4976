//! Where the cluster is and who this tool is there: the kubeconfig, read as kubectl finds it
//! (`--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`, else the in-cluster ServiceAccount),
//! bounded in size, its errors naming the file and never its content, its secrets registered for
//! redaction.

use crate::config::ClusterConfig;
use crate::error::{Error, Invalid, Result};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The largest kubeconfig file read (`/dev/zero` stops here).
pub const MAX_KUBECONFIG_SIZE: u64 = 16 * 1024 * 1024;

/// A client configuration and where it came from.
pub struct Loaded {
    pub config: kube::Config,
    /// `kubeconfig <files>` or `in-cluster`, for errors.
    pub origin: String,
    /// The kubeconfig files, when one was read (their errors are the input's fault: exit 2).
    pub files: Vec<PathBuf>,
}

/// Reads `path` as a whole, refusing it past `max` bytes. `what` names the file in words.
pub fn read_bounded(
    path: &Path,
    max: u64,
    what: &'static str,
) -> std::result::Result<Vec<u8>, Invalid> {
    let file = std::fs::File::open(path).map_err(|source| Invalid::Read { what, source })?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| Invalid::Read { what, source })?;
    if bytes.len() as u64 > max {
        return Err(Invalid::TooLarge { what, max });
    }
    Ok(bytes)
}

fn files_origin(files: &[PathBuf]) -> String {
    let names: Vec<String> = files
        .iter()
        .map(|p| crate::escape::value(&p.display().to_string()))
        .collect();
    names.join(":")
}

/// The kubeconfig files to read, as kubectl picks them; empty: in-cluster.
fn files(cluster: &ClusterConfig) -> Vec<PathBuf> {
    if let Some(p) = &cluster.kubeconfig {
        return vec![p.clone()];
    }
    if let Some(v) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        // Like kubectl, a list skips the files that do not exist; when none does, the error
        // names them rather than falling back to another cluster.
        let existing: Vec<PathBuf> = paths.iter().filter(|p| p.exists()).cloned().collect();
        if !existing.is_empty() {
            return existing;
        }
        if !paths.is_empty() {
            return paths;
        }
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match home.map(|h| h.join(".kube").join("config")) {
        Some(p) if p.exists() => vec![p],
        _ => Vec::new(),
    }
}

/// Reads one file: bounded, then parsed; an error names the file and, for YAML, the line and
/// column only (the parser's excerpt of the file would show the token on that line).
fn read_one(path: &Path) -> Result<Kubeconfig> {
    let origin = crate::escape::value(&path.display().to_string());
    let input = |source| Error::Input {
        origin: origin.clone(),
        source,
    };
    read_bounded(path, MAX_KUBECONFIG_SIZE, "the kubeconfig").map_err(input)?;
    let kc = Kubeconfig::read_from(path).map_err(|e| input(kubeconfig_problem(e)))?;
    register_secrets(&kc);
    Ok(kc)
}

/// What is wrong with a kubeconfig, without its content.
fn kubeconfig_problem(e: KubeconfigError) -> Invalid {
    match e {
        KubeconfigError::ReadConfig(source, _) => Invalid::Read {
            what: "the kubeconfig",
            source,
        },
        KubeconfigError::Parse(p) => {
            let at = p
                .location()
                .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                .unwrap_or_default();
            Invalid::Message(format!(
                "not a valid kubeconfig: a YAML syntax error or a field of the wrong type{at}"
            ))
        }
        other => Invalid::Message(format!(
            "cannot use the kubeconfig: {}",
            crate::redact::text(&crate::error::report(&other))
        )),
    }
}

/// Every credential of the kubeconfig is removed from what this process echoes.
fn register_secrets(kc: &Kubeconfig) {
    use secrecy::ExposeSecret as _;
    for a in kc.auth_infos.iter().filter_map(|n| n.auth_info.as_ref()) {
        if let Some(t) = &a.token {
            crate::redact::register(t.expose_secret());
        }
        if let Some(p) = &a.password {
            crate::redact::register(p.expose_secret());
        }
        if let Some(k) = &a.client_key_data {
            crate::redact::register(k.expose_secret());
        }
    }
}

/// The selected user's `tokenFile` must exist: kube would read it only at the first request and
/// fail there as if the cluster did.
fn check_token_files(kc: &Kubeconfig, context: Option<&str>) -> std::result::Result<(), Invalid> {
    let Some(ctx_name) = context.or(kc.current_context.as_deref()) else {
        return Ok(());
    };
    let user = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone());
    let Some(user) = user else { return Ok(()) };
    let auth = kc
        .auth_infos
        .iter()
        .find(|a| a.name == user)
        .and_then(|a| a.auth_info.as_ref());
    if let Some(file) = auth.and_then(|a| a.token_file.as_deref())
        && auth.is_some_and(|a| a.token.is_none())
        && let Err(e) = std::fs::metadata(file)
    {
        return Err(Invalid::Message(format!(
            "users[{}].user.tokenFile `{}`: {e}",
            crate::escape::value(&user),
            crate::escape::value(file)
        )));
    }
    Ok(())
}

/// The client configuration, as kubectl would pick it.
pub async fn load(cluster: &ClusterConfig) -> Result<Loaded> {
    let files = files(cluster);
    let context = cluster.context.as_deref();
    if files.is_empty() {
        if context.is_some() {
            return Err(Error::Usage(
                "--context: no kubeconfig found (--kubeconfig, KUBECONFIG or ~/.kube/config)"
                    .into(),
            ));
        }
        let config = kube::Config::infer().await.map_err(|e| Error::Cluster {
            what: "no cluster configuration found (kubeconfig or in-cluster)",
            source: kube::Error::InferConfig(e),
        })?;
        return Ok(Loaded {
            config,
            origin: "in-cluster".into(),
            files,
        });
    }
    let mut merged = Kubeconfig::default();
    for f in &files {
        let kc = read_one(f)?;
        merged = merged.merge(kc).map_err(|e| Error::Input {
            origin: files_origin(&files),
            source: kubeconfig_problem(e),
        })?;
    }
    let origin = files_origin(&files);
    let input = |source| Error::Input {
        origin: origin.clone(),
        source,
    };
    if let Some(c) = context
        && !merged.contexts.iter().any(|n| n.name == c)
    {
        return Err(Error::Usage(format!(
            "--context {}: no such context in {origin}",
            crate::escape::value(c)
        )));
    }
    check_token_files(&merged, context).map_err(input)?;
    let options = KubeConfigOptions {
        context: context.map(String::from),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(merged, &options)
        .await
        .map_err(|e| input(kubeconfig_problem(e)))?;
    Ok(Loaded {
        config,
        origin: format!("kubeconfig {origin}"),
        files,
    })
}

//! Reads files of one directory from one commit of a git repository, local or remote, without a
//! working tree. The only file that uses git2.

use crate::error::{Error, GitError, GitProblem, Result};
use git2::{
    Cred, CredentialType, FetchOptions, ObjectType, Oid, RemoteCallbacks, Repository, TreeWalkMode,
    TreeWalkResult,
};
use serde::Serialize;
use std::path::Path;

/// Where the desired state came from. `repo` never carries credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    pub repo: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub commit: String,
    pub path: String,
}

/// One file read from the commit, with its path relative to the repository root.
#[derive(Clone, Debug)]
pub struct File {
    pub path: String,
    pub contents: Vec<u8>,
}

/// Environment variable holding an HTTPS token for remote repositories.
pub const TOKEN_ENV: &str = "ISTIO_ROLLOUT_GIT_TOKEN";
/// Environment variable naming an SSH private key file (else the SSH agent, else ~/.ssh/id_*).
pub const SSH_KEY_ENV: &str = "ISTIO_ROLLOUT_SSH_KEY";

/// Reads every file under `dir` (recursively) at `reference` (default: HEAD).
pub fn read(repo: &str, reference: Option<&str>, dir: &str) -> Result<(Source, Vec<File>)> {
    let shown = redact(repo);
    let git = |place: &str, problem, source| {
        Error::Git(GitError {
            place: place.to_string(),
            problem,
            source,
        })
    };
    // A file:// URL names a repository on this machine: open it in place. libgit2's local
    // transport copies the whole history even when asked for depth 1 (see BENCHMARKS.md).
    let local_path = repo.strip_prefix("file://");
    let (repository, _tmp) = if is_remote(repo) && local_path.is_none() {
        let tmp = tempfile::tempdir().map_err(|source| Error::Io {
            what: "creating a temporary directory",
            source,
        })?;
        let r = Repository::init_bare(tmp.path())
            .map_err(|e| git(&shown, GitProblem::Init, Some(e)))?;
        let spec = fetch(&r, repo, reference)
            .map_err(|e| classify(e, repo, &shown, reference.unwrap_or("HEAD")))?;
        (r, Some((tmp, spec)))
    } else {
        let r = Repository::open(local_path.unwrap_or(repo))
            .map_err(|e| git(&shown, GitProblem::NotARepository, Some(e)))?;
        (r, None)
    };
    let rev = match &_tmp {
        Some((_, fetched)) => fetched.clone(),
        None => reference.unwrap_or("HEAD").to_string(),
    };
    let shown_ref = reference.unwrap_or("HEAD");
    let commit = repository
        .revparse_single(&rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| {
            git(
                &shown,
                GitProblem::RefNotFound(shown_ref.to_string()),
                Some(e),
            )
        })?;
    let at = format!("{shown}@{shown_ref}");
    let dir = dir.trim_matches('/');
    let dir = if dir == "." { "" } else { dir };
    let root = commit
        .tree()
        .map_err(|e| git(&at, GitProblem::Read("the commit's tree"), Some(e)))?;
    let tree = if dir.is_empty() {
        root
    } else {
        let entry = root.get_path(Path::new(dir)).map_err(|e| {
            let problem = GitProblem::NoSuchPath {
                path: dir.to_string(),
                commit: commit.id().to_string(),
            };
            git(&at, problem, Some(e))
        })?;
        if entry.kind() != Some(ObjectType::Tree) {
            return Err(git(&at, GitProblem::NotADirectory(dir.to_string()), None));
        }
        repository
            .find_tree(entry.id())
            .map_err(|e| git(&at, GitProblem::Read("the directory"), Some(e)))?
    };
    let mut files = Vec::new();
    let mut failure = None;
    tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
        if entry.kind() != Some(ObjectType::Blob) {
            return TreeWalkResult::Ok;
        }
        let name = entry.name().unwrap_or_default();
        let rel = format!("{parent}{name}");
        let path = if dir.is_empty() {
            rel
        } else {
            format!("{dir}/{rel}")
        };
        match repository.find_blob(entry.id()) {
            Ok(blob) => files.push(File {
                path,
                contents: blob.content().to_vec(),
            }),
            Err(e) => {
                failure = Some(git(
                    &format!("{at}:{path}"),
                    GitProblem::Read("the file"),
                    Some(e),
                ));
                return TreeWalkResult::Abort;
            }
        }
        TreeWalkResult::Ok
    })
    .map_err(|e| git(&at, GitProblem::Read("the directory"), Some(e)))?;
    if let Some(f) = failure {
        return Err(f);
    }
    let source = Source {
        repo: shown,
        reference: shown_ref.to_string(),
        commit: commit.id().to_string(),
        path: if dir.is_empty() {
            ".".into()
        } else {
            dir.to_string()
        },
    };
    Ok((source, files))
}

pub fn is_remote(repo: &str) -> bool {
    repo.contains("://") || (repo.contains('@') && repo.contains(':') && !Path::new(repo).exists())
}

/// Removes user information (a token or password) from a URL, for output and errors.
pub fn redact(repo: &str) -> String {
    if let Some((scheme, rest)) = repo.split_once("://") {
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        if let Some((_, host)) = authority.rsplit_once('@') {
            let slash = if rest.contains('/') { "/" } else { "" };
            return format!("{scheme}://{host}{slash}{path}");
        }
    }
    repo.to_string()
}

/// Errors while talking to a remote are transport failures (exit 3), except a ref the remote
/// does not have, which is the input's fault. The message is kept without the credentials.
fn classify(e: git2::Error, raw: &str, shown: &str, reference: &str) -> Error {
    let redacted = git2::Error::new(e.code(), e.class(), e.message().replace(raw, shown));
    let problem = match e.code() {
        git2::ErrorCode::NotFound | git2::ErrorCode::InvalidSpec => {
            GitProblem::Fetch(reference.to_string())
        }
        _ => GitProblem::Transport(reference.to_string()),
    };
    Error::Git(GitError {
        place: shown.to_string(),
        problem,
        source: Some(redacted),
    })
}

fn callbacks<'a>() -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    let mut tries = 0;
    cb.credentials(move |_url, username, allowed| {
        tries += 1;
        if tries > 4 {
            return Err(git2::Error::from_str(
                "authentication failed (credentials rejected)",
            ));
        }
        let user = username.unwrap_or("git");
        if allowed.contains(CredentialType::SSH_KEY) {
            if let Ok(key) = std::env::var(SSH_KEY_ENV) {
                return Cred::ssh_key(user, None, Path::new(&key), None);
            }
            if tries == 1 {
                return Cred::ssh_key_from_agent(user);
            }
            let home = std::env::var("HOME").unwrap_or_default();
            for k in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                let p = Path::new(&home).join(".ssh").join(k);
                if p.exists() {
                    return Cred::ssh_key(user, None, &p, None);
                }
            }
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
            && let Ok(token) = std::env::var(TOKEN_ENV)
        {
            return Cred::userpass_plaintext(username.unwrap_or("x-access-token"), &token);
        }
        if allowed.contains(CredentialType::DEFAULT) {
            return Cred::default();
        }
        Err(git2::Error::from_str(
            "no credentials available: set ISTIO_ROLLOUT_GIT_TOKEN or use an SSH key",
        ))
    });
    cb
}

/// Fetches only what `reference` needs, shallow where the transport allows. Returns the local
/// name to resolve after the fetch.
fn fetch(
    repo: &Repository,
    url: &str,
    reference: Option<&str>,
) -> std::result::Result<String, git2::Error> {
    let mut remote = repo.remote_anonymous(url)?;
    let wanted = reference.unwrap_or("HEAD");
    // Which advertised ref does the user mean?
    let advertised: Vec<(String, Oid)> = {
        let conn = remote.connect_auth(git2::Direction::Fetch, Some(callbacks()), None)?;
        conn.list()?
            .iter()
            .map(|h| (h.name().to_string(), h.oid()))
            .collect()
    };
    let candidates = [
        wanted.to_string(),
        format!("refs/heads/{wanted}"),
        format!("refs/tags/{wanted}"),
    ];
    let refspec = candidates
        .iter()
        .find(|c| advertised.iter().any(|(n, _)| n == *c))
        .map(|name| format!("+{name}:refs/istio-rollout/wanted"));
    let (specs, target) = match refspec {
        Some(spec) => (vec![spec], "refs/istio-rollout/wanted".to_string()),
        // A commit id: fetch it directly (servers that allow it), else everything, then look it up.
        None => (vec![wanted.to_string()], wanted.to_string()),
    };
    let attempt = |depth: i32| -> std::result::Result<(), git2::Error> {
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(callbacks());
        opts.download_tags(git2::AutotagOption::None);
        if depth > 0 {
            opts.depth(depth);
        }
        let mut remote = repo.remote_anonymous(url)?;
        remote.fetch(&specs, Some(&mut opts), None)
    };
    if attempt(1).is_err()
        && let Err(e) = attempt(0)
    {
        {
            if specs[0] == wanted && !wanted.starts_with("refs/") {
                // Not advertised and not fetchable by id: fetch branches and tags, then resolve.
                let mut opts = FetchOptions::new();
                opts.remote_callbacks(callbacks());
                remote.fetch(
                    &[
                        "+refs/heads/*:refs/remotes/origin/*",
                        "+refs/tags/*:refs/tags/*",
                    ],
                    Some(&mut opts),
                    None,
                )?;
            } else {
                return Err(e);
            }
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_tokens() {
        assert_eq!(
            redact("https://user:s3cret@git.example/org/repo.git"),
            "https://git.example/org/repo.git"
        );
        assert_eq!(
            redact("https://git.example/org/repo.git"),
            "https://git.example/org/repo.git"
        );
        assert_eq!(redact("/tmp/repo"), "/tmp/repo");
        assert_eq!(redact("ssh://git@host/repo"), "ssh://host/repo");
    }

    #[test]
    fn remote_detection() {
        assert!(is_remote("https://h/r.git"));
        assert!(is_remote("file:///tmp/r"));
        assert!(is_remote("git@github.example:org/repo.git"));
        assert!(!is_remote("/tmp/some/dir"));
    }
}

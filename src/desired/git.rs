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

/// The largest file read from the repository by default (`--max-file-size` raises it).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 * 1024 * 1024;

/// Reads the YAML files (`*.yaml`, `*.yml`) and the module version file under `dir`
/// (recursively) at `reference` (default: HEAD), each at most [`DEFAULT_MAX_FILE_SIZE`] bytes.
pub fn read(repo: &str, reference: Option<&str>, dir: &str) -> Result<(Source, Vec<File>)> {
    read_limited(repo, reference, dir, DEFAULT_MAX_FILE_SIZE)
}

/// `dir` as a path inside the repository: `./x`, `x//y/`, `/x` and `x/./y` are `x` and `x/y`;
/// `.` and the empty path are the root. `..` is refused: nothing above the root is read.
pub fn normalize_dir(dir: &str) -> std::result::Result<String, String> {
    let mut parts = Vec::new();
    for part in dir.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "`{}`: `..` is not allowed",
                    crate::escape::value(dir)
                ));
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// [`read`] with another size limit per file. Only the files the desired state is made of are
/// read: any other blob (a binary, an image) is never loaded, however large.
pub fn read_limited(
    repo: &str,
    reference: Option<&str>,
    dir: &str,
    max_file_size: u64,
) -> Result<(Source, Vec<File>)> {
    if let Ok(token) = std::env::var(TOKEN_ENV) {
        crate::redact::register(&token);
    }
    let shown = crate::escape::value(&redact(repo));
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
    let shown_ref = crate::escape::value(reference.unwrap_or("HEAD"));
    let shown_ref = shown_ref.as_str();
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
    let dir = normalize_dir(dir).map_err(|e| Error::Usage(format!("--path {e}")))?;
    let dir = dir.as_str();
    let root = commit
        .tree()
        .map_err(|e| git(&at, GitProblem::Read("the commit's tree".into()), Some(e)))?;
    let tree = if dir.is_empty() {
        root
    } else {
        let entry = root.get_path(Path::new(dir)).map_err(|e| {
            let problem = GitProblem::NoSuchPath {
                path: crate::escape::value(dir),
                commit: commit.id().to_string(),
            };
            git(&at, problem, Some(e))
        })?;
        if entry.kind() != Some(ObjectType::Tree) {
            return Err(git(
                &at,
                GitProblem::NotADirectory(crate::escape::value(dir)),
                None,
            ));
        }
        repository
            .find_tree(entry.id())
            .map_err(|e| git(&at, GitProblem::Read("the directory".into()), Some(e)))?
    };
    // First the names (cheap), then only the wanted blobs: one whose header says it is too large
    // is refused before it is loaded.
    let mut wanted = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
        if entry.kind() != Some(ObjectType::Blob) {
            return TreeWalkResult::Ok;
        }
        let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
        let rel = format!("{parent}{name}");
        if !is_wanted(&rel) {
            return TreeWalkResult::Ok;
        }
        let path = if dir.is_empty() {
            rel
        } else {
            format!("{dir}/{rel}")
        };
        wanted.push((path, entry.id()));
        TreeWalkResult::Ok
    })
    .map_err(|e| git(&at, GitProblem::Read("the directory".into()), Some(e)))?;
    let odb = repository
        .odb()
        .map_err(|e| git(&at, GitProblem::Read("the object database".into()), Some(e)))?;
    let mut files = Vec::with_capacity(wanted.len());
    for (path, id) in wanted {
        let place = format!("{at}:{}", crate::escape::value(&path));
        let object = || GitProblem::Read(format!("blob {id}"));
        let (size, _) = odb
            .read_header(id)
            .map_err(|e| git(&place, object(), Some(e)))?;
        if size as u64 > max_file_size {
            return Err(Error::input(
                &place,
                format!(
                    "{size} bytes, more than the limit of {max_file_size} bytes per file \
                     (--max-file-size raises it)"
                ),
            ));
        }
        let blob = repository
            .find_blob(id)
            .map_err(|e| git(&place, object(), Some(e)))?;
        files.push(File {
            path,
            contents: blob.content().to_vec(),
        });
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

/// The files the desired state is made of, by their path under `--path`: YAML anywhere, the
/// module version file at the top.
fn is_wanted(rel: &str) -> bool {
    rel.ends_with(".yaml") || rel.ends_with(".yml") || rel == super::VERSION_FILE
}

pub fn is_remote(repo: &str) -> bool {
    repo.contains("://") || (repo.contains('@') && repo.contains(':') && !Path::new(repo).exists())
}

/// Removes user information (a token or password) from a URL or scp-like address, for output
/// and errors ([`crate::redact::url`]).
pub fn redact(repo: &str) -> String {
    crate::redact::url(repo)
}

/// Errors while talking to a remote are transport failures (exit 3), except a ref the remote
/// does not have, which is the input's fault. The message is kept without the credentials.
fn classify(e: git2::Error, raw: &str, shown: &str, reference: &str) -> Error {
    let message = crate::redact::text(&e.message().replace(raw, shown));
    let redacted = git2::Error::new(e.code(), e.class(), message);
    let problem = match e.code() {
        git2::ErrorCode::NotFound | git2::ErrorCode::InvalidSpec => {
            GitProblem::Fetch(crate::escape::value(reference))
        }
        _ => GitProblem::Transport(crate::escape::value(reference)),
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
        assert_eq!(redact("u:p/w@host:org/repo.git"), "host:org/repo.git");
    }

    #[test]
    fn paths_are_normalised() {
        for (raw, dir) in [
            (".", ""),
            ("", ""),
            ("./istio", "istio"),
            ("istio//", "istio"),
            ("/istio/./x//y/", "istio/x/y"),
        ] {
            assert_eq!(normalize_dir(raw).unwrap(), dir, "{raw}");
        }
        assert!(normalize_dir("../etc").is_err());
        assert!(normalize_dir("a/../../b").is_err());
    }

    #[test]
    fn only_the_desired_files_are_wanted() {
        assert!(is_wanted("a.yaml") && is_wanted("sub/b.yml") && is_wanted("ISTIO_MODULE_VERSION"));
        assert!(
            !is_wanted("model.bin")
                && !is_wanted("README.md")
                && !is_wanted("sub/ISTIO_MODULE_VERSION")
        );
    }

    #[test]
    fn remote_detection() {
        assert!(is_remote("https://h/r.git"));
        assert!(is_remote("file:///tmp/r"));
        assert!(is_remote("git@github.example:org/repo.git"));
        assert!(!is_remote("/tmp/some/dir"));
    }
}

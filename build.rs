//! Stamps the commit and the build date into the binary for `--version`.
//!
//! The commit comes from `ISTIO_ROLLOUT_COMMIT` if set (a build without git: a tarball, the
//! Dockerfile's build argument), else from `git rev-parse`; without either it is `unknown`. The
//! date is that of `SOURCE_DATE_EPOCH` (reproducible builds) or of the build, in UTC.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ISTIO_ROLLOUT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-env-changed=GIT_DIR");

    let commit = std::env::var("ISTIO_ROLLOUT_COMMIT")
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ISTIO_ROLLOUT_COMMIT={commit}");

    let when = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap_or_else(SystemTime::now);
    let date = humantime::format_rfc3339_seconds(when).to_string();
    println!(
        "cargo:rustc-env=ISTIO_ROLLOUT_BUILD_DATE={}",
        &date[..10.min(date.len())]
    );
}

/// The abbreviated commit of HEAD, and the files whose change means a new one; `None` outside a
/// git checkout or without git.
fn git_commit() -> Option<String> {
    // A tarball unpacked inside some other repository is no checkout of this one.
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let here = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    if std::fs::canonicalize(top).ok()? != std::fs::canonicalize(here).ok()? {
        return None;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Rebuild when HEAD moves: HEAD itself (a checkout) and the ref it points at (a commit).
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            watch(&p);
        }
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&["rev-parse", "--git-path", &r])
    {
        watch(&p);
    }
    Some(commit)
}

/// Reruns this script when `path` changes; a path that does not exist would rerun it every time.
fn watch(path: &str) {
    if std::path::Path::new(path).exists() {
        println!("cargo:rerun-if-changed={path}");
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

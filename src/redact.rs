//! The one redaction of credentials, used wherever a URL, a kubeconfig, a request or an error is
//! echoed: error lines (`error::Report`), logs (`logging`'s writer), the desired state's `repo`.
//!
//! Three kinds of secret are removed: the user information of URLs (`https://user:token@host`,
//! also a password holding `/` that breaks URL parsing, so this works on the text before any
//! parsing), the user information of scp-like repositories (`user:password@host:path`), and
//! credentials this process knows ([`register`]: the git token, a kubeconfig's tokens, passwords
//! and keys), wherever they appear.

use regex::Regex;
use std::sync::{LazyLock, RwLock};

/// What stands in for a removed secret.
pub const MARK: &str = "<redacted>";

/// Secrets of this process, replaced wherever they appear in echoed text.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Secrets shorter than this are not registered: replacing every `a` of a message would say
/// nothing while hiding nothing a reader could not guess.
const MIN_SECRET: usize = 4;

/// Makes `secret` (a token, a password, a key) disappear from every text [`text`] redacts.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET {
        return;
    }
    let mut s = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !s.iter().any(|k| k == secret) {
        s.push(secret.to_string());
        // Longest first: a secret that contains another is removed whole.
        s.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// A URL or scp-like repository address without its user information, for output and errors.
/// Local paths are returned as they are.
pub fn url(s: &str) -> String {
    if let Some((scheme, rest)) = s.split_once("://") {
        return format!("{scheme}://{}", strip_authority_user(rest));
    }
    if is_local(s) {
        return s.to_string();
    }
    // scp-like `[user[:password]@]host:path`: the user information ends at the last `@` before
    // the `:` that starts the path (a password may hold `:`, `/` and `@`).
    match scp_user_end(s) {
        Some(at) => s[at + 1..].to_string(),
        None => s.to_string(),
    }
}

/// A path on this machine: never redacted (its name is no credential).
fn is_local(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('.') || s.starts_with('~') || !s.contains('@')
}

/// The `@` that ends the user information of an scp-like address.
fn scp_user_end(s: &str) -> Option<usize> {
    // The host part has no `@`, `/` or `:`: the path starts at the first `:` after the last `@`.
    let at = s.rfind('@')?;
    s[at + 1..].contains(':').then_some(at)
}

/// The part after `scheme://` without user information. The authority ends at the first `/` after
/// the last `@` that could end user information: a password may hold `/`, so the text before any
/// `@` is user information if it has a `:` before its first `/`, or no `/` at all.
fn strip_authority_user(rest: &str) -> &str {
    let Some(at) = rest.rfind('@') else {
        return rest;
    };
    let before = &rest[..at];
    let user_info = match before.find('/') {
        None => true,
        Some(slash) => before[..slash].contains(':'),
    };
    if user_info { &rest[at + 1..] } else { rest }
}

/// `scheme://user-info@` in free text (an error message, a log line). The user information runs to
/// the last `@` before white space or a quote: over-redacting a path with `@` is the safe side.
static URL_USER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^\s"'<>`]*@"#).expect("a valid regex")
});
/// A token in a header or a query (`Bearer x`, `Authorization: x`, `token=x`, `password: x`).
static TOKENS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(?P<key>\bbearer\s+|authorization"?\s*[:=]\s*"?|\b(?:access_token|token|password|client-key-data|client_key_data)"?\s*[:=]\s*"?)[^\s"',;&}]+"#,
    )
    .expect("a valid regex")
});

/// Any text with every credential removed: URL user information, tokens in headers and queries,
/// registered secrets.
pub fn text(s: &str) -> String {
    let mut out = URL_USER.replace_all(s, "$scheme").into_owned();
    out = TOKENS
        .replace_all(&out, |c: &regex::Captures| {
            // `Bearer <redacted>` keeps what kind of credential it was.
            format!("{}{MARK}", &c["key"])
        })
        .into_owned();
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MARK);
        }
    }
    out
}

/// A `tracing` writer that redacts each event before it reaches stderr. tracing-subscriber
/// formats an event completely, then writes it with one `write_all`; a line therefore arrives
/// whole here.
pub struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let redacted = text(&String::from_utf8_lossy(buf));
        std::io::stderr().write_all(redacted.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_user_information() {
        for (raw, shown) in [
            (
                "https://user:s3cret@git.example/org/repo.git",
                "https://git.example/org/repo.git",
            ),
            (
                "https://git.example/org/repo.git",
                "https://git.example/org/repo.git",
            ),
            ("ssh://git@host/repo", "ssh://host/repo"),
            // A password holding `/`, `@` and `:`: not a URL any parser takes.
            (
                "https://user:pa/ss@w:rd@git.example/org/repo.git",
                "https://git.example/org/repo.git",
            ),
            ("https://tok@host", "https://host"),
            ("https://host:8443/a", "https://host:8443/a"),
            // scp-like.
            ("user:password@host:org/repo.git", "host:org/repo.git"),
            ("user:pa/ss@host:org/repo.git", "host:org/repo.git"),
            (
                "git@github.example:org/repo.git",
                "github.example:org/repo.git",
            ),
            ("/tmp/repo", "/tmp/repo"),
            ("./a@b:c", "./a@b:c"),
            ("repo", "repo"),
        ] {
            assert_eq!(url(raw), shown, "{raw}");
        }
    }

    #[test]
    fn text_loses_every_credential() {
        register("sentinel-SECRET-42");
        for raw in [
            "failed to connect to https://u:sentinel-SECRET-42@h:6443/version",
            "header Authorization: Bearer sentinel-SECRET-42",
            "GET /x?token=sentinel-SECRET-42&y=1",
            "the token sentinel-SECRET-42 was refused",
            r#"{"password":"sentinel-SECRET-42"}"#,
            "https://user:pa/sentinel-SECRET-42@host/x",
            // `@` in the password too: everything to the last `@` goes.
            "cannot fetch https://user:pa/ss@w:SECRET-7@git.example/org/repo.git: refused",
        ] {
            let shown = text(raw);
            assert!(!shown.contains("SECRET"), "{raw} -> {shown}");
            assert!(shown.contains(MARK) || !shown.contains('@'), "{shown}");
        }
        assert_eq!(text("no secret here"), "no secret here");
        // Short strings are not registered (they would blank out ordinary words).
        register("ab");
        assert_eq!(text("abc"), "abc");
    }
}

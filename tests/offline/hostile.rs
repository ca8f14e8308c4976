//! Hostile and broken input (issue 13), through the binary on real files and real git
//! repositories: no panic, no credential printed, one line on stderr with the documented exit
//! code, bounded memory and time, nothing on stdout before the data is complete, output that no
//! name can break. The unreachable and silent API servers are real sockets opened here.

use crate::common::cli::istio_rollout;
use crate::common::repo::TestRepo;
use crate::fixtures::*;
use assert_cmd::prelude::*;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::time::{Duration, Instant};

const EXAMPLE_LIVE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/live-state.yaml");
/// Stands for any credential: it must never reach stdout or stderr.
const SENTINEL: &str = "SENTINEL-s3cr3t-9f3a";

fn out(a: &assert_cmd::assert::Assert) -> (String, String) {
    let o = a.get_output();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The one error line of a failed run: exit `code`, nothing on stdout, one line on stderr
/// without control characters other than its end, no panic, no sentinel.
fn one_line_error(a: assert_cmd::assert::Assert, code: i32) -> String {
    let (stdout, stderr) = out(&a);
    let a = a.code(code);
    let _ = a;
    assert_eq!(stdout, "", "stdout carries only data: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains(SENTINEL), "a secret was printed: {stderr}");
    let line = stderr.strip_suffix('\n').unwrap_or(&stderr);
    assert!(!line.contains('\n'), "one line: {stderr}");
    assert!(
        !line.chars().any(char::is_control),
        "control characters: {line:?}"
    );
    assert!(line.starts_with("istio-rollout: error: "), "{line}");
    line.to_string()
}

fn plan_live(repo: &TestRepo, live: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
    istio_rollout()
        .args([
            "plan",
            "--repo",
            repo.path().to_str().unwrap(),
            "--path",
            "istio",
        ])
        .args(["--live-state", live])
        .args(extra)
        .assert()
}

fn cr(metadata_namespace: &str, spec: &str) -> String {
    format!(
        "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata:\n  name: default\n  namespace: {metadata_namespace}\nspec:\n{spec}"
    )
}

#[test]
fn a_scalar_document_with_multi_byte_characters_never_panics() {
    for n in [58, 59, 60, 61] {
        let doc = format!("\"{}{}\"\n", "a".repeat(n), "€😀".repeat(40));
        let r = example_repo(&[("istio/scalar.yaml", &doc)]);
        let line = one_line_error(plan_live(&r, EXAMPLE_LIVE, &[]).try_code(2).unwrap(), 2);
        assert!(
            line.contains("istio/scalar.yaml: a document is not an object"),
            "{line}"
        );
    }
}

#[test]
fn huge_and_bad_durations_are_one_line_exit_2() {
    let r = example_repo(&[]);
    for (flag, value, needle) in [
        (
            "--operator-timeout",
            "500000000000y",
            "--operator-timeout 500000000000y",
        ),
        ("--timeout", "31days", "more than the limit of 30 days"),
        (
            "--overall-timeout",
            "18446744073709551615s",
            "--overall-timeout",
        ),
        ("--pdb-timeout", "soon", "not a duration"),
        ("--connect-timeout", "0s", "must be more than 0"),
        ("--read-timeout", "99999999999999h", "--read-timeout"),
        ("--timeout", "1s\u{1b}[2J", "\\x1b[2J"),
    ] {
        let a = istio_rollout()
            .args([
                "apply",
                "--repo",
                r.path().to_str().unwrap(),
                "--path",
                "istio",
            ])
            .args([flag, value])
            .assert();
        let line = one_line_error(a, 2);
        assert!(line.contains(needle), "{flag} {value}: {line}");
    }
}

fn kubeconfig(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// A kubeconfig for `server` whose user holds the sentinel as token.
fn kubeconfig_for(server: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\nusers:\n- name: u\n  user:\n{user}"
    )
}

fn plan_cluster(repo: &TestRepo, extra: &[&str]) -> std::process::Command {
    let mut c = istio_rollout();
    c.args([
        "plan",
        "--repo",
        repo.path().to_str().unwrap(),
        "--path",
        "istio",
    ])
    .args(extra);
    c
}

#[test]
fn kubeconfig_errors_name_the_file_never_its_content_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let r = example_repo(&[]);
    let token = format!("    token: {SENTINEL}\n");
    let cases = [
        // A YAML error on the token's line: the parser's excerpt would show it.
        (
            "syntax.yaml",
            kubeconfig_for(
                "https://127.0.0.1:1",
                &format!("{token}    bad: [unclosed\n"),
            ),
            "line",
        ),
        // A type error where the token is the value.
        (
            "type.yaml",
            format!("apiVersion: v1\nusers: {SENTINEL}\n"),
            "not a valid kubeconfig",
        ),
        (
            "type2.yaml",
            format!("apiVersion: v1\nusers:\n- name: u\n  user:\n    token: [{SENTINEL}]\n"),
            "not a valid kubeconfig",
        ),
        // Bad client-key-data and a missing tokenFile: the file is named, exit 2.
        (
            "key.yaml",
            kubeconfig_for(
                "https://127.0.0.1:1",
                &format!(
                    "    client-certificate-data: bm90IGEgY2VydA==\n    client-key-data: {}\n",
                    "bm90IGEga2V5"
                ),
            ),
            "key.yaml",
        ),
        (
            "tokenfile.yaml",
            kubeconfig_for("https://127.0.0.1:1", "    tokenFile: /nonexistent/token\n"),
            "tokenFile `/nonexistent/token`",
        ),
    ];
    for (name, text, needle) in cases {
        let path = kubeconfig(dir.path(), name, &text);
        // By flag and by KUBECONFIG: the same exit code and line.
        let by_flag = plan_cluster(&r, &["--kubeconfig", &path]).assert();
        let line = one_line_error(by_flag, 2);
        assert!(line.contains(&path), "{name}: {line}");
        assert!(line.contains(needle), "{name}: {line}");
        let by_env = plan_cluster(&r, &[]).env("KUBECONFIG", &path).assert();
        assert_eq!(one_line_error(by_env, 2), line, "{name}");
        // A list skips a file that does not exist, as kubectl does: the same line.
        let listed = plan_cluster(&r, &[])
            .env("KUBECONFIG", format!("/nonexistent/kubeconfig:{path}"))
            .assert();
        assert_eq!(one_line_error(listed, 2), line, "{name}");
    }
    // Missing, a directory, /dev/zero: exit 2 naming the file.
    for path in ["/nonexistent/kubeconfig", "/", "/dev/zero"] {
        for env in [false, true] {
            let mut c = plan_cluster(&r, &[]);
            if env {
                c.env("KUBECONFIG", path);
            } else {
                c.args(["--kubeconfig", path]);
            }
            let started = Instant::now();
            let line = one_line_error(c.assert(), 2);
            assert!(line.contains(&format!("error: {path}")), "{line}");
            assert!(started.elapsed() < Duration::from_secs(20));
        }
    }
}

#[test]
fn repository_credentials_are_never_printed() {
    let refused = "127.0.0.1:1";
    for repo in [
        format!("https://user:{SENTINEL}@{refused}/org/repo.git"),
        // A password with `/`: not a URL a parser takes ("invalid url").
        format!("https://user:pa/{SENTINEL}@{refused}/org/repo.git"),
        format!("https://user:{SENTINEL}@[::1/org/repo.git"),
        // scp-like.
        format!("user:{SENTINEL}@{refused}:org/repo.git"),
        format!("user:pa/{SENTINEL}@host.invalid:org/repo.git"),
    ] {
        let a = istio_rollout()
            .args(["plan", "--repo", &repo, "--live-state", EXAMPLE_LIVE])
            .env("ISTIO_ROLLOUT_GIT_TOKEN", SENTINEL)
            .assert();
        let code = a.get_output().status.code().unwrap();
        assert!(code == 2 || code == 3, "{repo}: {code}");
        let line = one_line_error(a, code);
        assert!(line.contains("git"), "{line}");
    }
}

/// A TCP socket that accepts connections and never answers (no TLS handshake).
fn silent_server() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let held = l.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in held.incoming() {
            match c {
                Ok(c) => conns.push(c),
                Err(_) => return,
            }
        }
    });
    (l, port)
}

/// A port nothing listens on (bound, then closed).
fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_silent_server_times_out_in_seconds_naming_server_and_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let r = example_repo(&[]);
    let (_l, port) = silent_server();
    let path = kubeconfig(
        dir.path(),
        "kc.yaml",
        &kubeconfig_for(
            &format!("https://admin:{SENTINEL}@127.0.0.1:{port}"),
            &format!("    token: {SENTINEL}\n"),
        ),
    );
    for command in ["plan", "snapshot"] {
        let started = Instant::now();
        let mut c = istio_rollout();
        c.arg(command);
        if command == "plan" {
            c.args(["--repo", r.path().to_str().unwrap(), "--path", "istio"]);
        }
        let a = c
            .args([
                "--kubeconfig",
                &path,
                "--connect-timeout",
                "2s",
                "--read-timeout",
                "1s",
            ])
            .assert();
        let took = started.elapsed();
        let line = one_line_error(a, 3);
        assert!(
            line.contains(&format!(
                "cluster https://127.0.0.1:{port} (kubeconfig {path}): timed out after 2 s"
            )),
            "{line}"
        );
        assert!(took < Duration::from_secs(10), "{command} took {took:?}");
    }
}

#[test]
fn a_refused_connection_names_server_and_kubeconfig_and_logs_no_secret_or_colour() {
    let dir = tempfile::tempdir().unwrap();
    let r = example_repo(&[]);
    let port = refused_port();
    let path = kubeconfig(
        dir.path(),
        "kc.yaml",
        &kubeconfig_for(
            &format!("https://admin:{SENTINEL}@127.0.0.1:{port}"),
            &format!("    token: {SENTINEL}\n"),
        ),
    );
    // Every log level, text and JSON: no secret in any line, no colour in a pipe.
    for (level, format) in [
        ("trace", "json"),
        ("trace", "text"),
        ("debug", "text"),
        ("info", "text"),
    ] {
        let a = istio_rollout()
            .args([
                "apply",
                "--repo",
                r.path().to_str().unwrap(),
                "--path",
                "istio",
            ])
            .args(["--kubeconfig", &path, "--log-format", format])
            .env("RUST_LOG", level)
            .env_remove("NO_COLOR")
            .assert()
            .code(3);
        let (stdout, stderr) = out(&a);
        assert_eq!(stdout, "");
        assert!(!stderr.contains(SENTINEL), "{level}/{format}: {stderr}");
        assert!(!stderr.contains('\u{1b}'), "colour in a pipe: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let last = stderr.lines().last().unwrap();
        assert_eq!(
            last,
            format!(
                "istio-rollout: error: cluster https://127.0.0.1:{port} (kubeconfig {path}): connection refused"
            )
        );
        if level != "info" {
            assert!(
                stderr.lines().count() > 1,
                "{level}: logs expected: {stderr}"
            );
        }
    }
}

#[test]
fn a_failed_snapshot_writes_nothing_and_an_empty_live_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = refused_port();
    let path = kubeconfig(
        dir.path(),
        "kc.yaml",
        &kubeconfig_for(&format!("https://127.0.0.1:{port}"), "    token: t\n"),
    );
    let a = istio_rollout()
        .args(["snapshot", "--kubeconfig", &path])
        .assert();
    one_line_error(a, 3);
    // What a failed `snapshot > file` leaves, and /dev/null: no cluster, unless said so.
    let r = example_repo(&[]);
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let comments = dir.path().join("comments.yaml");
    std::fs::write(&comments, "# istio-rollout snapshot\n---\n").unwrap();
    for live in [
        empty.to_str().unwrap(),
        comments.to_str().unwrap(),
        "/dev/null",
    ] {
        let line = one_line_error(plan_live(&r, live, &[]).try_code(2).unwrap(), 2);
        assert!(line.contains("holds no objects"), "{line}");
        assert!(line.contains("--allow-empty-live-state"), "{line}");
        let a = plan_live(&r, live, &["--allow-empty-live-state"]).code(1);
        assert!(
            out(&a)
                .0
                .contains("Istio CR kyma-system/default: to be created")
        );
    }
}

#[test]
fn sizes_are_bounded_and_only_yaml_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let r = example_repo(&[]);
    // /dev/zero as the live state stops at the limit.
    let started = Instant::now();
    let line = one_line_error(
        plan_live(&r, "/dev/zero", &["--max-live-state-size", "1MiB"])
            .try_code(2)
            .unwrap(),
        2,
    );
    assert!(line.contains("/dev/zero"), "{line}");
    assert!(
        line.contains("limit of 1048576 bytes (--max-live-state-size"),
        "{line}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // A live state over the limit; the flag raises it.
    let big = dir.path().join("big.yaml");
    let padding = format!("# {}\n", "x".repeat(2 * 1024 * 1024));
    std::fs::write(
        &big,
        format!(
            "{padding}{}",
            std::fs::read_to_string(EXAMPLE_LIVE).unwrap()
        ),
    )
    .unwrap();
    let big = big.to_str().unwrap();
    one_line_error(
        plan_live(&r, big, &["--max-live-state-size", "1MiB"])
            .try_code(2)
            .unwrap(),
        2,
    );
    plan_live(&r, big, &["--max-live-state-size", "3MiB"]).code(1);
    for bad in ["lots", "0", "1TiB", "99999999999999999999"] {
        let line = one_line_error(
            plan_live(&r, EXAMPLE_LIVE, &["--max-live-state-size", bad])
                .try_code(2)
                .unwrap(),
            2,
        );
        assert!(line.contains("--max-live-state-size"), "{line}");
    }

    // The repository: a large blob that is not YAML is never loaded; a YAML file over the limit
    // is named with the limit.
    let binary = "\0".repeat(3 * 1024 * 1024);
    let r = example_repo(&[("istio/model.bin", &binary), ("istio/README.md", "# hi\n")]);
    plan_live(&r, EXAMPLE_LIVE, &["--max-file-size", "1MiB"]).code(1);
    let yaml = format!("{padding}a: 1\n");
    let r = example_repo(&[("istio/big.yaml", &yaml)]);
    let line = one_line_error(
        plan_live(&r, EXAMPLE_LIVE, &["--max-file-size", "1MiB"])
            .try_code(2)
            .unwrap(),
        2,
    );
    assert!(line.contains("istio/big.yaml"), "{line}");
    assert!(
        line.contains("limit of 1048576 bytes per file (--max-file-size"),
        "{line}"
    );
    plan_live(&r, EXAMPLE_LIVE, &["--max-file-size", "4MiB"]).code(1);
}

#[test]
fn paths_are_normalised_and_json_and_yaml_agree() {
    let r = example_repo(&[]);
    for path in ["./istio", "istio//", "/istio", "./istio/./"] {
        istio_rollout()
            .args(["plan", "--repo", r.path().to_str().unwrap(), "--path", path])
            .args(["--live-state", EXAMPLE_LIVE])
            .assert()
            .code(1);
    }
    let line = one_line_error(
        istio_rollout()
            .args([
                "plan",
                "--repo",
                r.path().to_str().unwrap(),
                "--path",
                "../etc",
            ])
            .args(["--live-state", EXAMPLE_LIVE])
            .assert(),
        2,
    );
    assert!(line.contains("`..` is not allowed"), "{line}");

    // A CR in flow-style YAML is YAML.
    let flow = "{apiVersion: operator.kyma-project.io/v1alpha2, kind: Istio, metadata: {name: default, namespace: kyma-system}, spec: {}}\n";
    let r = example_repo(&[("istio/istio-default-cr.yaml", flow)]);
    plan_live(&r, EXAMPLE_LIVE, &[]).code(1);
    // Duplicate keys: refused in JSON as in YAML.
    let dir = tempfile::tempdir().unwrap();
    let dup = dir.path().join("dup.json");
    std::fs::write(
        &dup,
        r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x","namespace":"kyma-system"}}]}"#,
    )
    .unwrap();
    let r = example_repo(&[]);
    let line = one_line_error(
        plan_live(&r, dup.to_str().unwrap(), &[])
            .try_code(2)
            .unwrap(),
        2,
    );
    assert!(line.contains("duplicate key `namespace`"), "{line}");
    let dup_cr = r#"{"apiVersion":"operator.kyma-project.io/v1alpha2","kind":"Istio","metadata":{"name":"default","namespace":"kyma-system"},"spec":{},"spec":{"config":{}}}"#;
    let r = example_repo(&[("istio/istio-default-cr.yaml", dup_cr)]);
    let line = one_line_error(plan_live(&r, EXAMPLE_LIVE, &[]).try_code(2).unwrap(), 2);
    assert!(line.contains("duplicate key `spec`"), "{line}");
}

#[test]
fn echoed_values_are_escaped_and_capped_on_one_line() {
    let esc = "\u{1b}[31m";
    // (files of the repository, extra flags, what the error line must hold)
    type Case = (Vec<(String, String)>, Vec<String>, &'static str);
    let cases: Vec<Case> = vec![
        (
            vec![(
                "istio/istio-default-cr.yaml".into(),
                cr(&format!("\"kyma-system\\nx{}\"", "\\e[31m"), "  config: {}\n"),
            )],
            vec![],
            "\\nx\\x1b[31m",
        ),
        (
            vec![(
                "istio/istio-default-cr.yaml".into(),
                cr("kyma-system", "  config:\n    trustDomain: \"bad\\e]0;title\\a\\ndomain\"\n"),
            )],
            vec![],
            "\\x1b]0;title\\x07\\ndomain",
        ),
        (
            vec![(
                "istio/istio-default-cr.yaml".into(),
                "apiVersion: \"operator.kyma-project.io/v9\\e[2J\"\nkind: Istio\nmetadata:\n  name: default\n  namespace: kyma-system\n"
                    .to_string(),
            )],
            vec![],
            "v9\\x1b[2J",
        ),
        (
            vec![("istio/ISTIO_MODULE_VERSION".into(), format!("1.30.0{esc}\nnext\n"))],
            vec![],
            "\\x1b[31m\\nnext",
        ),
        (vec![], vec!["--ref".into(), format!("main{esc}\nx")], "\\x1b[31m\\nx"),
        (vec![], vec!["--path".into(), format!("nowhere{esc}\nx")], "\\x1b[31m\\nx"),
    ];
    for (files, flags, needle) in cases {
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let r = example_repo(&refs);
        let mut c = istio_rollout();
        c.args([
            "plan",
            "--repo",
            r.path().to_str().unwrap(),
            "--live-state",
            EXAMPLE_LIVE,
        ]);
        if !flags.iter().any(|f| f == "--path") {
            c.args(["--path", "istio"]);
        }
        let a = c.args(&flags).assert();
        let line = one_line_error(a, 2);
        assert!(line.contains(needle), "{needle}: {line}");
    }
    // A 500 KB regex is not echoed whole.
    let regex = format!("({}", "a".repeat(500 * 1024));
    let r = example_repo(&[(
        "istio/istio-default-cr.yaml",
        &cr(
            "kyma-system",
            &format!("  config:\n    proxyStatsMatcher:\n      inclusionRegexps: [\"{regex}\"]\n"),
        ),
    )]);
    let line = one_line_error(plan_live(&r, EXAMPLE_LIVE, &[]).try_code(2).unwrap(), 2);
    assert!(line.contains("inclusionRegexps[0]"), "{}", &line[..200]);
    assert!(line.len() < 4 * 1024, "{} bytes", line.len());
}

#[test]
fn a_corrupt_repository_names_the_object_and_the_path() {
    let r = example_repo(&[]);
    // Remove the blob of the CR from the object database.
    let head = r.repo.head().unwrap().peel_to_tree().unwrap();
    let entry = head
        .get_path(std::path::Path::new("istio/istio-default-cr.yaml"))
        .unwrap();
    let id = entry.id().to_string();
    let object = r.path().join(".git/objects").join(&id[..2]).join(&id[2..]);
    std::fs::remove_file(object).unwrap();
    let line = one_line_error(plan_live(&r, EXAMPLE_LIVE, &[]).try_code(2).unwrap(), 2);
    assert!(line.contains("istio/istio-default-cr.yaml"), "{line}");
    assert!(line.contains(&id), "{line}");
    assert!(!line.contains("callback returned"), "{line}");
}

/// A live state whose names try to break every rendering.
fn hostile_live() -> Vec<Value> {
    let mut objects = control_plane("1.29.3", "1.27.4");
    for name in [
        "a|b`c",
        "x</details><script>alert(1)</script>",
        "line\nbreak",
        "esc\u{1b}[2Jseq\u{1b}]8;;http://evil\u{7}",
        "@team [link](http://evil) *b* _i_",
        "rtl\u{202e}txt",
    ] {
        objects.push(pod("shop", name).version("1.29.3").build());
    }
    objects
}

#[test]
fn rendered_names_cannot_break_markdown_or_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.json");
    std::fs::write(
        &live,
        json!({"apiVersion": "v1", "kind": "List", "items": hostile_live()}).to_string(),
    )
    .unwrap();
    let r = example_repo(&[]);
    let live = live.to_str().unwrap();
    let a = plan_live(&r, live, &["-o", "markdown"]).code(1);
    let md = out(&a).0;
    // The structure is the renderer's only: as many `</details>` as `<details>`, no script.
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count(),
        "{md}"
    );
    assert!(!md.contains("<script>"), "{md}");
    assert!(!md.contains('\u{1b}') && !md.contains('\u{202e}'), "{md}");
    assert!(!md.contains("@team") && !md.contains("](http"), "{md}");
    // Each pod row has exactly the table's six cell borders.
    for row in md.lines().filter(|l| l.contains("shop/")) {
        assert_eq!(
            row.matches('|').count() - row.matches("\\|").count(),
            6,
            "{row}"
        );
    }
    // Text without colour: no ESC, no raw line break inside a name.
    for color in ["never", "always"] {
        let a = plan_live(&r, live, &["--color", color]).code(1);
        let text = out(&a).0;
        assert!(
            text.contains("esc\\x1b[2Jseq\\x1b]8;;http://evil\\x07"),
            "{text}"
        );
        assert!(
            text.contains("line\\nbreak") && text.contains("rtl\\u{202e}txt"),
            "{text}"
        );
        if color == "never" {
            assert!(!text.contains('\u{1b}'), "{text}");
        }
    }
    // Compact: the same escapes, no ESC, one line per name.
    let a = plan_live(&r, live, &["-o", "compact"]).code(1);
    let compact = out(&a).0;
    assert!(
        compact.contains("esc\\x1b[2Jseq") && compact.contains("line\\nbreak"),
        "{compact}"
    );
    assert!(
        !compact.contains('\u{1b}') && !compact.contains('\u{202e}'),
        "{compact}"
    );
    // JSON keeps the exact names (its own escaping).
    let a = plan_live(&r, live, &["-o", "json"]).code(1);
    let v: Value = serde_json::from_str(&out(&a).0).unwrap();
    assert!(v.to_string().contains("esc\\u001b[2Jseq"));
}

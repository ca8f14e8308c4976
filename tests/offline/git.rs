//! Reading the desired state from real repositories created in the test: local paths and file
//! URLs, branches, tags, commits, subdirectories, and the errors for what does not exist.

use crate::common::repo::TestRepo;
use crate::fixtures::example_repo;
use git2::{Oid, Signature, Time};
use istio_rollout::desired::git::read;
use istio_rollout::error::Error;

/// Refs and URLs of a test repository: only the tests of this binary need them.
impl TestRepo {
    /// The repository as a `file://` URL.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    pub fn branch(&self, name: &str, at: Oid) {
        self.repo
            .branch(name, &self.repo.find_commit(at).unwrap(), true)
            .unwrap();
    }

    pub fn tag(&self, name: &str, at: Oid, annotated: bool) {
        let obj = self.repo.find_object(at, None).unwrap();
        if annotated {
            let sig =
                Signature::new("Test", "test@example.com", &Time::new(1_760_000_000, 0)).unwrap();
            self.repo.tag(name, &obj, &sig, "release", false).unwrap();
        } else {
            self.repo.tag_lightweight(name, &obj, false).unwrap();
        }
    }
}

const CR_V1: &str = "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata:\n  name: default\n  namespace: kyma-system\nspec:\n  config:\n    numTrustedProxies: 1\n";
const CR_V2: &str = "apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata:\n  name: default\n  namespace: kyma-system\nspec:\n  config:\n    numTrustedProxies: 2\n";

/// main: v1 then v2 (HEAD); branch `old` and tags at v1.
fn history() -> (TestRepo, git2::Oid, git2::Oid) {
    let r = TestRepo::new();
    let c1 = r.commit(
        &[("clusters/prod/istio.yaml", CR_V1), ("README.md", "docs")],
        &[],
        "v1",
    );
    let c2 = r.commit(
        &[
            ("clusters/prod/istio.yaml", CR_V2),
            ("clusters/prod/sub/extra.yml", "kind: ConfigMap\n"),
        ],
        &[],
        "v2",
    );
    r.branch("old", c1);
    r.tag("v1-light", c1, false);
    r.tag("v1", c1, true);
    (r, c1, c2)
}

fn content(files: &[istio_rollout::desired::File], path: &str) -> String {
    let f = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not read"));
    String::from_utf8(f.contents.clone()).unwrap()
}

#[test]
fn local_path_at_every_kind_of_ref() {
    let (r, c1, c2) = history();
    let repo = r.path().to_str().unwrap();
    let cases = [
        (None, c2),
        (Some("main"), c2),
        (Some("old"), c1),
        (Some("v1"), c1),
        (Some("v1-light"), c1),
    ];
    for (reference, commit) in cases {
        let (source, files) = read(repo, reference, "clusters/prod").unwrap();
        assert_eq!(source.commit, commit.to_string(), "{reference:?}");
        assert_eq!(source.reference, reference.unwrap_or("HEAD"));
        let want = if commit == c1 { CR_V1 } else { CR_V2 };
        assert_eq!(
            content(&files, "clusters/prod/istio.yaml"),
            want,
            "{reference:?}"
        );
    }
    let by_id = read(repo, Some(&c1.to_string()), "clusters/prod").unwrap();
    assert_eq!(by_id.0.commit, c1.to_string());
    let short = read(repo, Some(&c1.to_string()[..10]), "clusters/prod").unwrap();
    assert_eq!(short.0.commit, c1.to_string());
}

#[test]
fn subdirectories_are_read_recursively_and_paths_are_repo_relative() {
    let (r, _, _) = history();
    let (source, files) = read(r.path().to_str().unwrap(), None, "/clusters/prod/").unwrap();
    assert_eq!(source.path, "clusters/prod");
    let mut paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        vec!["clusters/prod/istio.yaml", "clusters/prod/sub/extra.yml"]
    );
    let (root, all) = read(r.path().to_str().unwrap(), None, ".").unwrap();
    assert_eq!(root.path, ".");
    // Only what can hold the desired state is loaded: YAML files and the module version file.
    let mut all: Vec<&str> = all.iter().map(|f| f.path.as_str()).collect();
    all.sort();
    assert_eq!(
        all,
        vec!["clusters/prod/istio.yaml", "clusters/prod/sub/extra.yml"]
    );
}

#[test]
fn reads_the_commit_not_the_work_tree() {
    let (r, _, c2) = history();
    std::fs::write(
        r.path().join("clusters/prod/istio.yaml"),
        "uncommitted: true\n",
    )
    .unwrap();
    let (source, files) = read(r.path().to_str().unwrap(), None, "clusters/prod").unwrap();
    assert_eq!(source.commit, c2.to_string());
    assert_eq!(content(&files, "clusters/prod/istio.yaml"), CR_V2);
}

#[test]
fn file_urls_open_the_repository_in_place() {
    let (r, c1, c2) = history();
    let url = r.url();
    for (reference, commit) in [
        (None, c2),
        (Some("main"), c2),
        (Some("old"), c1),
        (Some("v1"), c1),
        (Some("v1-light"), c1),
    ] {
        let (source, files) =
            read(&url, reference, "clusters/prod").unwrap_or_else(|e| panic!("{reference:?}: {e}"));
        assert_eq!(source.commit, commit.to_string(), "{reference:?}");
        assert_eq!(source.repo, url);
        assert!(!files.is_empty());
    }
    let (source, _) = read(&url, Some(&c1.to_string()), "clusters/prod").unwrap();
    assert_eq!(source.commit, c1.to_string());
}

#[test]
fn missing_things_are_input_errors_that_say_what_was_looked_for() {
    let (r, _, _) = history();
    let repo = r.path().to_str().unwrap();
    let cases = [
        (
            read(repo, Some("nope"), "clusters/prod").unwrap_err(),
            "ref `nope` not found",
        ),
        (
            read(repo, None, "clusters/dev").unwrap_err(),
            "path `clusters/dev` does not exist",
        ),
        (
            read(repo, None, "README.md").unwrap_err(),
            "path `README.md` is not a directory",
        ),
        (
            read(&r.url(), Some("nope"), "clusters/prod").unwrap_err(),
            "nope",
        ),
        (
            read("/nonexistent/repo", None, ".").unwrap_err(),
            "not a git repository",
        ),
    ];
    for (err, expected) in cases {
        assert!(matches!(err, Error::Git(_)), "{err}");
        assert!(
            err.to_string().contains(expected),
            "{err} should contain {expected}"
        );
        assert_eq!(
            err.exit_code(),
            istio_rollout::error::ExitCode::InvalidInput
        );
    }
}

#[test]
fn credentials_in_urls_never_appear_in_errors() {
    // Nothing listens on port 1 of loopback: the connection fails at once.
    let err = read(
        "https://someone:s3cr3t-token@127.0.0.1:1/org/repo.git",
        None,
        ".",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("s3cr3t-token"), "{text}");
    assert!(text.contains("https://127.0.0.1:1/org/repo.git"), "{text}");
    assert_eq!(
        err.exit_code(),
        istio_rollout::error::ExitCode::Failure,
        "{err:?}"
    );
}

#[test]
fn the_bundled_example_reads_from_a_fresh_repository() {
    let r = example_repo(&[]);
    let (source, files) = read(r.path().to_str().unwrap(), None, "istio").unwrap();
    let d = istio_rollout::desired::parse(source, &files, &Default::default()).unwrap();
    assert_eq!(d.module_version.unwrap().to_string(), "1.30.0");
    assert_eq!(d.istio_version.unwrap().to_string(), "1.30.2");
    assert!(d.istio_version_from.contains("proxyv2"));
}

/// `git daemon` serving one repository read-only on loopback: a remote with the smart protocol.
struct GitDaemon {
    child: std::process::Child,
    url: String,
}

impl GitDaemon {
    fn serve(repo: &TestRepo) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = repo.path().parent().unwrap();
        let name = repo.path().file_name().unwrap().to_str().unwrap();
        // `git daemon` forks the daemon; run it directly so that killing it leaves nothing behind.
        let exec_path = std::process::Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("git runs")
            .stdout;
        let daemon =
            std::path::Path::new(String::from_utf8_lossy(&exec_path).trim()).join("git-daemon");
        let mut child = std::process::Command::new(daemon)
            .args(["--export-all", "--reuseaddr", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("git daemon runs (part of git; apt-get install git)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return GitDaemon {
                    child,
                    url: format!("git://127.0.0.1:{port}/{name}"),
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }

        let _ = child.kill();
        let _ = child.wait();
        panic!("git daemon did not listen on port {port}");
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn remote_urls_fetch_only_the_ref() {
    let (r, c1, c2) = history();
    let daemon = GitDaemon::serve(&r);
    for (reference, commit) in [
        (None, c2),
        (Some("main"), c2),
        (Some("old"), c1),
        (Some("v1"), c1),
        (Some("v1-light"), c1),
    ] {
        let (source, files) = read(&daemon.url, reference, "clusters/prod")
            .unwrap_or_else(|e| panic!("{reference:?}: {e}"));
        assert_eq!(source.commit, commit.to_string(), "{reference:?}");
        assert_eq!(source.repo, daemon.url);
        let want = if commit == c1 { CR_V1 } else { CR_V2 };
        assert_eq!(
            content(&files, "clusters/prod/istio.yaml"),
            want,
            "{reference:?}"
        );
    }
    let (source, _) = read(&daemon.url, Some(&c1.to_string()), "clusters/prod").unwrap();
    assert_eq!(source.commit, c1.to_string());
    let err = read(&daemon.url, Some("nope"), "clusters/prod").unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert_eq!(
        err.exit_code(),
        istio_rollout::error::ExitCode::InvalidInput,
        "{err}"
    );
}

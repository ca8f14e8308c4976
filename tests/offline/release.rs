//! The image build, cheaply: the binary starts and names its version, and the Dockerfile builds
//! what `just release-check` checks (a release build there takes minutes; CI does not run it).

use crate::common::cli::istio_rollout;
use std::path::PathBuf;

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn binary_starts_and_names_its_version() {
    let out = istio_rollout().arg("--version").output().unwrap();
    assert!(out.status.success());
    let prefix = format!("istio-rollout {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&prefix),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The image names its commit although its build context has no .git: the Dockerfile passes it
/// to build.rs as a build argument, and copies build.rs.
#[test]
fn dockerfile_stamps_the_commit() {
    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.lines().any(|l| l == "ARG ISTIO_ROLLOUT_COMMIT="));
    assert!(dockerfile.contains("COPY Cargo.toml Cargo.lock build.rs ./"));
    assert!(repo_file("build.rs").contains("\"ISTIO_ROLLOUT_COMMIT\""));
}

#[test]
fn license_and_changelog() {
    let license = repo_file("LICENSE");
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));
    assert!(
        license.contains("END OF TERMS AND CONDITIONS"),
        "the full text"
    );
    assert!(repo_file("Cargo.toml").contains("license = \"Apache-2.0\""));
    // Keep a Changelog: the newest version section first, the present version of Cargo.toml.
    let changelog = repo_file("CHANGELOG.md");
    assert!(changelog.starts_with("# Changelog\n"));
    assert!(changelog.contains("[Keep a Changelog]"));
    let first = changelog
        .lines()
        .find(|l| l.starts_with("## ["))
        .expect("a version section");
    assert!(
        first.starts_with(&format!("## [{}]", env!("CARGO_PKG_VERSION"))),
        "CHANGELOG.md starts with the version in Cargo.toml: {first}"
    );
    for line in changelog.lines().filter(|l| l.starts_with("### ")) {
        assert!(
            [
                "### Added",
                "### Changed",
                "### Deprecated",
                "### Removed",
                "### Fixed",
                "### Security"
            ]
            .contains(&line),
            "CHANGELOG.md: {line} is not a Keep a Changelog heading"
        );
    }
}

#[test]
fn dockerfile_matches_release_check() {
    let dockerfile = repo_file("Dockerfile");
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    let runtime = froms[1];
    assert!(
        runtime.starts_with("gcr.io/distroless/"),
        "the runtime image is distroless: {runtime}"
    );
    // glibc builds run only on a glibc at least as new: build and runtime share the release.
    if runtime.contains("/cc-debian12") {
        assert!(
            froms[0].contains("bookworm"),
            "build on bookworm for cc-debian12"
        );
    }
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER line");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric USER");
    assert_ne!(uid, 0, "the image runs as a non-root user");
    for needle in [
        "LIBZ_SYS_STATIC=1",
        "cargo build --release --locked --bin istio-rollout",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile: {needle}");
        assert!(
            repo_file("Justfile").contains(needle),
            "Justfile release-check: {needle}"
        );
    }
    // The toolchain of the image is at least the crate's rust-version.
    let cargo = repo_file("Cargo.toml");
    let wanted = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    let image = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .expect("ARG RUST_VERSION=");
    let minor = |v: &str| -> u32 { v.split('.').nth(1).unwrap().parse().unwrap() };
    assert!(
        minor(image) >= minor(wanted),
        "RUST_VERSION {image} is older than rust-version {wanted}"
    );
    // The build context holds what cargo needs for the workspace.
    let ignore = repo_file(".dockerignore");
    for path in [
        "!Cargo.toml",
        "!Cargo.lock",
        "!build.rs",
        "!src/",
        "!testenv/",
    ] {
        assert!(
            ignore.lines().any(|l| l == path),
            ".dockerignore lets {path} through"
        );
    }
}

//! The pull-request workflow example (`examples/github-actions/`).

use crate::common::manifests::*;
use serde_json::json;
use std::process::Command;

const WORKFLOW: &str = "examples/github-actions/istio-rollout-plan.yaml";

/// The pull-request workflow: only actions/checkout, actions/upload-artifact (the full JSON
/// plan, linked from the comment) and `gh`, shell steps that parse, no
/// `${{ }}` expansion inside scripts (values go through env), one marker to find the comment
/// again, and the plan in markdown with its exit code.
#[test]
fn pull_request_workflow_is_sound() {
    let path = repo().join(WORKFLOW);
    let text = read(&path);
    let wf = yaml_docs(&text, WORKFLOW).remove(0);
    assert!(
        wf["on"]["pull_request"].is_object(),
        "{WORKFLOW}: runs on pull_request (quote the `on` key: YAML 1.1 reads it as a boolean)"
    );
    assert_eq!(wf["permissions"]["pull-requests"], "write");
    let jobs = wf["jobs"].as_object().expect("jobs");
    let mut scripts = String::new();
    let mut uploads = Vec::new();
    for (name, job) in jobs {
        assert!(job["runs-on"].is_string(), "job {name}: runs-on");
        for step in job["steps"].as_array().expect("steps") {
            if let Some(uses) = step["uses"].as_str() {
                assert!(
                    uses.starts_with("actions/checkout@")
                        || uses.starts_with("actions/upload-artifact@"),
                    "job {name}: {uses}: only actions/checkout and actions/upload-artifact are used; the rest is gh and docker"
                );
                if uses.starts_with("actions/upload-artifact@") {
                    uploads.push(step.clone());
                }
                continue;
            }
            let run = step["run"]
                .as_str()
                .unwrap_or_else(|| panic!("job {name}: a step without uses or run"));
            assert!(
                !run.contains("${{"),
                "job {name}, step {}: pass values through env, not ${{{{ }}}} in the script",
                step["name"]
            );
            let out = Command::new("bash")
                .args(["-n", "-c", run])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "job {name}, step {}: bash -n: {}",
                step["name"],
                String::from_utf8_lossy(&out.stderr)
            );
            scripts.push_str(run);
        }
    }
    // The full plan as JSON, uploaded, and the comment links to it.
    assert_eq!(uploads.len(), 1, "one upload of the full plan");
    assert!(
        uploads[0]["with"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("plan.json")),
        "{:?}",
        uploads[0]
    );
    assert!(
        scripts.contains("--output json"),
        "the JSON plan is rendered"
    );
    assert!(
        scripts.contains("$PLAN_URL"),
        "the comment links to the artifact"
    );
    let env = &jobs["plan"]["env"];
    let marker = env["MARKER"].as_str().expect("env MARKER");
    assert!(
        marker.starts_with("<!--") && marker.ends_with("-->"),
        "the marker is hidden"
    );
    for needle in [
        "plan --repo",
        "--output markdown",
        "--live-state",
        "--kubeconfig",
        "startswith(\\\"$MARKER\\\")",
        "--method PATCH",
        "--method POST",
        "echo \"$MARKER\"",
        "exit-code=",
    ] {
        assert!(
            scripts.contains(needle),
            "{WORKFLOW}: the scripts use `{needle}`"
        );
    }
    // The live-state file and the paths the workflow triggers on agree.
    let live = env["LIVE_STATE"].as_str().unwrap();
    let istio_path = env["ISTIO_PATH"].as_str().unwrap();
    let paths = wf["on"]["pull_request"]["paths"].as_array().unwrap();
    assert!(paths.iter().any(|p| p == live));
    assert!(
        paths
            .iter()
            .any(|p| p == &json!(format!("{istio_path}/**")))
    );
}

const RELEASE: &str = "examples/github-actions/istio-rollout-release.yaml";

/// Both example workflows pass a real actionlint (built from the Go module proxy,
/// `hack/cluster/build-tools.sh`): expressions, contexts, action inputs, job permissions.
/// shellcheck is left out (no registry ships it for every machine); `bash -n` covers the scripts.
#[test]
fn both_workflows_pass_actionlint() {
    for wf in [WORKFLOW, RELEASE] {
        let out = Command::new(actionlint())
            .args(["-no-color", "-shellcheck=", "-pyflakes="])
            .arg(repo().join(wf))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "actionlint {wf}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And actionlint is no rubber stamp: a job without runs-on fails it.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  x:\n    steps:\n      - run: echo ${{ github.nope }}\n",
    )
    .unwrap();
    let out = Command::new(actionlint())
        .arg("-shellcheck=")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "actionlint rejects a broken workflow"
    );
}

/// The release workflow: on a version tag, builds the binary, an SBOM, checksums, and an image
/// signed with cosign, and publishes them with the CHANGELOG section as notes.
#[test]
fn release_workflow_is_sound() {
    let text = read(&repo().join(RELEASE));
    let wf = yaml_docs(&text, RELEASE).remove(0);
    assert_eq!(wf["on"]["push"]["tags"], json!(["v*"]));
    let job = &wf["jobs"]["release"];
    for (perm, level) in [
        ("contents", "write"),
        ("packages", "write"),
        ("id-token", "write"),
    ] {
        assert_eq!(job["permissions"][perm], level, "permissions.{perm}");
    }
    let steps = job["steps"].as_array().unwrap();
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    for action in [
        "actions/checkout@",
        "docker/build-push-action@",
        "anchore/sbom-action@",
        "sigstore/cosign-installer@",
    ] {
        assert!(
            uses.iter().any(|u| u.starts_with(action)),
            "{RELEASE}: uses {action}"
        );
    }
    let mut scripts = String::new();
    for step in steps {
        if let Some(run) = step["run"].as_str() {
            assert!(
                !run.contains("${{"),
                "{RELEASE}, step {}: values go through env",
                step["name"]
            );
            let out = Command::new("bash")
                .args(["-n", "-c", run])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{RELEASE}, step {}: bash -n",
                step["name"]
            );
            scripts.push_str(run);
        }
    }
    for needle in [
        "cargo build --release --locked --bin istio-rollout",
        "sha256sum",
        "cosign sign",
        "cosign attest",
        "gh release create",
        "CHANGELOG.md",
        "ISTIO_ROLLOUT_COMMIT=",
    ] {
        assert!(
            scripts.contains(needle),
            "{RELEASE}: the scripts use `{needle}`"
        );
    }
}

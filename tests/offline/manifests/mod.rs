//! The deployment manifests (`manifests/`) and the pull-request workflow example
//! (`examples/github-actions/`), checked without a cluster (the kustomizations are rendered with
//! the test cluster's pinned `kubectl kustomize`, built by `just cluster-build`):
//!
//! - every file under manifests/ is part of a kustomization or a known standalone file (here);
//! - the Jobs and the CronJob follow the rules of a control Job ([`jobs`]);
//! - Argo CD and Flux objects (Application, Kustomization, the argocd-cm snippet) cannot be sent
//!   to the test cluster (no such CRDs): their structure and their agreement with the Jobs are
//!   asserted instead ([`argocd`], [`flux`]), the Argo CD health check runs in Lua;
//! - the GitHub workflow example is sound ([`workflow`]).
//!
//! What needs the API server (strict dry runs, Pod Security, RBAC, the Jobs' commands run as the
//! ServiceAccount) is in `tests/cluster/manifests/`.

mod argocd;
mod chart;
mod flux;
mod gate;
mod jobs;
mod workflow;

use crate::common::manifests::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn env_value(container: &Value, name: &str) -> Option<String> {
    env_of(container)
        .get(name)
        .and_then(|e| e["value"].as_str().map(String::from))
}

fn seconds(duration: &str) -> u64 {
    humantime::parse_duration(duration)
        .unwrap_or_else(|e| panic!("{duration}: {e}"))
        .as_secs()
}

/// Every YAML file under manifests/ parses, and is either used by a kustomization or one of the
/// standalone files this test knows about: nothing escapes the checks below.
#[test]
fn every_manifest_file_is_checked() {
    let mut used = BTreeSet::new();
    for dir in KUSTOMIZATIONS {
        let k = one(&format!("{dir}/kustomization.yaml"));
        assert_eq!(k["kind"], "Kustomization", "{dir}/kustomization.yaml");
        for r in k["resources"].as_array().expect("resources") {
            let r = r.as_str().unwrap();
            if !r.starts_with("..") {
                used.insert(format!("{dir}/{r}"));
            }
        }
        used.insert(format!("{dir}/kustomization.yaml"));
    }
    let known: BTreeSet<String> = STANDALONE.iter().map(|(f, _)| f.to_string()).collect();
    let mut stack = vec![manifests()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(manifests())
                .unwrap()
                .to_string_lossy()
                .to_string();
            assert!(
                rel.ends_with(".yaml"),
                "manifests/{rel}: only .yaml files belong here"
            );
            for doc in yaml_docs(&read(&path), &rel) {
                assert!(
                    doc["apiVersion"].is_string() && doc["kind"].is_string(),
                    "manifests/{rel}: every document needs apiVersion and kind"
                );
            }
            assert!(
                used.contains(&rel) || known.contains(&rel),
                "manifests/{rel} is neither in a kustomization of {KUSTOMIZATIONS:?} nor one of the \
                 standalone files of tests/common/manifests.rs; add it to one of them"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, used.len() + known.len(), "a listed file is missing");
}

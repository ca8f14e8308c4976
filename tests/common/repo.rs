//! Real git repositories made in a test (git2), with fixed signatures so commit ids are stable.
#![allow(dead_code)]

use git2::{Oid, Repository, Signature, Time};
use std::path::Path;

pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_opts(
            dir.path(),
            git2::RepositoryInitOptions::new().initial_head("main"),
        )
        .unwrap();
        TestRepo { dir, repo }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    /// Writes `files` (path, contents) into the work tree, removes `remove`, and commits all.
    pub fn commit(&self, files: &[(&str, &str)], remove: &[&str], message: &str) -> Oid {
        for (p, c) in files {
            let full = self.dir.path().join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, c).unwrap();
        }
        for p in remove {
            std::fs::remove_file(self.dir.path().join(p)).unwrap();
        }
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.update_all(["*"].iter(), None).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let n = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let seconds = 1_760_000_000
            + n.as_ref()
                .map_or(0, |c| c.time().seconds() - 1_760_000_000 + 60);
        let sig = Signature::new("Test", "test@example.com", &Time::new(seconds, 0)).unwrap();
        let parents: Vec<&git2::Commit> = n.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap()
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

/// The bundled example's desired files, as (path, contents), placed under `dir`.
pub fn example_files(dir: &str) -> Vec<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/gitops/istio");
    ["istio-manager.yaml", "istio-default-cr.yaml"]
        .iter()
        .map(|f| {
            (
                format!("{dir}/{f}"),
                std::fs::read_to_string(format!("{root}/{f}")).unwrap(),
            )
        })
        .collect()
}

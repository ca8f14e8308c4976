//! Real git repositories made in a test (git2), with fixed signatures so commit ids are stable.
//! Branches, tags and URLs are added in `tests/offline/git.rs`, the one binary that needs them.

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
}

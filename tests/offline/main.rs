//! Every integration test that needs no cluster, in one binary (`cargo test --test offline`):
//! the planner's tables, the renderings (insta snapshots), the CLI, git, the manifests'
//! structure and the release image. Real git repositories and the pinned `kubectl kustomize`
//! (`just cluster-build`) are all it needs; it runs in seconds.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod fixtures;
mod gate;
mod git;
mod habits;
mod hostile;
mod manifests;
mod monitoring;
mod planner;
mod props;
mod release;
mod render;

//! Helpers shared by the two test binaries, `tests/offline` and `tests/cluster` (each includes
//! this directory as its `common` module).

pub mod cli;
pub mod manifests;
pub mod repo;

//! Every integration test of the main crate that runs against the throwaway test cluster (a real
//! control plane with the simulated Istio module), in one binary (`cargo test --test cluster`).
//! `just test` and `just cluster-test` start the cluster and set `ISTIO_ROLLOUT_TEST_KUBECONFIG`
//! (see `hack/cluster/with-cluster.sh`); without it the first test starts one itself or fails
//! with the command that does.
//!
//! The tests share the one cluster of this process ([`istio_rollout_testenv::Cluster::shared`]),
//! each in namespaces of its own; those that read or change the simulated Istio (versions,
//! injector settings) take `cluster.sim()`, a lock that runs them one at a time.

#[path = "../common/mod.rs"]
mod common;

mod apply;
mod beside;
mod cr;
mod deadline;
mod gate;
mod health;
mod kinds;
mod lease;
mod manifests;
mod operator_view;
mod read;
mod rules;
mod safety;
mod support;

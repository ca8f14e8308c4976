//! A throwaway, real Kubernetes control plane with a simulated Kyma Istio module, for the
//! integration tests, benchmarks and demos of `istio-rollout`.
//!
//! - [`cluster`]: the test fixture. [`Cluster::shared`] gives every test of a process the same
//!   running cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
//!   started by `hack/cluster/up.sh`), a fresh namespace per test and clients, including one
//!   that acts as a ServiceAccount.
//! - [`sim`]: the simulated Istio module: the Istio CR, control-plane Deployments, injector
//!   settings, and functions to play the operator (upgrade, CR status).
//! - [`injector`]: the sidecar injector, a mutating admission webhook (`sim-istio injector`).
//! - [`operator`]: the simulated operator (`sim-istio operator`), passive or autonomous.
//! - [`faults`]: a fault-injecting TLS proxy in front of the API server, for the chaos tests.
//! - [`wait`]: waits by `kubectl rollout status` rules, with deadlines.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use istio_rollout_testenv::Cluster;
//! let cluster = Cluster::shared();
//! let ns = cluster.namespace("my-test", true).await?;
//! let client = cluster.client().await?;
//! let sim = cluster.sim().await?; // exclusive, reset to the default versions
//! sim.upgrade("1.29.0", "1.30.2").await?;
//! # Ok(()) }
//! ```

pub mod cluster;
pub mod faults;
pub mod injector;
pub mod operator;
pub mod sim;
pub mod wait;

pub use cluster::{Cluster, SimGuard, TestNamespace};
pub use injector::InjectorSettings;
pub use sim::Sim;

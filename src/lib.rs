//! `istio-rollout`: plans (and applies) the restarts of Istio-injected workloads that a change of the
//! Kyma Istio module or its `Istio` CR requires.
//!
//! Layout: `desired` (git) and `live` (snapshot or cluster) read inputs at the edges; `plan` is the
//! pure decision; `render` turns a plan into text, markdown or JSON; `app` sequences them.
pub mod app;
pub mod apply;
pub mod cli;
pub mod config;
pub mod desired;
pub mod documents;
pub mod error;
pub mod escape;
pub mod http;
pub mod istio;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod plan;
pub mod poll;
pub mod redact;
pub mod render;
pub mod selector;

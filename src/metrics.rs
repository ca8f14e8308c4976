//! The metrics of an `apply` run, pushed to a Pushgateway (`--pushgateway-url`) once at its end,
//! whether it succeeded or failed: what a CronJob's runs did, for alerts and a dashboard
//! (manifests/monitoring). Rendered in Prometheus' text format 0.0.4 (what the Pushgateway reads)
//! by the `prometheus` crate; pushed with `POST /metrics/job/istio-rollout`, which replaces the
//! metrics of the same names only, so the last success time of an earlier run stays when this
//! one failed. A Pushgateway that cannot be reached is a warning, never a failed run.

use crate::apply::{EntryResult, Report};
use crate::error::ExitCode;
use crate::http::BaseUrl;
use prometheus::{Encoder, Gauge, GaugeVec, Opts, Registry, TextEncoder};
use std::time::Duration;

/// The Pushgateway job the metrics are grouped under.
pub const JOB: &str = "istio-rollout";
/// Every metric's name starts with this.
pub const PREFIX: &str = "istio_rollout";
/// The limit of the push (connecting, sending, the answer).
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// What one run ended with.
pub struct Run<'a> {
    /// The report, when the run got as far as acting (none: it failed before, e.g. git, the
    /// cluster, or a health gate that never opened).
    pub report: Option<&'a Report>,
    pub exit: ExitCode,
    pub seconds: f64,
    /// When it ended, in seconds since the epoch.
    pub finished_at: f64,
}

impl Run<'_> {
    /// Done and nothing failed (exit 0; `--strict`'s exit 4 is a failure too).
    pub fn succeeded(&self) -> bool {
        self.exit == ExitCode::Clean
    }
}

/// The metrics of `run` in the text format.
pub fn render(run: &Run) -> String {
    let registry = Registry::new();
    let gauge = |name: &str, help: &str, value: f64| {
        let g = Gauge::with_opts(Opts::new(format!("{PREFIX}_{name}"), help)).expect("valid");
        g.set(value);
        registry.register(Box::new(g)).expect("registered once");
    };
    gauge(
        "last_run_timestamp_seconds",
        "When the last apply run ended (Unix time).",
        run.finished_at,
    );
    gauge(
        "last_run_duration_seconds",
        "How long the last apply run took.",
        run.seconds,
    );
    gauge(
        "last_run_success",
        "1 when the last apply run ended with exit code 0, else 0.",
        if run.succeeded() { 1.0 } else { 0.0 },
    );
    gauge(
        "last_run_exit_code",
        "The exit code of the last apply run (README: exit codes).",
        f64::from(run.exit.code()),
    );
    if run.succeeded() {
        gauge(
            "last_success_timestamp_seconds",
            "When the last successful apply run ended (Unix time).",
            run.finished_at,
        );
    }
    if let Some(report) = run.report {
        let by_result = GaugeVec::new(
            Opts::new(
                format!("{PREFIX}_workloads"),
                "Workloads of the last apply run that got as far as acting, by result.",
            ),
            &["result"],
        )
        .expect("valid");
        for r in EntryResult::ALL {
            by_result
                .with_label_values(&[r.as_str()])
                .set(report.count(r) as f64);
        }
        registry
            .register(Box::new(by_result))
            .expect("registered once");
        if let Some(left) = &report.remaining {
            let pending = GaugeVec::new(
                Opts::new(
                    format!("{PREFIX}_workloads_pending"),
                    "Workloads still needing an action after the last apply run, by action.",
                ),
                &["action"],
            )
            .expect("valid");
            for (action, n) in [
                ("restart", left.restart),
                ("evict", left.evict),
                ("wait", left.wait),
                ("manual", left.manual),
                ("blocked", left.blocked),
            ] {
                pending.with_label_values(&[action]).set(n as f64);
            }
            registry
                .register(Box::new(pending))
                .expect("registered once");
        }
    }
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("the text encoder writes into memory");
    String::from_utf8(out).expect("the text format is UTF-8")
}

/// Pushes `run`'s metrics; a failure is logged as a warning (it names the URL, redacted).
pub async fn push(url: &BaseUrl, run: &Run<'_>) {
    let path = format!("/metrics/job/{JOB}");
    let body = render(run).into_bytes();
    let answer = crate::http::request(
        url,
        hyper::Method::POST,
        &path,
        Some(TextEncoder::new().format_type()),
        body,
        PUSH_TIMEOUT,
    )
    .await;
    let target = crate::redact::url(&url.join(&path));
    match answer {
        Ok(a) if (200..300).contains(&a.status) => {
            tracing::info!(pushgateway = %target, "metrics pushed");
        }
        Ok(a) => tracing::warn!(
            pushgateway = %target,
            status = a.status,
            answer = %crate::escape::cap(&String::from_utf8_lossy(&a.body), 200),
            "the Pushgateway refused the metrics; the run's outcome stands"
        ),
        Err(e) => tracing::warn!(
            pushgateway = %target,
            error = %e,
            "the metrics could not be pushed; the run's outcome stands"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_has_no_success_time_and_no_workloads_without_a_report() {
        let text = render(&Run {
            report: None,
            exit: ExitCode::HealthGate,
            seconds: 12.5,
            finished_at: 1_800_000_000.0,
        });
        assert!(
            text.contains("istio_rollout_last_run_exit_code 7\n"),
            "{text}"
        );
        assert!(
            text.contains("istio_rollout_last_run_success 0\n"),
            "{text}"
        );
        assert!(!text.contains("last_success_timestamp"), "{text}");
        assert!(!text.contains("istio_rollout_workloads"), "{text}");
        assert!(
            text.contains("# TYPE istio_rollout_last_run_duration_seconds gauge\n"),
            "{text}"
        );
    }
}

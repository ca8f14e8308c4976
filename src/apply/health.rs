//! Health gates in kured's vocabulary: `--prometheus-url` (any active alert blocks, except those
//! `--alert-filter-regexp` filters out; `--alert-firing-only` ignores pending ones) and
//! `--blocking-pod-selector` (any matching pod blocks). [`Gate::check`] asks once;
//! [`Gate::wait_open`] pauses while the gate is closed, asking again every `--health-interval`,
//! and gives up after `--health-timeout` of being closed. Prometheus that cannot be asked counts
//! as closed (fails closed) unless `--health-fail-open`.

use crate::error::{Error, Result};
use crate::http::BaseUrl;
use crate::live::cluster::{Stats, retry};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};
use regex::Regex;
use serde::Deserialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The gate's settings (validated flags).
#[derive(Clone, Debug)]
pub struct HealthOptions {
    /// `--prometheus-url`: its active alerts block.
    pub prometheus: Option<BaseUrl>,
    /// `--alert-filter-regexp`: alerts whose name matches are ignored.
    pub alert_filter: Option<Regex>,
    /// `--alert-filter-match-only`: only alerts whose name matches `alert_filter` block.
    pub alert_filter_match_only: bool,
    /// `--alert-firing-only`: pending alerts (not yet past their `for`) do not block.
    pub firing_only: bool,
    /// `--blocking-pod-selector`s (their text, as given): a matching pod blocks.
    pub blocking_pods: Vec<(String, kube::core::Selector)>,
    /// `--health-interval`: how often a closed gate is asked again.
    pub interval: Duration,
    /// `--health-timeout`: how long a closed gate is waited for before the run stops.
    pub timeout: Duration,
    /// `--health-fail-open`: a Prometheus that cannot be asked does not block.
    pub fail_open: bool,
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Open,
    /// Why, one reason per alert or pod (a few of each, then how many more).
    Closed(Vec<String>),
}

/// A gate of one run: its settings and, once it stopped the run, why (later starts stop at once).
#[derive(Debug)]
pub struct Gate {
    pub options: HealthOptions,
    stopped: Mutex<Option<String>>,
}

/// Alerts or pods named in a reason, at most; then how many more.
const SHOWN: usize = 5;
/// The limit of one request to Prometheus.
const PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(10);

impl Gate {
    pub fn new(options: HealthOptions) -> Self {
        Gate {
            options,
            stopped: Mutex::new(None),
        }
    }

    /// Why the gate stopped the run, once it did.
    pub fn stopped(&self) -> Option<String> {
        self.stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Asks Prometheus and the API server once. An error: Prometheus or the API server could not
    /// be asked (a Prometheus error is no error with `--health-fail-open`: it is logged).
    pub async fn check(&self, client: &Client) -> Result<Verdict> {
        let mut reasons = Vec::new();
        if let Some(url) = &self.options.prometheus {
            match alerts(url).await {
                Ok(all) => reasons.extend(self.blocking_alerts(&all)),
                Err(e) if self.options.fail_open => {
                    tracing::warn!(error = %crate::error::report(&e), "health gate: Prometheus could not be asked; going on (--health-fail-open)");
                }
                Err(e) => return Err(e),
            }
        }
        for (text, selector) in &self.options.blocking_pods {
            let pods: Api<Pod> = Api::all(client.clone());
            let lp = ListParams::default()
                .labels_from(selector)
                .limit(SHOWN as u32 + 1);
            let what = format!("list pods matching --blocking-pod-selector {text}");
            let list = retry(&mut Stats::default(), &what, || pods.list_metadata(&lp)).await?;
            let more = list
                .metadata
                .continue_
                .as_deref()
                .is_some_and(|c| !c.is_empty())
                || list.items.len() > SHOWN;
            let mut names: Vec<String> = list
                .items
                .iter()
                .take(SHOWN)
                .map(|p| {
                    format!(
                        "{}/{}",
                        p.metadata.namespace.as_deref().unwrap_or_default(),
                        p.metadata.name.as_deref().unwrap_or_default()
                    )
                })
                .collect();
            if names.is_empty() {
                continue;
            }
            if more {
                names.push("and more".into());
            }
            reasons.push(format!(
                "pods matching --blocking-pod-selector {text}: {}",
                names.join(", ")
            ));
        }
        Ok(if reasons.is_empty() {
            Verdict::Open
        } else {
            Verdict::Closed(reasons)
        })
    }

    /// The alerts that block, in words: those active (or firing only), filtered by name.
    fn blocking_alerts(&self, all: &[Alert]) -> Vec<String> {
        let o = &self.options;
        let blocking: Vec<&Alert> = all
            .iter()
            .filter(|a| a.state == "firing" || (a.state == "pending" && !o.firing_only))
            .filter(|a| match &o.alert_filter {
                None => true,
                Some(re) => re.is_match(a.name()) == o.alert_filter_match_only,
            })
            .collect();
        if blocking.is_empty() {
            return Vec::new();
        }
        let mut names: Vec<String> = blocking
            .iter()
            .take(SHOWN)
            .map(|a| format!("{} ({})", a.name(), a.state))
            .collect();
        if blocking.len() > SHOWN {
            names.push(format!("and {} more", blocking.len() - SHOWN));
        }
        let url = o
            .prometheus
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_default();
        vec![format!(
            "alerts active in Prometheus {url}: {}",
            names.join(", ")
        )]
    }

    /// Returns once the gate is open. While it is closed, logs why and asks again every
    /// `--health-interval`; closed for `--health-timeout`, the run stops: the error says why, and
    /// every later call returns it at once.
    pub async fn wait_open(&self, client: &Client) -> Result<()> {
        if let Some(why) = self.stopped() {
            return Err(Error::HealthGate(why));
        }
        let o = &self.options;
        let mut closed_since: Option<Instant> = None;
        loop {
            let reasons = match self.check(client).await {
                Ok(Verdict::Open) => {
                    if let Some(since) = closed_since {
                        tracing::info!(
                            paused_seconds = since.elapsed().as_secs(),
                            "health gate open again: going on"
                        );
                    }
                    return Ok(());
                }
                Ok(Verdict::Closed(reasons)) => reasons,
                // Fails closed: what could not be asked is no sign of health.
                Err(e) => vec![crate::error::report(&e)],
            };
            let since = *closed_since.get_or_insert_with(Instant::now);
            let waited = since.elapsed();
            let why = reasons.join("; ");
            if waited >= o.timeout {
                let why = format!(
                    "health gate closed for {} s (--health-timeout {}): {why}",
                    waited.as_secs(),
                    humantime::format_duration(o.timeout)
                );
                tracing::warn!("{why}: stopping; no more workloads are started");
                *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
                return Err(Error::HealthGate(why));
            }
            tracing::warn!(
                closed_seconds = waited.as_secs(),
                "health gate closed: {why}; pausing, checking again in {}, stopping after --health-timeout {}",
                humantime::format_duration(o.interval),
                humantime::format_duration(o.timeout)
            );
            tokio::time::sleep(o.interval.min(o.timeout - waited)).await;
        }
    }
}

/// Waits for the gate of `opts` to open (at once without one). Called before anything is
/// changed and before each workload starts (see the executor's marked call site).
pub async fn before_start(client: &Client, opts: &super::ApplyOptions) -> Result<()> {
    match &opts.health {
        None => Ok(()),
        Some(gate) => gate.wait_open(client).await,
    }
}

/// One alert of `GET /api/v1/alerts` (the fields the gate reads).
#[derive(Debug, Deserialize)]
struct Alert {
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    /// `pending` or `firing`.
    state: String,
}

impl Alert {
    fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

#[derive(Debug, Deserialize)]
struct AlertsAnswer {
    status: String,
    #[serde(default)]
    data: Option<AlertsData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AlertsData {
    alerts: Vec<Alert>,
}

/// The active alerts of Prometheus (`GET /api/v1/alerts`). The error names the URL.
async fn alerts(url: &BaseUrl) -> Result<Vec<Alert>> {
    let full = url.join("/api/v1/alerts");
    let fail = |why: String| {
        Error::HealthGate(format!(
            "health gate: Prometheus {} could not be asked for its alerts: {why}",
            crate::redact::url(&full)
        ))
    };
    let answer = crate::http::request(
        url,
        hyper::Method::GET,
        "/api/v1/alerts",
        None,
        Vec::new(),
        PROMETHEUS_TIMEOUT,
    )
    .await
    .map_err(fail)?;
    if !(200..300).contains(&answer.status) {
        return Err(fail(format!("HTTP status {}", answer.status)));
    }
    let parsed: AlertsAnswer = serde_json::from_slice(&answer.body)
        .map_err(|e| fail(format!("not a Prometheus alerts answer ({e})")))?;
    match parsed {
        AlertsAnswer {
            status,
            data: Some(data),
            ..
        } if status == "success" => Ok(data.alerts),
        AlertsAnswer { status, error, .. } => Err(fail(format!(
            "status {status}: {}",
            error.unwrap_or_default()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(filter: Option<&str>, match_only: bool, firing_only: bool) -> Gate {
        Gate::new(HealthOptions {
            prometheus: Some(BaseUrl::parse("http://prom:9090").unwrap()),
            alert_filter: filter.map(|f| Regex::new(f).unwrap()),
            alert_filter_match_only: match_only,
            firing_only,
            blocking_pods: Vec::new(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            fail_open: false,
        })
    }

    fn answer() -> Vec<Alert> {
        let body = r#"{"status":"success","data":{"alerts":[
            {"labels":{"alertname":"Watchdog","severity":"none"},"annotations":{},"state":"firing","activeAt":"2026-12-02T10:00:00Z","value":"1e+00"},
            {"labels":{"alertname":"KubePodCrashLooping"},"annotations":{},"state":"pending","activeAt":"2026-12-02T10:00:00Z","value":"1e+00"},
            {"labels":{"alertname":"NodeDown"},"annotations":{},"state":"firing","activeAt":"2026-12-02T10:00:00Z","value":"1e+00"}]}}"#;
        let parsed: AlertsAnswer = serde_json::from_str(body).unwrap();
        parsed.data.unwrap().alerts
    }

    #[test]
    fn active_alerts_block_unless_filtered_out_as_kured_does() {
        let all = answer();
        let r = gate(None, false, false).blocking_alerts(&all);
        assert_eq!(
            r,
            [
                "alerts active in Prometheus http://prom:9090: Watchdog (firing), KubePodCrashLooping (pending), NodeDown (firing)"
            ]
        );
        // Matching names are ignored.
        let r = gate(Some("^(Watchdog|NodeDown)$"), false, false).blocking_alerts(&all);
        assert_eq!(
            r,
            ["alerts active in Prometheus http://prom:9090: KubePodCrashLooping (pending)"]
        );
        // Firing only: the pending one does not block either.
        assert!(
            gate(Some("^(Watchdog|NodeDown)$"), false, true)
                .blocking_alerts(&all)
                .is_empty()
        );
        // Match only: only matching names block.
        let r = gate(Some("^Node"), true, false).blocking_alerts(&all);
        assert_eq!(
            r,
            ["alerts active in Prometheus http://prom:9090: NodeDown (firing)"]
        );
    }

    #[test]
    fn many_alerts_are_named_a_few_then_counted() {
        let alerts: Vec<Alert> = (0..8)
            .map(|i| Alert {
                labels: [("alertname".to_string(), format!("A{i}"))].into(),
                state: "firing".into(),
            })
            .collect();
        let r = gate(None, false, false).blocking_alerts(&alerts);
        assert!(r[0].ends_with("A4 (firing), and 3 more"), "{r:?}");
    }
}

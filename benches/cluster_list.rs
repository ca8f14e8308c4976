//! An experiment for BENCHMARKS.md (scenario 1): how the cluster reader could list pods more
//! cheaply. Lists every pod of the cluster in `KUBECONFIG` page by page, three ways, and
//! prints wall time and peak resident memory growth of each:
//!
//! - `typed`: `Api<Pod>::list`, full `k8s_openapi` Pods (what `src/live/cluster.rs` did before it
//!   adopted `slim`);
//! - `typed-rv0`: the same with `resourceVersion=0` (`ListParams::match_any`): any version the
//!   API server's watch cache holds, no quorum read;
//! - `slim`: the same requests, each page deserialized into `live::wire::PodObject`, only the
//!   fields the planner reads (serde skips the rest without allocating): what the tool does.
//!
//! `KUBECONFIG=... cargo bench --bench cluster_list`; `BENCH_REPEAT` runs per variant (default 3),
//! `BENCH_LIST_VARIANTS` (default `typed typed-rv0 slim`), `BENCH_LIST_PAGE` objects per request
//! (default 500; the tool uses 100; 0: everything in one response). The peak resident set of the whole
//! process (`VmHWM`) is printed too: run one variant per process to compare peaks.
//! Without a reachable cluster it says so and exits 0.
use istio_rollout::live::wire::PodObject;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::core::{ObjectList, Request};
use std::time::Instant;

/// Peak resident memory (VmHWM) in KiB; `reset` sets the peak to the current RSS first.
fn hwm(reset: bool) -> u64 {
    if reset {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
/// The peak resident set since the process started (never reset: `clear_refs` is only written
/// when a variant starts, so this is read before the next one).
fn hwm_total() -> u64 {
    hwm(false)
}

fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn page() -> u32 {
    std::env::var("BENCH_LIST_PAGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

fn params() -> ListParams {
    match page() {
        0 => ListParams::default(),
        n => ListParams::default().limit(n),
    }
}

async fn typed(client: &kube::Client, rv0: bool) -> anyhow::Result<(usize, usize)> {
    let api: Api<Pod> = Api::all(client.clone());
    let (mut n, mut requests, mut token) = (0, 0, None::<String>);
    loop {
        let mut lp = params();
        if rv0 {
            lp = lp.match_any();
        }
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await?;
        requests += 1;
        n += page.items.len();
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => return Ok((n, requests)),
        }
    }
}

async fn slim(client: &kube::Client) -> anyhow::Result<(usize, usize)> {
    let req = Request::new("/api/v1/pods");
    let (mut n, mut requests, mut token) = (0, 0, None::<String>);
    loop {
        let mut lp = params();
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page: ObjectList<PodObject> = client.request(req.list(&lp)?).await?;
        requests += 1;
        n += page.items.len();
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => return Ok((n, requests)),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list`
    }
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cluster_list: no cluster ({e}); skipped");
            return Ok(());
        }
    };
    if let Err(e) = client.apiserver_version().await {
        eprintln!("cluster_list: the cluster cannot be reached ({e}); skipped");
        return Ok(());
    }
    let repeat: usize = std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let variants =
        std::env::var("BENCH_LIST_VARIANTS").unwrap_or_else(|_| "typed typed-rv0 slim".to_string());
    println!(
        "variant\tpage\trun\tpods\trequests\twall_s\tpeak_rss_growth_kib\tbase_rss_kib\tprocess_peak_kib"
    );
    for run in 1..=repeat {
        for variant in variants.split_whitespace() {
            let base = rss();
            hwm(true);
            let t0 = Instant::now();
            let (n, requests) = match variant {
                "typed" => typed(&client, false).await?,
                "typed-rv0" => typed(&client, true).await?,
                "slim" => slim(&client).await?,
                other => anyhow::bail!("unknown variant {other} (typed, typed-rv0, slim)"),
            };
            let wall = t0.elapsed().as_secs_f64();
            let peak = hwm(false);
            println!(
                "{variant}\t{}\t{run}\t{n}\t{requests}\t{wall:.3}\t{}\t{base}\t{}",
                page(),
                peak.saturating_sub(base),
                hwm_total()
            );
        }
    }
    Ok(())
}

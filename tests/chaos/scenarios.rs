//! The scenarios. Each builds a fresh fleet ([`Fleet::up`]), runs `apply` through a fault proxy
//! as the scenario says, and checks the outcome ([`fleet::check`]).

use std::time::{Duration, Instant};

use istio_rollout_testenv::Cluster;
use istio_rollout_testenv::faults::{Fault, FaultConfig};
use serde_json::json;

use crate::fleet::{self, Fleet};

/// (a) 10 % of requests faulted (every fault kind, 3 s delays), one run per seed; seed 0 is the
/// fault-free baseline (the same run through the proxy, nothing injected).
#[tokio::test(flavor = "multi_thread")]
async fn faults_at_ten_percent() {
    for seed in fleet::env_list("ISTIO_ROLLOUT_CHAOS_SEEDS", &[1]) {
        let fleet = Fleet::up(&format!("chaos-faults-{seed}")).await;
        let rate = if seed == 0 { 0.0 } else { 0.10 };
        let proxy = Cluster::shared()
            .fault_proxy(FaultConfig::new(seed, rate))
            .await
            .unwrap();
        let kc = fleet.kubeconfig(&proxy);
        let started = Instant::now();
        let (code, report, stderr) = fleet.run_apply(&kc, &[]).await;
        let seconds = started.elapsed().as_secs_f64();
        let label = if seed == 0 {
            "baseline (no faults)".to_string()
        } else {
            format!("faults seed {seed}")
        };
        assert_eq!(
            code,
            0,
            "{label}: {report:#}\n{stderr}\nfaults: {:?}",
            proxy.injected()
        );
        proxy.set_rate(0.0).unwrap();
        let figures = fleet::check(&fleet, &proxy, &label).await;
        fleet::record(figures, seconds, code);
    }
}

/// (b) `apply` killed with SIGKILL at a seeded random moment, then run again: the second run
/// finishes the job without restarting or evicting anything twice.
#[tokio::test(flavor = "multi_thread")]
async fn killed_at_a_random_moment_and_run_again() {
    let kills = fleet::env_list("ISTIO_ROLLOUT_CHAOS_KILLS", &[1])[0];
    let mut rng = fastrand::Rng::with_seed(kills);
    for kill in 1..=kills {
        let fleet = Fleet::up(&format!("chaos-kill-{kill}")).await;
        let proxy = Cluster::shared()
            .fault_proxy(FaultConfig::new(kill, 0.0))
            .await
            .unwrap();
        let kc = fleet.kubeconfig(&proxy);
        let started = Instant::now();
        let at = Duration::from_millis(rng.u64(500..12_000));
        let mut child = fleet.apply(&kc, &[]).spawn().unwrap();
        let finished_first = tokio::time::timeout(at, child.wait()).await.is_ok();
        if !finished_first {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
        let (code, report, stderr) = fleet.run_apply(&kc, &[]).await;
        let seconds = started.elapsed().as_secs_f64();
        let label = format!("kill {kill} at {} ms", at.as_millis());
        assert_eq!(code, 0, "{label}: {report:#}\n{stderr}");
        let mut figures = fleet::check(&fleet, &proxy, &label).await;
        figures["killed"] = json!(!finished_first);
        fleet::record(figures, seconds, code);
    }
}

/// (c) The API server restarted (down 3 s) once the run has started restarting.
#[tokio::test(flavor = "multi_thread")]
async fn the_api_server_restarts_mid_run() {
    let fleet = Fleet::up("chaos-restart").await;
    let proxy = Cluster::shared()
        .fault_proxy(FaultConfig::new(3, 0.0))
        .await
        .unwrap();
    let kc = fleet.kubeconfig(&proxy);
    let started = Instant::now();
    let child = fleet.apply(&kc, &[]).spawn().unwrap();
    // Restart once the first workload has been patched.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.forwarded().iter().any(|f| f.method == "PATCH") {
        assert!(
            Instant::now() < deadline,
            "apply patched nothing within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Cluster::shared()
        .restart_api_server(Duration::from_secs(3))
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let code = out.status.code().unwrap_or(-1);
    assert_eq!(
        code,
        0,
        "apply across an API server restart: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut figures = fleet::check(&fleet, &proxy, "API server restart").await;
    let unreachable = proxy.unreachable();
    assert!(
        unreachable > 0,
        "no request met the restart: it came too late to test anything"
    );
    figures["unreachable_answers"] = json!(unreachable);
    fleet::record(figures, seconds, code);
}

/// (d) Pages of 5 objects, and a quarter of the continue tokens expired (410): listings restart and
/// the plan, and so the run, are the same as without the faults.
#[tokio::test(flavor = "multi_thread")]
async fn continue_tokens_expire() {
    let fleet = Fleet::up("chaos-continue").await;
    let mut config = FaultConfig::new(4, 0.25);
    config.mix = vec![(Fault::ExpireContinue, 1)];
    config.page_limit = Some(5);
    let proxy = Cluster::shared().fault_proxy(config).await.unwrap();
    let kc = fleet.kubeconfig(&proxy);
    let started = Instant::now();
    let (code, report, stderr) = fleet.run_apply(&kc, &[]).await;
    let seconds = started.elapsed().as_secs_f64();
    let expired = proxy.injected().len();
    assert!(
        expired > 0,
        "no continue token expired: the pages were not lowered"
    );
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    proxy.set_rate(0.0).unwrap();
    let figures = fleet::check(&fleet, &proxy, "continue tokens expire").await;
    fleet::record(figures, seconds, code);
}

/// (e) Two applies started together, as a CronJob run and a sync hook can be: the Lease
/// (`kyma-system/istio-rollout`) lets one act while the other waits; the second then plans again
/// and finds nothing left. Each workload restarted once, each pod evicted once, both exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn two_applies_at_once() {
    let fleet = Fleet::up("chaos-two").await;
    let proxy = Cluster::shared()
        .fault_proxy(FaultConfig::new(5, 0.0))
        .await
        .unwrap();
    let kc = fleet.kubeconfig(&proxy);
    let started = Instant::now();
    let (a, b) = tokio::join!(fleet.run_apply(&kc, &[]), fleet.run_apply(&kc, &[]));
    let seconds = started.elapsed().as_secs_f64();
    let acted = |report: &serde_json::Value| {
        report["workloads"]
            .as_array()
            .map(|w| {
                w.iter()
                    .filter(|e| e["result"] == "restarted" || e["result"] == "evicted")
                    .count()
            })
            .unwrap_or(0)
    };
    for (run, (code, report, stderr)) in [("first", &a), ("second", &b)] {
        assert_eq!(*code, 0, "{run} apply: {report:#}\n{stderr}");
    }
    let (acted_a, acted_b) = (acted(&a.1), acted(&b.1));
    assert!(
        acted_a == 0 || acted_b == 0,
        "both runs acted: {acted_a} and {acted_b} workloads\n{}\n{}",
        a.2,
        b.2
    );
    let mut figures = fleet::check(&fleet, &proxy, "two applies at once").await;
    figures["acted"] = json!([acted_a, acted_b]);
    fleet::record(figures, seconds, 0);
}

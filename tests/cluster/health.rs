//! Health gates and metrics against real services: a real Prometheus and a real Pushgateway
//! (built from the Go module proxy by `hack/cluster/build-tools.sh`, started here on loopback
//! ports), and `apply` on the real control plane as the ServiceAccount of manifests/base.
//!
//! Prometheus evaluates an alerting rule the test controls (its rules file, reloaded through
//! `/-/reload`): while it fires, `apply` pauses and then stops with exit 7 after
//! `--health-timeout`, nothing restarted; once it resolves, the paused run goes on; a filtered
//! alert does not block. An unreachable Prometheus fails closed (exit 7, nothing restarted, the
//! URL named without its password). A pod matching `--blocking-pod-selector` blocks. The
//! Pushgateway gets the run's metrics, read back from its `/metrics`, also for a failed run; an
//! unreachable one is a warning.
//!
//! The test holds the simulation (`cluster.sim()`): it upgrades Istio to have restarts to do.

use crate::common::cli::istio_rollout;
use crate::common::manifests::{prometheus, pushgateway};
use crate::support;
use istio_rollout::http::{BaseUrl, request};
use istio_rollout_testenv::{Cluster, wait};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const ALERT: &str = "RolloutHealthGateTest";

/// A free loopback port (bound, then let go for the service to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(url: &str, path: &str) -> Result<(u16, String), String> {
    let base = BaseUrl::parse(url).unwrap();
    let a = request(
        &base,
        hyper::Method::GET,
        path,
        None,
        Vec::new(),
        Duration::from_secs(5),
    )
    .await?;
    Ok((a.status, String::from_utf8_lossy(&a.body).into_owned()))
}

/// Waits until `GET url+path` answers 200.
async fn ready(url: &str, path: &str, what: &str) {
    let start = Instant::now();
    loop {
        if let Ok((200, _)) = get(url, path).await {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} at {url} not ready within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A real Prometheus with one alerting rule of the test's (evaluated every second).
struct Prometheus {
    url: String,
    rules: PathBuf,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

fn rules(expr: &str) -> String {
    format!(
        "groups:\n  - name: health-gate-test\n    interval: 1s\n    rules:\n      - alert: {ALERT}\n        expr: {expr}\n        labels:\n          severity: critical\n"
    )
}

impl Prometheus {
    async fn start(expr: &str) -> Prometheus {
        let bin = prometheus();
        let dir = tempfile::tempdir().unwrap();
        let rules_file = dir.path().join("rules.yaml");
        std::fs::write(&rules_file, rules(expr)).unwrap();
        let config = dir.path().join("prometheus.yaml");
        std::fs::write(
            &config,
            format!(
                "global:\n  evaluation_interval: 1s\nrule_files:\n  - {}\n",
                rules_file.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let child = tokio::process::Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-lifecycle")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("starting prometheus");
        let url = format!("http://127.0.0.1:{port}");
        ready(&url, "/-/ready", "Prometheus").await;
        Prometheus {
            url,
            rules: rules_file,
            _child: child,
            _dir: dir,
        }
    }

    /// Replaces the rule's expression and reloads.
    async fn set_expr(&self, expr: &str) {
        std::fs::write(&self.rules, rules(expr)).unwrap();
        let base = BaseUrl::parse(&self.url).unwrap();
        let a = request(
            &base,
            hyper::Method::POST,
            "/-/reload",
            None,
            Vec::new(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(
            a.status,
            200,
            "reload: {}",
            String::from_utf8_lossy(&a.body)
        );
    }

    /// The state of the test's alert (`firing`, `pending`), `None` when not active.
    async fn state(&self) -> Option<String> {
        let (_, body) = get(&self.url, "/api/v1/alerts").await.unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        v["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == ALERT)
            .map(|a| a["state"].as_str().unwrap().to_string())
    }

    async fn wait_state(&self, want: Option<&str>) {
        let start = Instant::now();
        while self.state().await.as_deref() != want {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the alert did not become {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A real Pushgateway.
struct Pushgateway {
    url: String,
    _child: tokio::process::Child,
}

impl Pushgateway {
    async fn start() -> Pushgateway {
        let port = free_port();
        let child = tokio::process::Command::new(pushgateway())
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the pushgateway");
        let url = format!("http://127.0.0.1:{port}");
        ready(&url, "/-/ready", "the Pushgateway").await;
        Pushgateway { url, _child: child }
    }

    /// The value of the sample of `name` whose labels include all of `labels`.
    async fn value(&self, name: &str, labels: &[&str]) -> Option<f64> {
        let (_, text) = get(&self.url, "/metrics").await.unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .find(|l| labels.iter().all(|want| l.contains(want)))
            .and_then(|l| l.rsplit(' ').next())
            .map(|v| v.parse().unwrap())
    }
}

async fn generation(client: &kube::Client, ns: &str, name: &str) -> i64 {
    Api::<Deployment>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap()
        .metadata
        .generation
        .unwrap()
}

/// `apply` of the workloads labelled `app=<app>` in `ns`, the health flags of `extra`.
fn apply(kc: &Path, repo: &Path, ns: &str, app: &str, extra: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::from(istio_rollout());
    c.args(["apply", "--path", "istio", "-o", "json", "--namespace", ns])
        .args(["--selector", &format!("app={app}"), "--timeout", "2m"])
        .args(["--health-interval", "1s"])
        .args(extra)
        .arg("--repo")
        .arg(repo)
        .arg("--kubeconfig")
        .arg(kc)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Runs it to its end: (exit code, stderr).
async fn run(mut c: tokio::process::Command) -> (i32, String) {
    let out = c.output().await.unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `istio-rollout: error:` line of a failed run's stderr.
fn error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("istio-rollout: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    lines[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn health_gates_pause_stop_and_fail_closed_and_metrics_reach_the_pushgateway() {
    let cluster = Cluster::shared();
    let sim = cluster.sim().await.unwrap();
    let ns = cluster.namespace("health", true).await.unwrap();
    let other = cluster.namespace("health-pods", false).await.unwrap();
    let client = cluster.client().await.unwrap();
    let n = ns.name().to_string();
    // Labelled on the Deployment too: `--selector` picks workloads by their own labels.
    for app in ["web-a", "web-b", "web-c"] {
        let mut d = support::deployment(app, 1);
        d.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        Api::<Deployment>::namespaced(client.clone(), &n)
            .create(&PostParams::default(), &d)
            .await
            .unwrap();
    }
    for app in ["web-a", "web-b", "web-c"] {
        wait::deployment_rollout(&client, &n, app, Duration::from_secs(60))
            .await
            .unwrap();
    }
    support::upgrade(&sim).await;
    support::apply_base(&client).await;
    let repo = support::desired_repo(support::EMPTY_CR, "1.28.0");
    let kc = cluster
        .kubeconfig_as("istio-rollout", "istio-rollout", repo.path())
        .await
        .unwrap();
    let gen_a = generation(&client, &n, "web-a").await;
    let pushgw = Pushgateway::start().await;

    // 1. Prometheus unreachable: fails closed. Exit 7 once --health-timeout ran out, nothing
    // restarted, the error names the URL without its password; the failed run's metrics are
    // pushed all the same.
    let dead = format!("http://rollout:hunter2-secret@127.0.0.1:{}", free_port());
    let started = Instant::now();
    let (code, stderr) = run(apply(
        &kc,
        repo.path(),
        &n,
        "web-a",
        &[
            "--prometheus-url",
            &dead,
            "--health-timeout",
            "2s",
            "--pushgateway-url",
            &pushgw.url,
        ],
    ))
    .await;
    assert_eq!(code, 7, "{stderr}");
    let line = error_line(&stderr);
    let shown = dead.replace("rollout:hunter2-secret@", "");
    assert!(
        line.contains(&format!(
            "Prometheus {shown}/api/v1/alerts could not be asked"
        )) && line.contains("--health-timeout 2s"),
        "{line}"
    );
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for the timeout"
    );
    assert_eq!(
        generation(&client, &n, "web-a").await,
        gen_a,
        "nothing restarted"
    );
    assert_eq!(
        pushgw.value("istio_rollout_last_run_exit_code", &[]).await,
        Some(7.0)
    );
    assert_eq!(
        pushgw.value("istio_rollout_last_run_success", &[]).await,
        Some(0.0)
    );
    assert_eq!(
        pushgw
            .value("istio_rollout_last_success_timestamp_seconds", &[])
            .await,
        None,
        "no success yet"
    );

    // 2. A pod matching --blocking-pod-selector (in another namespace) blocks: exit 7, named.
    let o = other.name().to_string();
    let blocker: Pod = serde_json::from_value(json!({
        "metadata": {"name": "node-maintenance", "labels": {"maintenance": o}},
        "spec": {"containers": [{"name": "c", "image": "example/maint:1"}]}
    }))
    .unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), &o);
    pods.create(&PostParams::default(), &blocker).await.unwrap();
    let selector = format!("maintenance={o},tier notin (db)");
    let (code, stderr) = run(apply(
        &kc,
        repo.path(),
        &n,
        "web-a",
        &[
            "--blocking-pod-selector",
            &selector,
            "--health-timeout",
            "2s",
        ],
    ))
    .await;
    assert_eq!(code, 7, "{stderr}");
    let line = error_line(&stderr);
    assert!(
        line.contains(&format!(
            "pods matching --blocking-pod-selector {selector}: {o}/node-maintenance"
        )),
        "{line}"
    );
    assert!(
        stderr.contains("health gate closed"),
        "it paused first: {stderr}"
    );
    assert_eq!(
        generation(&client, &n, "web-a").await,
        gen_a,
        "nothing restarted"
    );
    pods.delete("node-maintenance", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();

    // 3. A firing alert: pauses, then stops after --health-timeout; nothing restarted.
    let prom = Prometheus::start("vector(1)").await;
    prom.wait_state(Some("firing")).await;
    let (code, stderr) = run(apply(
        &kc,
        repo.path(),
        &n,
        "web-a",
        &["--prometheus-url", &prom.url, "--health-timeout", "3s"],
    ))
    .await;
    assert_eq!(code, 7, "{stderr}");
    let line = error_line(&stderr);
    assert!(
        line.contains(&format!(
            "alerts active in Prometheus {}: {ALERT} (firing)",
            prom.url
        )),
        "{line}"
    );
    assert_eq!(
        generation(&client, &n, "web-a").await,
        gen_a,
        "nothing restarted"
    );

    // 4. The same alert filtered out (--alert-filter-regexp, kured's meaning: ignored): the run
    // goes on and restarts; an unreachable Pushgateway is only a warning.
    let (code, stderr) = run(apply(
        &kc,
        repo.path(),
        &n,
        "web-a",
        &[
            "--prometheus-url",
            &prom.url,
            "--alert-filter-regexp",
            &format!("^{ALERT}$"),
            "--pushgateway-url",
            &format!("http://127.0.0.1:{}", free_port()),
        ],
    ))
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("the metrics could not be pushed"),
        "{stderr}"
    );
    assert!(
        generation(&client, &n, "web-a").await > gen_a,
        "web-a restarted"
    );

    // 5. Firing when the run starts: it pauses (nothing restarted while the alert fires); the
    // alert resolves and the paused run goes on to restart web-b, exit 0. Its metrics reach the
    // Pushgateway.
    let gen_b = generation(&client, &n, "web-b").await;
    let child = apply(
        &kc,
        repo.path(),
        &n,
        "web-b",
        &[
            "--prometheus-url",
            &prom.url,
            "--health-timeout",
            "2m",
            "--pushgateway-url",
            &pushgw.url,
        ],
    )
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(prom.state().await.as_deref(), Some("firing"));
    assert_eq!(
        generation(&client, &n, "web-b").await,
        gen_b,
        "paused: nothing restarted while the alert fires"
    );
    prom.set_expr("vector(1) == 0").await;
    prom.wait_state(None).await;
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the paused run went on once the alert resolved")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("health gate closed") && stderr.contains("health gate open again"),
        "paused, then went on: {stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let restarted: Vec<&Value> = support::own(&report)
        .into_iter()
        .filter(|w| w["result"] == "restarted")
        .collect();
    assert_eq!(restarted.len(), 1, "{report:#}");
    assert_eq!(restarted[0]["name"], "web-b");
    assert!(generation(&client, &n, "web-b").await > gen_b);

    let labels = ["job=\"istio-rollout\""];
    assert_eq!(
        pushgw
            .value(
                "istio_rollout_workloads",
                &[labels[0], "result=\"restarted\""]
            )
            .await,
        Some(1.0)
    );
    assert_eq!(
        pushgw
            .value("istio_rollout_workloads", &[labels[0], "result=\"failed\""])
            .await,
        Some(0.0)
    );
    assert_eq!(
        pushgw
            .value("istio_rollout_last_run_success", &labels)
            .await,
        Some(1.0)
    );
    assert_eq!(
        pushgw
            .value("istio_rollout_last_run_exit_code", &labels)
            .await,
        Some(0.0)
    );
    let success_at = pushgw
        .value("istio_rollout_last_success_timestamp_seconds", &labels)
        .await
        .expect("a success time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - success_at).abs() < 300.0, "{success_at} vs {now}");
    assert!(
        pushgw
            .value("istio_rollout_last_run_duration_seconds", &labels)
            .await
            .unwrap()
            >= 4.0,
        "the pause counts in the duration"
    );
    // web-c still needs its restart (it was left out with --selector, so it is not counted).
    assert_eq!(
        pushgw
            .value(
                "istio_rollout_workloads_pending",
                &[labels[0], "action=\"restart\""]
            )
            .await,
        Some(0.0)
    );

    // 6. A later failed run keeps the last success time (POST replaces only what it pushes).
    let (code, stderr) = run(apply(
        &kc,
        repo.path(),
        &n,
        "web-c",
        &[
            "--prometheus-url",
            &dead,
            "--health-timeout",
            "1s",
            "--pushgateway-url",
            &pushgw.url,
        ],
    ))
    .await;
    assert_eq!(code, 7, "{stderr}");
    assert_eq!(
        pushgw
            .value("istio_rollout_last_run_success", &labels)
            .await,
        Some(0.0)
    );
    assert_eq!(
        pushgw
            .value("istio_rollout_last_success_timestamp_seconds", &labels)
            .await,
        Some(success_at)
    );
    drop(sim);
}

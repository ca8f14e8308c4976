//! The test fixture: one running control plane per test process, a fresh namespace per test,
//! clients for the admin and for any ServiceAccount.
//!
//! Which cluster: `ISTIO_ROLLOUT_TEST_KUBECONFIG=<file>` points at a running one (CI and `just`
//! start it with `hack/cluster/up.sh`); otherwise the first test runs `hack/cluster/up.sh --reuse`,
//! which reuses a healthy cluster in the state dir or starts one, and leaves it running for
//! the next test binary (stop it with `just cluster-down`). If the binaries are not built, every
//! test fails with the command that builds them.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::sim::{DEFAULT_ISTIO_VERSION, DEFAULT_MODULE_VERSION, Sim};

/// Env var naming the kubeconfig of an already running cluster to test against.
pub const KUBECONFIG_ENV: &str = "ISTIO_ROLLOUT_TEST_KUBECONFIG";
/// Env var that keeps test namespaces after the test (for debugging).
pub const KEEP_NAMESPACES_ENV: &str = "ISTIO_ROLLOUT_TEST_KEEP_NAMESPACES";

/// A running cluster. Get the shared one with [`Cluster::shared`].
#[derive(Debug)]
pub struct Cluster {
    kubeconfig_path: PathBuf,
    kubeconfig: Kubeconfig,
}

static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The repository root (this crate lives in `<repo>/testenv`).
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testenv has a parent")
        .to_path_buf()
}

impl Cluster {
    /// The cluster shared by all tests of this process, started on first use. Panics with the
    /// reason (and the command to fix it) when no cluster can be had, so tests fail loudly.
    pub fn shared() -> &'static Cluster {
        match Self::try_shared() {
            Ok(c) => c,
            Err(e) => panic!("no test cluster: {e}"),
        }
    }

    /// Like [`Cluster::shared`], but returns the reason instead of panicking.
    pub fn try_shared() -> Result<&'static Cluster, String> {
        SHARED
            .get_or_init(|| Self::connect_or_start().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn connect_or_start() -> Result<Cluster> {
        if let Some(path) = std::env::var_os(KUBECONFIG_ENV).filter(|p| !p.is_empty()) {
            return Self::from_kubeconfig(PathBuf::from(path));
        }
        let path = start_cluster()?;
        Self::from_kubeconfig(path)
    }

    /// A cluster given by its admin kubeconfig.
    pub fn from_kubeconfig(path: PathBuf) -> Result<Cluster> {
        let kubeconfig = Kubeconfig::read_from(&path)
            .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
        Ok(Cluster {
            kubeconfig_path: path,
            kubeconfig,
        })
    }

    /// Path of the admin kubeconfig (for `kubectl` or the CLI under test).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The admin's client config (`system:masters`). kube's default retry layer is off: it
    /// retries HTTP 429 up to 15 times with backoff, which turns an eviction that a
    /// PodDisruptionBudget blocks into minutes of waiting instead of the 429 a test looks for.
    pub async fn config(&self) -> Result<Config> {
        let mut config =
            Config::from_custom_kubeconfig(self.kubeconfig.clone(), &KubeConfigOptions::default())
                .await
                .context("building a client config from the test kubeconfig")?;
        config.default_retry = false;
        Ok(config)
    }

    /// An admin client. Make one per test: a client belongs to the tokio runtime it was made on.
    pub async fn client(&self) -> Result<Client> {
        Ok(Client::try_from(self.config().await?)?)
    }

    /// A client that authenticates as ServiceAccount `namespace/name` (created if missing)
    /// with a token from the TokenRequest API, for RBAC tests.
    pub async fn client_as(&self, namespace: &str, name: &str) -> Result<Client> {
        let token = self.token_for(namespace, name).await?;
        let mut config = self.config().await?;
        // AuthInfo's token is a secret string; deserialising keeps this crate free of `secrecy`.
        config.auth_info =
            serde_json::from_value::<AuthInfo>(serde_json::json!({ "token": token }))?;
        config.default_namespace = namespace.to_string();
        Ok(Client::try_from(config)?)
    }

    /// A kubeconfig file (in `dir`) that authenticates as ServiceAccount `namespace/name`
    /// (created if missing), for running the binary under test as that identity.
    pub async fn kubeconfig_as(&self, namespace: &str, name: &str, dir: &Path) -> Result<PathBuf> {
        let token = self.token_for(namespace, name).await?;
        let mut kc = serde_json::to_value(&self.kubeconfig)?;
        let user = format!("{namespace}-{name}");
        kc["users"] = serde_json::json!([{"name": user, "user": {"token": token}}]);
        for ctx in kc["contexts"].as_array_mut().into_iter().flatten() {
            ctx["context"]["user"] = serde_json::Value::String(user.clone());
        }
        let path = dir.join(format!("kubeconfig-{namespace}-{name}.json"));
        std::fs::write(&path, kc.to_string())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// A fault-injecting proxy in front of this cluster's API server ([`crate::faults`]).
    pub async fn fault_proxy(
        &self,
        config: crate::faults::FaultConfig,
    ) -> Result<crate::faults::FaultProxy> {
        crate::faults::FaultProxy::start(&self.kubeconfig, config).await
    }

    /// Restarts the API server (hack/cluster/restart-apiserver.sh): down for `down`, then started
    /// with the same arguments; returns once it is ready again.
    pub async fn restart_api_server(&self, down: Duration) -> Result<()> {
        let state_dir = self
            .kubeconfig_path
            .parent()
            .context("the kubeconfig's state dir")?;
        let status = tokio::process::Command::new("bash")
            .arg(repo_dir().join("hack/cluster/restart-apiserver.sh"))
            .arg(down.as_secs().to_string())
            .env("ISTIO_ROLLOUT_CLUSTER_DIR", state_dir)
            .status()
            .await
            .context("running hack/cluster/restart-apiserver.sh")?;
        anyhow::ensure!(
            status.success(),
            "hack/cluster/restart-apiserver.sh failed: {status}"
        );
        Ok(())
    }

    /// A one-hour token of ServiceAccount `namespace/name` (created if missing) from the
    /// TokenRequest API.
    pub async fn token_for(&self, namespace: &str, name: &str) -> Result<String> {
        let admin = self.client().await?;
        let sas: Api<ServiceAccount> = Api::namespaced(admin, namespace);
        let sa = ServiceAccount {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        match sas.create(&PostParams::default(), &sa).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("creating ServiceAccount {namespace}/{name}"));
            }
        }
        let request = TokenRequest {
            spec: TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..Default::default()
            },
            ..Default::default()
        };
        let token = sas
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .with_context(|| format!("requesting a token for ServiceAccount {namespace}/{name}"))?
            .status
            .context("TokenRequest without status")?
            .token;
        Ok(token)
    }

    /// A fresh namespace named `<prefix>-<unique>`, deleted when the returned value drops
    /// (kept when the test panicked or `ISTIO_ROLLOUT_TEST_KEEP_NAMESPACES` is set). `injection` labels it
    /// `istio-injection=enabled`, so the simulated injector injects its pods.
    pub async fn namespace(&self, prefix: &str, injection: bool) -> Result<TestNamespace> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let unique = format!(
            "{:x}{:x}{}",
            std::process::id() % 0xfff,
            nanos % 0xffff,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let prefix: String = prefix
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let name = format!("{}-{unique}", prefix.trim_matches('-'));
        let mut labels = BTreeMap::from([(
            "istio-rollout.test/namespace".to_string(),
            "true".to_string(),
        )]);
        if injection {
            labels.insert("istio-injection".to_string(), "enabled".to_string());
        }
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels),
                ..Default::default()
            },
            ..Default::default()
        };
        let client = self.client().await?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        // Pods need the namespace's default ServiceAccount, which a controller creates.
        let sas: Api<ServiceAccount> = Api::namespaced(client, &name);
        crate::wait::until(
            "the default ServiceAccount",
            Duration::from_secs(30),
            || async { Ok(sas.get_opt("default").await?.map(|_| ())) },
        )
        .await?;
        Ok(TestNamespace {
            name,
            kubeconfig: self.kubeconfig.clone(),
        })
    }

    /// Exclusive use of the simulated Istio module, reset to the default versions and
    /// settings. The simulation is cluster-wide, so tests that read or change it take this
    /// lock (a file lock, so it also holds across test processes) for as long as they run.
    pub async fn sim(&self) -> Result<SimGuard> {
        // Beside the kubeconfig (the cluster's state dir, removed by down.sh), else in /tmp.
        let beside = self.kubeconfig_path.with_file_name("sim.lock");
        let fallback = std::env::temp_dir().join(format!(
            "istio-rollout-sim-{:x}.lock",
            hash(self.kubeconfig_path.to_string_lossy().as_bytes())
        ));
        let file = tokio::task::spawn_blocking(move || -> Result<File> {
            let (file, lock_path) = match File::create(&beside) {
                Ok(file) => (file, beside),
                Err(_) => (
                    File::create(&fallback)
                        .with_context(|| format!("creating {}", fallback.display()))?,
                    fallback,
                ),
            };
            file.lock()
                .with_context(|| format!("locking {}", lock_path.display()))?;
            Ok(file)
        })
        .await??;
        let sim = Sim::new(self.client().await?);
        sim.install(DEFAULT_MODULE_VERSION, DEFAULT_ISTIO_VERSION)
            .await
            .context("resetting the simulated Istio module")?;
        Ok(SimGuard { sim, _lock: file })
    }
}

/// FNV-1a: a stable name for the lock file of one kubeconfig path.
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// Starts (or reuses) the cluster with `hack/cluster/up.sh --reuse`; returns the kubeconfig.
fn start_cluster() -> Result<PathBuf> {
    let up = repo_dir().join("hack/cluster/up.sh");
    let mut command = Command::new("bash");
    command.arg(&up).arg("--reuse");
    // The sim-istio binary is built next to this crate's integration tests (target/<profile>/);
    // when it is not there (tests of another crate), up.sh must not run cargo: the running
    // `cargo test` holds the build lock.
    match sim_istio_binary() {
        Some(sim) => {
            command.env("ISTIO_ROLLOUT_SIM_ISTIO", sim);
        }
        None => bail!(
            "{KUBECONFIG_ENV} is not set: run the tests on a cluster of their own with `just test` \
             (hack/cluster/with-cluster.sh cargo test ...), or start one with `just cluster-up` \
             (hack/cluster/up.sh) and set {KUBECONFIG_ENV} to the KUBECONFIG it prints"
        ),
    }
    let output = command
        .output()
        .with_context(|| format!("running {}", up.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "{} failed ({}):\n{}",
            up.display(),
            output.status,
            stderr.trim_end()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    match last.strip_prefix("KUBECONFIG=") {
        Some(path) => Ok(PathBuf::from(path)),
        None => bail!(
            "{} printed no KUBECONFIG= line; stderr:\n{stderr}",
            up.display()
        ),
    }
}

fn sim_istio_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ISTIO_ROLLOUT_SIM_ISTIO") {
        return Some(PathBuf::from(path));
    }
    // Test executables live in target/<profile>/deps/; binaries in target/<profile>/.
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.parent()?.join("sim-istio");
    candidate.is_file().then_some(candidate)
}

/// The simulated Istio module, held exclusively (see [`Cluster::sim`]).
pub struct SimGuard {
    sim: Sim,
    _lock: File,
}

impl std::ops::Deref for SimGuard {
    type Target = Sim;
    fn deref(&self) -> &Sim {
        &self.sim
    }
}

/// A namespace that exists for one test.
pub struct TestNamespace {
    name: String,
    kubeconfig: Kubeconfig,
}

impl TestNamespace {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_NAMESPACES_ENV).is_some() || std::thread::panicking() {
            // A failed test's namespace stays for a look (the cluster is thrown away anyway).
            eprintln!("keeping test namespace {}", self.name);
            return;
        }
        // Drop cannot await, and the test's runtime may be shutting down: delete from a thread
        // with its own runtime, without waiting for the namespace to be finalised.
        let name = std::mem::take(&mut self.name);
        let kubeconfig = self.kubeconfig.clone();
        let deleted = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let config =
                    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                        .await?;
                let api: Api<Namespace> = Api::all(Client::try_from(config)?);
                api.delete(&name, &DeleteParams::background()).await?;
                Ok(())
            })
        })
        .join();
        if let Ok(Err(e)) = deleted {
            eprintln!("could not delete a test namespace: {e:#}");
        }
    }
}

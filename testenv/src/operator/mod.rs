//! `sim-istio operator`: a simulated Kyma Istio operator that acts on its own, the way the real
//! one does in everything istio-rollout depends on (`../shared/kyma-operator.md`).
//!
//! It runs cluster-wide as one process (started by `hack/cluster/up.sh`) in one of two modes:
//! - **passive** (the default): it does nothing; tests play the operator by hand with
//!   [`Sim::upgrade`] and [`Sim::set_cr_status`] as before.
//! - **autonomous**: it reconciles the Istio CRs of `kyma-system` on a spec change
//!   (`metadata.generation`; annotation-only changes do not count), on a new module (the
//!   manager Deployment `kyma-system/istio-controller-manager`: its `app.kubernetes.io/version`
//!   label or the images in its env vars), when it becomes autonomous (as a starting manager
//!   does), and after its requeue period (after Ready, Warning, Error).
//!
//! The mode and the requeue periods come from the command line, overridden by the ConfigMap
//! `istio-system/sim-operator` (key `settings.json`, [`OperatorSettings`]) while it exists.
//! The process reports what it did in `istio-system/sim-operator-status` ([`OperatorStatus`]).
//! Tests switch it with [`AutonomousOperator::start`] (needs the [`SimGuard`]: the operator is
//! cluster-wide like the simulation) and it goes back to passive when the guard drops.
//!
//! One reconcile, in order: only the oldest CR is reconciled (the others: Warning,
//! OlderCRExists); Processing (module up to 1.30.x always; from 1.31.0 only on a first install
//! or a gateway/control-plane restart); the version gate (lastApplied `IstioTag` to the
//! module's tag); install (injector settings rendered from the CR, istiod and the gateway
//! with the module's images, waited for); `IstioTag` into lastApplied; the ingress-gateway,
//! sidecar and network-policy restarters; lastApplied = the whole spec and state Ready when
//! nothing failed. The decisions are pure functions in [`rules`].

pub mod rules;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::injector::{ISTIO_NAMESPACE, InjectorSettings, compatibility_env};
use crate::sim::{
    self, CR_NAME, KYMA_NAMESPACE, LAST_APPLIED_ANNOTATION, MANAGER_DEPLOYMENT,
    MODULE_VERSION_LABEL, ModuleImages, Sim,
};
use crate::{Cluster, SimGuard, wait};
use rules::{Action, AppliedConfig, IstioSpec, ProxyResources, SidecarRules, Warning};

/// ConfigMap (in `istio-system`) whose `settings.json` overrides the command line.
pub const SETTINGS_CONFIGMAP: &str = "sim-operator";
/// ConfigMap (in `istio-system`) where the process reports its state (`status.json`).
pub const STATUS_CONFIGMAP: &str = "sim-operator-status";
/// Key of both ConfigMaps' JSON.
pub const SETTINGS_KEY: &str = "settings.json";
pub const STATUS_KEY: &str = "status.json";
/// The operator's restart annotation on pod templates.
pub const RESTARTED_AT_ANNOTATION: &str = "istio-operator.kyma-project.io/restartedAt";
/// Field manager of the operator's writes.
pub const FIELD_MANAGER: &str = "sim-istio-operator";
/// The features ConfigMap of the module (`kyma-system/istio-features`, key `features`).
pub const FEATURES_CONFIGMAP: &str = "istio-features";
/// Pods per page of the sidecar restarter's listing.
pub const PAGE_SIZE: u32 = 30;

/// How long install waits for istiod and the gateway to roll out.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Safety tick: the watches wake it, this bounds a missed event.
const TICK: Duration = Duration::from_secs(5);

/// Passive (tests play the operator) or autonomous (it reconciles by itself).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Passive,
    Autonomous,
}

impl std::str::FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "passive" => Ok(Mode::Passive),
            "autonomous" => Ok(Mode::Autonomous),
            _ => bail!("mode must be passive or autonomous, not {s:?}"),
        }
    }
}

/// How long the operator waits before reconciling again, by outcome (a version-gate Warning
/// comes from the install step and waits the error period, as in the operator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requeue {
    pub ready: Duration,
    pub warning: Duration,
    pub error: Duration,
}

impl Default for Requeue {
    /// The real operator's: 10 h after success, 1 h after Warning, about 1 min after Error.
    fn default() -> Self {
        Self {
            ready: Duration::from_secs(10 * 3600),
            warning: Duration::from_secs(3600),
            error: Duration::from_secs(60),
        }
    }
}

/// `settings.json` of [`SETTINGS_CONFIGMAP`]: every field optional, the command line fills in.
/// Durations as `5s`, `500ms`, `2m`, `1h`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_ready: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_warning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_error: Option<String>,
}

impl OperatorSettings {
    /// Autonomous with these requeue periods (e.g. `("60s", "5s", "2s")`).
    pub fn autonomous(ready: &str, warning: &str, error: &str) -> Self {
        Self {
            mode: Some(Mode::Autonomous),
            requeue_ready: Some(ready.into()),
            requeue_warning: Some(warning.into()),
            requeue_error: Some(error.into()),
        }
    }

    fn resolve(&self, defaults: &Defaults) -> Result<(Mode, Requeue)> {
        let pick = |v: &Option<String>, d: Duration| match v {
            Some(text) => rules::parse_duration(text),
            None => Ok(d),
        };
        Ok((
            self.mode.unwrap_or(defaults.mode),
            Requeue {
                ready: pick(&self.requeue_ready, defaults.requeue.ready)?,
                warning: pick(&self.requeue_warning, defaults.requeue.warning)?,
                error: pick(&self.requeue_error, defaults.requeue.error)?,
            },
        ))
    }
}

/// What the process last did (`status.json` of [`STATUS_CONFIGMAP`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorStatus {
    pub mode: Mode,
    /// The mode of the command line, which holds while no settings ConfigMap exists.
    #[serde(default)]
    pub default_mode: Mode,
    /// Reconciles finished since the process started.
    pub reconciles: u64,
    /// A reconcile is running.
    pub reconciling: bool,
    /// Why the last reconcile ran (`start`, `spec`, `module`, `requeue`).
    #[serde(default)]
    pub last_trigger: Vec<String>,
    /// Outcome of the last reconcile: Ready, Warning or Error.
    #[serde(default)]
    pub last_outcome: Option<String>,
    /// Module version the last reconcile worked with.
    #[serde(default)]
    pub last_module_version: Option<String>,
    /// Generation of `kyma-system/default` the last reconcile read.
    #[serde(default)]
    pub last_generation: Option<i64>,
}

/// The command line's defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct Defaults {
    pub mode: Mode,
    pub requeue: Requeue,
}

/// The module as its manager Deployment describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Module {
    version: String,
    images: ModuleImages,
}

impl Module {
    fn from_manager(d: &Deployment) -> Result<Self> {
        let version = d
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(MODULE_VERSION_LABEL))
            .cloned()
            .with_context(|| format!("the manager has no label {MODULE_VERSION_LABEL}"))?;
        let env: BTreeMap<String, String> = d
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.env.clone())
            .into_iter()
            .flatten()
            .filter_map(|e| e.value.map(|v| (e.name, v)))
            .collect();
        let get = |name: &str| {
            env.get(name)
                .cloned()
                .with_context(|| format!("the manager has no env var {name}"))
        };
        Ok(Self {
            version,
            images: ModuleImages {
                pilot: get("pilot")?,
                proxyv2: get("proxyv2")?,
                install_cni: get("install-cni").unwrap_or_default(),
                ztunnel: get("ztunnel").unwrap_or_default(),
            },
        })
    }

    /// The Istio tag the module installs (its proxyv2 image's tag, e.g. `1.30.2-distroless`).
    fn istio_tag(&self) -> Result<String> {
        rules::image_tag(&self.images.proxyv2)
            .map(str::to_string)
            .with_context(|| format!("proxyv2 image {} has no tag", self.images.proxyv2))
    }

    /// The Istio version (the tag without its flavour, e.g. `1.30.2`).
    fn istio_version(&self) -> Result<String> {
        let v = rules::Version::parse(&self.istio_tag()?)?;
        Ok(format!("{}.{}.{}", v.major, v.minor, v.patch))
    }
}

/// The outcome of a reconcile, which picks the requeue period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ready,
    Warning,
    /// A Warning of the install step (the version gate): the operator requeues it after its
    /// error period, not the warning one.
    InstallWarning,
    Error,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Ready => "Ready",
            Outcome::Warning | Outcome::InstallWarning => "Warning",
            Outcome::Error => "Error",
        }
    }
}

/// The in-memory state between reconciles.
#[derive(Default)]
struct State {
    mode: Mode,
    /// Generations reconciled, by CR uid.
    generations: HashMap<String, i64>,
    module: Option<Module>,
    requeue_at: Option<Instant>,
    status: OperatorStatus,
}

/// Runs the operator until the process ends.
pub async fn run(client: Client, defaults: Defaults) -> Result<()> {
    let op = Runner {
        client: client.clone(),
        defaults,
    };
    let mut state = State::default();
    state.status.default_mode = defaults.mode;
    op.write_status(&state.status).await?;
    let crs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), KYMA_NAMESPACE, &sim::istio_resource());
    let managers: Api<Deployment> = Api::namespaced(client.clone(), KYMA_NAMESPACE);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    let by_name = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = futures::stream::select_all([
        watcher(crs, watcher::Config::default())
            .default_backoff()
            .map(|_| ())
            .boxed(),
        watcher(managers, by_name(MANAGER_DEPLOYMENT))
            .default_backoff()
            .map(|_| ())
            .boxed(),
        watcher(cms, by_name(SETTINGS_CONFIGMAP))
            .default_backoff()
            .map(|_| ())
            .boxed(),
    ]);
    tracing::info!(mode = ?defaults.mode, requeue = ?defaults.requeue, "sim-operator started");
    loop {
        let wake = state
            .requeue_at
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(TICK)
            .min(TICK);
        tokio::select! {
            event = events.next() => if event.is_none() { bail!("the watches ended") },
            () = tokio::time::sleep(wake) => {}
        }
        if let Err(e) = op.tick(&mut state).await {
            tracing::error!("sim-operator: {e:#}");
        }
    }
}

struct Runner {
    client: Client,
    defaults: Defaults,
}

/// The status as the operator keeps it in memory between writes.
struct CrStatus {
    conditions: Vec<Value>,
}

impl CrStatus {
    fn of(cr: &DynamicObject) -> Self {
        let conditions = cr.data["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Self { conditions }
    }

    /// Sets a condition by type (its lastTransitionTime changes only with its status).
    fn set(&mut self, type_: &str, status: &str, reason: &str, message: &str) {
        let now = now_rfc3339();
        match self
            .conditions
            .iter_mut()
            .find(|c| c["type"].as_str() == Some(type_))
        {
            Some(c) => {
                if c["status"].as_str() != Some(status) {
                    c["lastTransitionTime"] = json!(now);
                }
                c["status"] = json!(status);
                c["reason"] = json!(reason);
                c["message"] = json!(message);
            }
            None => self.conditions.push(json!({
                "type": type_, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": now,
            })),
        }
    }

    fn ready(&mut self, status: &str, reason: &str, message: &str) {
        self.set("Ready", status, reason, message);
    }
}

/// Now in RFC 3339 with second resolution, UTC (`2026-12-02T04:15:14Z`).
pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// An error of a restarter or of install, with its level.
struct Failure {
    warning: bool,
    description: String,
}

impl Runner {
    fn params() -> PatchParams {
        PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..Default::default()
        }
    }

    async fn settings(&self) -> Result<(Mode, Requeue)> {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ISTIO_NAMESPACE);
        let settings = match cms.get_opt(SETTINGS_CONFIGMAP).await? {
            None => OperatorSettings::default(),
            Some(cm) => match cm.data.as_ref().and_then(|d| d.get(SETTINGS_KEY)) {
                None => OperatorSettings::default(),
                Some(raw) => serde_json::from_str(raw).with_context(|| {
                    format!("parsing {ISTIO_NAMESPACE}/{SETTINGS_CONFIGMAP} {SETTINGS_KEY}")
                })?,
            },
        };
        settings.resolve(&self.defaults)
    }

    async fn write_status(&self, status: &OperatorStatus) -> Result<()> {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ISTIO_NAMESPACE);
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": STATUS_CONFIGMAP, "namespace": ISTIO_NAMESPACE},
            "data": {STATUS_KEY: serde_json::to_string(status)?}
        });
        cms.patch(
            STATUS_CONFIGMAP,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .context("writing the operator's status ConfigMap")?;
        Ok(())
    }

    async fn tick(&self, state: &mut State) -> Result<()> {
        let (mode, requeue) = self.settings().await?;
        if mode == Mode::Passive {
            if state.mode != Mode::Passive {
                tracing::info!("passive: the operator does nothing until made autonomous");
                let (reconciles, default_mode) =
                    (state.status.reconciles, state.status.default_mode);
                *state = State::default();
                state.status.reconciles = reconciles;
                state.status.default_mode = default_mode;
                self.write_status(&state.status).await?;
            }
            return Ok(());
        }
        let mut triggers = Vec::new();
        if state.mode == Mode::Passive {
            tracing::info!(
                ?requeue,
                "autonomous: reconciling as a starting manager does"
            );
            state.mode = Mode::Autonomous;
            triggers.push("start".to_string());
        }
        let crs_api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), KYMA_NAMESPACE, &sim::istio_resource());
        let crs = crs_api.list(&ListParams::default()).await?.items;
        let managers: Api<Deployment> = Api::namespaced(self.client.clone(), KYMA_NAMESPACE);
        let module = match managers.get_opt(MANAGER_DEPLOYMENT).await? {
            Some(d) => Some(Module::from_manager(&d)?),
            None => None,
        };
        if module != state.module {
            triggers.push("module".to_string());
        }
        let generations: HashMap<String, i64> = crs
            .iter()
            .map(|cr| {
                (
                    cr.metadata.uid.clone().unwrap_or_default(),
                    cr.metadata.generation.unwrap_or(0),
                )
            })
            .collect();
        // As in the operator, each CR's own change reconciles that CR: only the oldest's
        // reconciles the module; a newer CR's just goes to Warning (OlderCRExists).
        let oldest = oldest(&crs).and_then(|cr| cr.metadata.uid.clone());
        let changed: Vec<&String> = generations
            .iter()
            .filter(|(uid, g)| state.generations.get(*uid) != Some(g))
            .map(|(uid, _)| uid)
            .collect();
        if changed.iter().any(|uid| Some(*uid) == oldest.as_ref()) {
            triggers.push("spec".to_string());
        }
        if state.requeue_at.is_some_and(|at| at <= Instant::now()) {
            triggers.push("requeue".to_string());
        }
        if triggers.is_empty() {
            if !changed.is_empty() {
                for cr in crs.iter().filter(|cr| {
                    cr.metadata.uid != oldest
                        && changed.contains(&&cr.metadata.uid.clone().unwrap_or_default())
                }) {
                    self.not_the_oldest(cr, &crs).await;
                }
                state.generations = generations;
            }
            return Ok(());
        }
        state.mode = Mode::Autonomous;
        state.status.mode = Mode::Autonomous;
        state.status.reconciling = true;
        state.status.last_trigger = triggers.clone();
        self.write_status(&state.status).await?;
        tracing::info!(?triggers, "reconciling");

        let outcome = match (&module, crs.is_empty()) {
            (None, _) => {
                tracing::warn!(
                    "no manager Deployment {KYMA_NAMESPACE}/{MANAGER_DEPLOYMENT}: nothing to reconcile"
                );
                None
            }
            (_, true) => None,
            (Some(module), false) => Some(self.reconcile_all(&crs, module).await),
        };
        state.generations = generations;
        state.module = module.clone();
        state.requeue_at = outcome.map(|o| {
            Instant::now()
                + match o {
                    Outcome::Ready => requeue.ready,
                    Outcome::Warning => requeue.warning,
                    Outcome::InstallWarning | Outcome::Error => requeue.error,
                }
        });
        state.status.reconciles += 1;
        state.status.reconciling = false;
        state.status.last_outcome = outcome.map(|o| o.name().to_string());
        state.status.last_module_version = module.map(|m| m.version);
        state.status.last_generation = crs
            .iter()
            .find(|cr| cr.metadata.name.as_deref() == Some(CR_NAME))
            .and_then(|cr| cr.metadata.generation);
        self.write_status(&state.status).await?;
        tracing::info!(outcome = ?outcome, "reconcile finished");
        Ok(())
    }

    /// Reconciles the oldest CR; the others get Warning (OlderCRExists).
    async fn reconcile_all(&self, crs: &[DynamicObject], module: &Module) -> Outcome {
        let oldest = oldest(crs).expect("at least one CR");
        for cr in crs
            .iter()
            .filter(|cr| cr.metadata.uid != oldest.metadata.uid)
        {
            self.not_the_oldest(cr, crs).await;
        }
        match self.reconcile(oldest, module).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!("reconcile failed: {e:#}");
                let mut status = CrStatus::of(oldest);
                status.ready("False", "ReconcileFailed", "Reconciliation failed");
                let _ = self
                    .write_cr_status(oldest, "Error", &format!("{e:#}"), &status)
                    .await;
                Outcome::Error
            }
        }
    }

    /// A CR that is not the oldest: Warning, OlderCRExists; nothing else happens.
    async fn not_the_oldest(&self, cr: &DynamicObject, crs: &[DynamicObject]) {
        let oldest = oldest(crs).expect("at least one CR");
        let mut status = CrStatus::of(cr);
        status.ready(
            "False",
            "OlderCRExists",
            "This Istio custom resource is not the oldest one and does not represent the module state",
        );
        let description = format!(
            "Stopped Istio CR reconciliation: only Istio CR {} in {} reconciles the module",
            oldest.metadata.name.as_deref().unwrap_or_default(),
            KYMA_NAMESPACE
        );
        if let Err(e) = self
            .write_cr_status(cr, "Warning", &description, &status)
            .await
        {
            tracing::error!("{e:#}");
        }
    }

    fn cr_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), KYMA_NAMESPACE, &sim::istio_resource())
    }

    async fn write_cr_status(
        &self,
        cr: &DynamicObject,
        state: &str,
        description: &str,
        status: &CrStatus,
    ) -> Result<()> {
        let name = cr.metadata.name.as_deref().unwrap_or(CR_NAME);
        let body = json!({"status": {
            "state": state, "description": description, "conditions": status.conditions,
        }});
        self.cr_api()
            .patch_status(name, &Self::params(), &Patch::Merge(body))
            .await
            .with_context(|| format!("writing the status of Istio CR {name}"))?;
        tracing::info!(cr = name, state, description, "status");
        Ok(())
    }

    /// Reads lastApplied fresh, changes it and writes it back (annotation only: no generation).
    async fn update_applied(
        &self,
        name: &str,
        change: impl FnOnce(AppliedConfig) -> AppliedConfig,
    ) -> Result<String> {
        let cr = self.cr_api().get(name).await?;
        let current = cr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
            .map(String::as_str);
        let text = change(AppliedConfig::parse(current)?).render();
        let body = json!({"metadata": {
            "resourceVersion": cr.metadata.resource_version,
            "annotations": {LAST_APPLIED_ANNOTATION: text},
        }});
        self.cr_api()
            .patch(name, &Self::params(), &Patch::Merge(body))
            .await
            .context("writing lastAppliedConfiguration")?;
        tracing::info!(cr = name, last_applied = text, "lastAppliedConfiguration");
        Ok(text)
    }

    async fn reconcile(&self, cr: &DynamicObject, module: &Module) -> Result<Outcome> {
        let name = cr.metadata.name.clone().unwrap_or_default();
        let mut status = CrStatus::of(cr);
        status.ready(
            "Unknown",
            "ReconcileUnknown",
            "Module readiness is unknown. Either a reconciliation is progressing, or failed previously. Check status of other conditions",
        );
        let spec = IstioSpec::from_cr_spec(&cr.data["spec"])?;
        let annotation = cr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
            .cloned();
        let applied = AppliedConfig::parse(annotation.as_deref())?;
        let tag = module.istio_tag()?;
        let gateway = rules::gateway_restart_needed(&applied.spec, &spec);
        let policies = rules::network_policies_changed(&applied.spec, &spec);
        if rules::shows_processing(&module.version, annotation.is_none(), gateway || policies) {
            self.write_cr_status(cr, "Processing", "Reconciling Istio", &status)
                .await?;
        }

        if annotation.is_some()
            && let Err(e) = rules::check_version_step(&applied.istio_tag, &tag)
        {
            status.ready(
                "False",
                "IstioVersionUpdateNotAllowed",
                "Update to the new Istio version is not allowed",
            );
            let description = format!("Istio version update is not allowed: {e}");
            self.write_cr_status(cr, "Warning", &description, &status)
                .await?;
            return Ok(Outcome::InstallWarning);
        }

        if let Err(e) = self.install(&spec, module).await {
            status.ready(
                "False",
                "IstioInstallUninstallFailed",
                "Istio install or uninstall failed",
            );
            self.write_cr_status(
                cr,
                "Error",
                &format!("Could not install Istio: {e:#}"),
                &status,
            )
            .await?;
            return Ok(Outcome::Error);
        }
        status.ready(
            "False",
            "IstioInstallSucceeded",
            "Istio installation succeeded",
        );
        self.update_applied(&name, |a| a.with_istio_tag(&tag))
            .await?;

        let mut failures: Vec<Failure> = Vec::new();
        // 1. The ingress gateway.
        let mut gateway_ok = true;
        if gateway {
            tracing::info!("restarting the ingress gateway for its settings");
            if let Err(e) = self
                .restart_template::<Deployment>(ISTIO_NAMESPACE, "istio-ingressgateway")
                .await
            {
                gateway_ok = false;
                status.ready(
                    "False",
                    "IngressGatewayRestartFailed",
                    "Istio Ingress Gateway restart failed",
                );
                failures.push(Failure {
                    warning: false,
                    description: format!("Failed to restart Ingress Gateway: {e:#}"),
                });
            }
        }
        if gateway_ok {
            if let Err(e) = self
                .update_applied(&name, |a| a.with_gateway_fields(&spec))
                .await
            {
                tracing::error!("updating lastApplied after the gateway restart: {e:#}");
            }
            status.ready(
                "False",
                "IngressGatewayRestartSucceeded",
                "Istio Ingress Gateway restart succeeded",
            );
        }
        // 2. The sidecars.
        match self.restart_sidecars(&applied.spec, &spec, module).await {
            Err(e) => {
                status.set(
                    "ProxySidecarRestartSucceeded",
                    "False",
                    "ProxySidecarRestartFailed",
                    "Proxy sidecar restart failed",
                );
                failures.push(Failure {
                    warning: false,
                    description: format!(
                        "Error occurred during reconciliation of Istio Sidecars: {e:#}"
                    ),
                });
            }
            Ok(warnings) => match rules::warning_message(&warnings) {
                Some(message) => {
                    for w in &warnings {
                        tracing::info!(
                            namespace = w.namespace,
                            name = w.name,
                            kind = w.kind,
                            message = w.message,
                            "proxy reset failed"
                        );
                    }
                    status.set(
                        "ProxySidecarRestartSucceeded",
                        "False",
                        "ProxySidecarManualRestartRequired",
                        &message,
                    );
                    failures.push(Failure {
                        warning: true,
                        description: "Some Pods with Istio sidecar injection failed to restart. To learn more about the warning, see kyma-system/istio-controller-manager logs: could not restart one or more Istio-injected Pods".to_string(),
                    });
                }
                None => {
                    if let Err(e) = self
                        .update_applied(&name, |a| a.with_proxy_fields(&spec))
                        .await
                    {
                        tracing::error!("updating lastApplied after the sidecar restart: {e:#}");
                    }
                    status.set(
                        "ProxySidecarRestartSucceeded",
                        "True",
                        "ProxySidecarRestartSucceeded",
                        "Proxy sidecar restart succeeded",
                    );
                }
            },
        }
        // 3. Network policies.
        if policies {
            tracing::info!(
                "networkPoliciesEnabled changed: restarting the gateway, istiod and CNI"
            );
            let result = async {
                self.restart_template::<Deployment>(ISTIO_NAMESPACE, "istio-ingressgateway")
                    .await?;
                self.restart_template::<Deployment>(ISTIO_NAMESPACE, "istiod")
                    .await?;
                self.restart_template::<DaemonSet>(ISTIO_NAMESPACE, "istio-cni-node")
                    .await
            }
            .await;
            if let Err(e) = result {
                failures.push(Failure {
                    warning: false,
                    description: format!("Failed to restart the control plane: {e:#}"),
                });
            }
        }

        // The most severe failure decides; the first of that level describes.
        let worst = failures
            .iter()
            .find(|f| !f.warning)
            .or_else(|| failures.first());
        if let Some(f) = worst {
            let (state, outcome) = if f.warning {
                ("Warning", Outcome::Warning)
            } else {
                ("Error", Outcome::Error)
            };
            self.write_cr_status(cr, state, &f.description, &status)
                .await?;
            return Ok(outcome);
        }
        self.update_applied(&name, |_| AppliedConfig::full(&spec, &tag))
            .await?;
        status.ready("True", "ReconcileSucceeded", "Reconciliation succeeded");
        status.set(
            "IngressTargetingUserResourceFound",
            "False",
            "IngressTargetingUserResourceNotFound",
            "Resources targeting Istio Ingress Gateway not found",
        );
        self.write_cr_status(cr, "Ready", "", &status).await?;
        Ok(Outcome::Ready)
    }

    /// Install: what new pods get injected (the injector's settings, rendered from the CR)
    /// and the control plane with the module's images; waits until it runs them.
    async fn install(&self, spec: &IstioSpec, module: &Module) -> Result<()> {
        let sim = Sim::new(self.client.clone());
        let istio_version = module.istio_version()?;
        let mut settings = match sim.settings().await {
            Ok(s) => s,
            Err(_) => InjectorSettings::kyma_default(&istio_version),
        };
        let defaults = InjectorSettings::kyma_default(&istio_version);
        let expected = ProxyResources::expected(&module_default_resources(), spec);
        settings.istio_version = istio_version.clone();
        settings.hub = module
            .images
            .proxyv2
            .rsplit_once("/proxyv2:")
            .map(|(hub, _)| hub.to_string())
            .unwrap_or(defaults.hub);
        settings.prometheus_merge = spec.config.telemetry.metrics.prometheus_merge;
        settings.dns_proxying = spec.config.enable_dns_proxying == Some(true);
        settings.compatibility_mode = spec.compatibility_mode;
        settings.proxy_stats_matcher = spec
            .config
            .proxy_stats_matcher
            .as_ref()
            .map(|m| m.inclusion_regexps.clone());
        settings.resources = to_requirements(&expected);
        sim.set_settings(&settings).await?;
        sim.apply_istio(&module.images).await?;
        for name in ["istiod", "istio-ingressgateway"] {
            wait::deployment_rollout(&self.client, ISTIO_NAMESPACE, name, INSTALL_TIMEOUT).await?;
        }
        self.verify_istio_pods(&istio_version).await
    }

    /// Every running control-plane pod (module label, `istio-system`) runs `version`.
    async fn verify_istio_pods(&self, version: &str) -> Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ISTIO_NAMESPACE);
        let list = pods
            .list(&ListParams::default().labels(&format!("{}=istio", rules::KYMA_MODULE_LABEL)))
            .await?;
        for pod in list
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
            for c in containers
                .filter(|c| ["discovery", "istio-proxy", "install-cni"].contains(&c.name.as_str()))
            {
                let tag = c
                    .image
                    .as_deref()
                    .and_then(rules::image_tag)
                    .unwrap_or_default();
                let pod_version = tag.split('-').next().unwrap_or_default();
                if pod_version != version {
                    bail!(
                        "istio-system Pods version {pod_version} do not match istio operator version {version} (pod {})",
                        pod.metadata.name.as_deref().unwrap_or_default()
                    );
                }
            }
        }
        Ok(())
    }

    /// Strategic-merge patch of the template's restartedAt annotation; NotFound is fine.
    async fn restart_template<K>(&self, namespace: &str, name: &str) -> Result<()>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {
            RESTARTED_AT_ANNOTATION: now_rfc3339()
        }}}}});
        match api
            .patch(name, &Self::params(), &Patch::Strategic(patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e).with_context(|| format!("patching {namespace}/{name}")),
        }
    }

    /// The sidecar restarter: Kyma workloads first (any error or warning fatal), then the
    /// customer's (errors swallowed; warnings returned).
    async fn restart_sidecars(
        &self,
        applied: &IstioSpec,
        spec: &IstioSpec,
        module: &Module,
    ) -> Result<Vec<Warning>> {
        let istio_version = module.istio_version()?;
        self.verify_istio_pods(&istio_version).await?;
        let minor = rules::Version::parse(&istio_version)?.minor as u32;
        let (compatibility_changed, dns_proxying_changed, stats_matcher_changed) =
            SidecarRules::edges(applied, spec, !compatibility_env(minor).is_empty());
        let rules = SidecarRules {
            expected_image: module.images.proxyv2.clone(),
            expected_resources: ProxyResources::expected(&module_default_resources(), spec),
            prometheus_merge: spec.config.telemetry.metrics.prometheus_merge,
            status_port: self.status_port().await,
            disable_cni: self.disable_cni().await?,
            compatibility_changed,
            dns_proxying_changed,
            stats_matcher_changed,
        };
        tracing::info!(
            expected_image = rules.expected_image,
            "running proxy sidecar reset"
        );
        let kyma = self.restart_pass(&rules, true).await?;
        if let Some(message) = rules::warning_message(&kyma) {
            bail!("Kyma workloads: {message}");
        }
        tracing::info!("Kyma proxy restart completed");
        match self.restart_pass(&rules, false).await {
            Ok(warnings) => Ok(warnings),
            Err(e) => {
                tracing::error!("failed to restart customer proxies: {e:#}");
                Ok(vec![Warning {
                    namespace: "n/a".into(),
                    name: "n/a".into(),
                    kind: "n/a".into(),
                    message: "failed to restart Customer proxies".into(),
                }])
            }
        }
    }

    /// One pass over every Running pod, in pages of [`PAGE_SIZE`].
    async fn restart_pass(&self, rules: &SidecarRules, kyma: bool) -> Result<Vec<Warning>> {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let mut warnings = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default()
                .fields("status.phase=Running")
                .limit(PAGE_SIZE);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = pods.list(&lp).await.context("listing Running pods")?;
            let selected: Vec<&Pod> = page
                .items
                .iter()
                .filter(|p| rules::is_candidate(p) && rules::is_kyma_workload(p) == kyma)
                .filter(|p| {
                    let reasons = rules.reasons(p);
                    if !reasons.is_empty() {
                        tracing::debug!(
                            namespace = p.metadata.namespace.as_deref().unwrap_or_default(),
                            pod = p.metadata.name.as_deref().unwrap_or_default(),
                            ?reasons,
                            "pod needs a restart"
                        );
                    }
                    !reasons.is_empty()
                })
                .collect();
            tracing::info!(
                kyma,
                pods = page.items.len(),
                to_restart = selected.len(),
                "page"
            );
            let mut processed = HashSet::new();
            for pod in selected {
                let action = match self.action_for(pod).await {
                    Ok(a) => a,
                    Err(e) if kyma => return Err(e),
                    Err(e) => {
                        tracing::error!("creating the restart action failed: {e:#}");
                        continue;
                    }
                };
                if !processed.insert(action.key()) {
                    continue;
                }
                match self.run_action(&action).await {
                    Ok(Some(w)) => warnings.push(w),
                    Ok(None) => {}
                    Err(e) if kyma => return Err(e),
                    Err(e) => tracing::error!("restart action failed (swallowed): {e:#}"),
                }
            }
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(warnings);
            }
        }
    }

    async fn action_for(&self, pod: &Pod) -> Result<Action> {
        if let Some(action) = rules::direct_action(pod) {
            return Ok(action);
        }
        let rules::Owner::ReplicaSet(rs_name) = rules::first_owner(pod) else {
            unreachable!("direct_action covers every other owner");
        };
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let sets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &namespace);
        let rs = sets.get_opt(&rs_name).await?;
        let namespace_sets = match &rs {
            Some(rs)
                if rs
                    .metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| !o.is_empty()) =>
            {
                sets.list(&ListParams::default()).await?.items
            }
            _ => Vec::new(),
        };
        Ok(rules::replica_set_action(pod, rs.as_ref(), &namespace_sets))
    }

    async fn run_action(&self, action: &Action) -> Result<Option<Warning>> {
        match action {
            Action::Rollout {
                kind,
                namespace,
                name,
            } => {
                tracing::info!(kind, namespace, name, "rollout pod due to proxy restart");
                match kind.as_str() {
                    "Deployment" => self.restart_template::<Deployment>(namespace, name).await?,
                    "StatefulSet" => {
                        self.restart_template::<StatefulSet>(namespace, name)
                            .await?
                    }
                    "DaemonSet" => self.restart_template::<DaemonSet>(namespace, name).await?,
                    "ReplicaSet" => self.restart_template::<ReplicaSet>(namespace, name).await?,
                    other => return Err(anyhow!("kind {other} is not supported for rollout")),
                }
                Ok(None)
            }
            Action::DeletePod { namespace, name } => {
                tracing::info!(namespace, name, "delete pod due to proxy restart");
                let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
                pods.delete(name, &DeleteParams::default())
                    .await
                    .with_context(|| format!("deleting pod {namespace}/{name}"))?;
                Ok(None)
            }
            Action::Warn {
                namespace,
                name,
                message,
            } => Ok(Some(Warning {
                namespace: namespace.clone(),
                name: name.clone(),
                kind: "Pod".into(),
                message: (*message).to_string(),
            })),
            Action::Skip {
                kind,
                namespace,
                name,
                message,
            } => {
                tracing::info!(kind, namespace, name, "{message}");
                Ok(None)
            }
        }
    }

    /// Mesh `defaultConfig.statusPort` (ConfigMap `istio-system/istio`), default 15020.
    async fn status_port(&self) -> u16 {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ISTIO_NAMESPACE);
        let mesh = cms
            .get_opt("istio")
            .await
            .ok()
            .flatten()
            .and_then(|cm| cm.data)
            .and_then(|d| d.get("mesh").cloned())
            .unwrap_or_default();
        mesh.lines()
            .find_map(|l| l.trim().strip_prefix("statusPort:"))
            .and_then(|v| v.trim().parse().ok())
            .filter(|p| *p != 0)
            .unwrap_or(15020)
    }

    /// `disableCni` of `kyma-system/istio-features` (absent: CNI on).
    async fn disable_cni(&self) -> Result<bool> {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), KYMA_NAMESPACE);
        let Some(cm) = cms.get_opt(FEATURES_CONFIGMAP).await? else {
            return Ok(false);
        };
        let Some(raw) = cm.data.as_ref().and_then(|d| d.get("features")) else {
            return Ok(false);
        };
        let features: Value = serde_json::from_str(raw)
            .with_context(|| format!("parsing {KYMA_NAMESPACE}/{FEATURES_CONFIGMAP}"))?;
        Ok(features["disableCni"].as_bool().unwrap_or(false))
    }
}

/// The CR that reconciles the module: the oldest by creationTimestamp (as the operator: a later
/// CR with the same timestamp wins the tie).
fn oldest(crs: &[DynamicObject]) -> Option<&DynamicObject> {
    let created = |cr: &DynamicObject| cr.metadata.creation_timestamp.clone().map(|t| t.0);
    let mut oldest = crs.first()?;
    for cr in crs {
        if created(cr) <= created(oldest) {
            oldest = cr;
        }
    }
    Some(oldest)
}

/// The module's default sidecar resources (those of [`InjectorSettings::kyma_default`]).
fn module_default_resources() -> ProxyResources {
    let r = InjectorSettings::kyma_default("1.0.0").resources;
    let get = |list: &Option<
        BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
               k: &str| { list.as_ref().and_then(|l| l.get(k)).map(|q| q.0.clone()) };
    ProxyResources {
        cpu_request: get(&r.requests, "cpu"),
        memory_request: get(&r.requests, "memory"),
        cpu_limit: get(&r.limits, "cpu"),
        memory_limit: get(&r.limits, "memory"),
    }
}

fn to_requirements(r: &ProxyResources) -> k8s_openapi::api::core::v1::ResourceRequirements {
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let list = |cpu: &Option<String>, memory: &Option<String>| {
        let mut m = BTreeMap::new();
        if let Some(c) = cpu {
            m.insert("cpu".to_string(), Quantity(c.clone()));
        }
        if let Some(v) = memory {
            m.insert("memory".to_string(), Quantity(v.clone()));
        }
        Some(m)
    };
    k8s_openapi::api::core::v1::ResourceRequirements {
        requests: list(&r.cpu_request, &r.memory_request),
        limits: list(&r.cpu_limit, &r.memory_limit),
        ..Default::default()
    }
}

/// The operator made autonomous for one test; back to passive when dropped (or [`stop`]ped).
///
/// [`stop`]: AutonomousOperator::stop
pub struct AutonomousOperator {
    client: Client,
    kubeconfig: PathBuf,
    stopped: bool,
}

impl AutonomousOperator {
    /// Makes the cluster's operator process autonomous with these settings and waits until it
    /// has finished its start-up reconcile. The operator is cluster-wide, like the simulation:
    /// hold the [`SimGuard`] for as long as this lives.
    pub async fn start(
        cluster: &Cluster,
        _sim: &SimGuard,
        settings: OperatorSettings,
    ) -> Result<Self> {
        let client = cluster.client().await?;
        let before = read_status(&client).await?.context(
            "no operator status: is `sim-istio operator` running (hack/cluster/up.sh starts it)?",
        )?;
        write_settings(&client, &settings).await?;
        let op = Self {
            client,
            kubeconfig: cluster.kubeconfig_path().to_path_buf(),
            stopped: false,
        };
        op.wait_for(
            "the operator's start-up reconcile",
            Duration::from_secs(90),
            |s| s.mode == Mode::Autonomous && !s.reconciling && s.reconciles > before.reconciles,
        )
        .await?;
        Ok(op)
    }

    /// The process's last report.
    pub async fn status(&self) -> Result<OperatorStatus> {
        read_status(&self.client)
            .await?
            .context("the operator's status ConfigMap is gone")
    }

    /// Waits until the report satisfies `done`; returns it.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&OperatorStatus) -> bool,
    ) -> Result<OperatorStatus> {
        wait::until(what, timeout, || async {
            let status = read_status(&self.client).await?;
            Ok(status.filter(|s| done(s)))
        })
        .await
    }

    /// Waits until a reconcile after the `after`-th has finished.
    pub async fn wait_reconciled(&self, after: u64, timeout: Duration) -> Result<OperatorStatus> {
        self.wait_for(
            &format!("operator reconcile number {}", after + 1),
            timeout,
            |s| !s.reconciling && s.reconciles > after,
        )
        .await
    }

    /// Back to passive; waits until the operator is idle.
    pub async fn stop(mut self) -> Result<()> {
        self.stopped = true;
        release(&self.client).await
    }
}

impl Drop for AutonomousOperator {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        // Drop cannot await and the test's runtime may be gone: a thread with its own runtime
        // and client.
        let kubeconfig = self.kubeconfig.clone();
        let done = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = Cluster::from_kubeconfig(kubeconfig)?.client().await?;
                release(&client).await
            })
        })
        .join();
        if let Ok(Err(e)) = done {
            eprintln!("could not make the simulated operator passive again: {e:#}");
        }
    }
}

async fn write_settings(client: &Client, settings: &OperatorSettings) -> Result<()> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    let body = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": SETTINGS_CONFIGMAP, "namespace": ISTIO_NAMESPACE},
        "data": {SETTINGS_KEY: serde_json::to_string(settings)?}
    });
    cms.patch(
        SETTINGS_CONFIGMAP,
        &PatchParams::apply(sim::FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .context("writing the operator's settings ConfigMap")?;
    Ok(())
}

/// Removes the settings ConfigMap, so the process falls back to its command line (passive in
/// the test cluster), and waits until it reports that mode and no reconcile running.
pub async fn release(client: &Client) -> Result<()> {
    reset_settings(client).await?;
    if read_status(client).await?.is_none() {
        return Ok(());
    }
    wait::until(
        "the simulated operator to return to its default mode",
        Duration::from_secs(120),
        || async {
            let s = read_status(client).await?;
            Ok(s.filter(|s| s.mode == s.default_mode && !s.reconciling)
                .map(|_| ()))
        },
    )
    .await
}

/// Deletes the settings ConfigMap (NotFound is fine).
pub async fn reset_settings(client: &Client) -> Result<()> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    match cms
        .delete(SETTINGS_CONFIGMAP, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e).context("deleting the operator's settings ConfigMap"),
    }
}

/// The operator process's report, `None` when it never ran on this cluster.
pub async fn read_status(client: &Client) -> Result<Option<OperatorStatus>> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    let Some(cm) = cms.get_opt(STATUS_CONFIGMAP).await? else {
        return Ok(None);
    };
    let raw = cm
        .data
        .as_ref()
        .and_then(|d| d.get(STATUS_KEY))
        .context("the operator's status ConfigMap has no status.json")?;
    Ok(Some(serde_json::from_str(raw)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_override_the_command_line() {
        let defaults = Defaults::default();
        let (mode, requeue) = OperatorSettings::default().resolve(&defaults).unwrap();
        assert_eq!(mode, Mode::Passive);
        assert_eq!(requeue, Requeue::default());
        let (mode, requeue) = OperatorSettings::autonomous("60s", "5s", "2s")
            .resolve(&defaults)
            .unwrap();
        assert_eq!(mode, Mode::Autonomous);
        assert_eq!(requeue.warning, Duration::from_secs(5));
        assert_eq!(requeue.error, Duration::from_secs(2));
        assert_eq!(requeue.ready, Duration::from_secs(60));
        let json: OperatorSettings =
            serde_json::from_str(r#"{"mode":"autonomous","requeueWarning":"1s"}"#).unwrap();
        let (_, requeue) = json.resolve(&defaults).unwrap();
        assert_eq!(requeue.warning, Duration::from_secs(1));
        assert_eq!(requeue.ready, Requeue::default().ready);
        assert!("sometimes".parse::<Mode>().is_err());
    }

    #[test]
    fn module_from_the_manager() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "istio-controller-manager", "labels": {"app.kubernetes.io/version": "1.29.0"}},
            "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "manager", "env": [
                {"name": "pilot", "value": "hub/pilot:1.30.2-distroless"},
                {"name": "proxyv2", "value": "hub/proxyv2:1.30.2-distroless"},
            ]}]}}}
        }))
        .unwrap();
        let m = Module::from_manager(&d).unwrap();
        assert_eq!(m.version, "1.29.0");
        assert_eq!(m.istio_tag().unwrap(), "1.30.2-distroless");
        assert_eq!(m.istio_version().unwrap(), "1.30.2");
    }

    #[test]
    fn conditions_keep_their_transition_time_while_the_status_holds() {
        let mut s = CrStatus {
            conditions: vec![json!({
            "type": "Ready", "status": "True", "reason": "ReconcileSucceeded", "message": "",
            "lastTransitionTime": "2020-01-01T00:00:00Z"})],
        };
        s.ready("True", "ReconcileSucceeded", "again");
        assert_eq!(
            s.conditions[0]["lastTransitionTime"],
            "2020-01-01T00:00:00Z"
        );
        s.ready("False", "IstioInstallSucceeded", "x");
        assert_ne!(
            s.conditions[0]["lastTransitionTime"],
            "2020-01-01T00:00:00Z"
        );
        s.set(
            "ProxySidecarRestartSucceeded",
            "True",
            "ProxySidecarRestartSucceeded",
            "ok",
        );
        assert_eq!(s.conditions.len(), 2);
    }

    #[test]
    fn restarted_at_has_second_resolution() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-12-02T04:15:14Z".len(), "{now}");
        assert!(now.ends_with('Z'));
    }
}

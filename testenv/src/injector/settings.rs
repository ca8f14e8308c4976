//! The injector's settings: the installed Istio version and the sidecar-relevant parts of the
//! Istio CR, kept as JSON in a ConfigMap of the cluster (written by [`crate::sim::Sim`], read
//! by the webhook on every request).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{ConfigMap, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::Api;
use serde::{Deserialize, Serialize};

/// Namespace of the simulated Istio control plane.
pub const ISTIO_NAMESPACE: &str = "istio-system";
/// ConfigMap (in [`ISTIO_NAMESPACE`]) that holds the injector's settings under [`SETTINGS_KEY`].
pub const SETTINGS_CONFIGMAP: &str = "sim-injector";
/// Key of the JSON-encoded [`InjectorSettings`] in [`SETTINGS_CONFIGMAP`].
pub const SETTINGS_KEY: &str = "settings.json";

/// What the injector injects: the installed Istio version and the sidecar-relevant parts of
/// the Istio CR, as the operator would have rendered them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectorSettings {
    /// Installed Istio version, e.g. `1.29.3`.
    pub istio_version: String,
    /// Image registry path of the Istio images, e.g. `europe-docker.pkg.dev/kyma-project/prod/external/istio`.
    pub hub: String,
    /// `spec.config.telemetry.metrics.prometheusMerge`.
    #[serde(default)]
    pub prometheus_merge: bool,
    /// `spec.compatibilityMode`.
    #[serde(default)]
    pub compatibility_mode: bool,
    /// `spec.config.enableDNSProxying`.
    #[serde(default)]
    pub dns_proxying: bool,
    /// Mesh `defaultConfig.statusPort`.
    #[serde(default = "default_status_port")]
    pub status_port: u16,
    /// Sidecar resources (`spec.components.proxy.k8s.resources` or the module default).
    pub resources: ResourceRequirements,
    /// `spec.config.proxyStatsMatcher.inclusionRegexps` (mesh `defaultConfig.proxyStatsMatcher`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_stats_matcher: Option<Vec<String>>,
    /// What the module's feature flags render (ConfigMap `kyma-system/istio-features`): not kept
    /// in the settings ConfigMap but read beside it on every request ([`read_features`]).
    #[serde(skip)]
    pub features: Features,
}

/// The module's feature flags as the operator renders them into the mesh, with its version
/// gates applied ([`read_features`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// `disableCni`: `istio-init` instead of `istio-validation`.
    pub disable_cni: bool,
    /// `enableAmbient` on module 1.32.0+: proxy metadata `ISTIO_META_ENABLE_HBONE=true`.
    pub ambient: bool,
    /// `enableDualStack` on module 1.31.0+ of a dual-stack cluster: `ISTIO_DUAL_STACK=true`.
    pub dual_stack: bool,
}

/// Namespace of the module, its feature flags and the provisioning details.
pub const KYMA_NAMESPACE: &str = "kyma-system";
/// The module's feature flags (key [`FEATURES_KEY`], JSON).
pub const FEATURES_CONFIGMAP: &str = "istio-features";
pub const FEATURES_KEY: &str = "features";
/// The provisioning details (key `details`, YAML; `networkDetails.dualStackIPEnabled`).
pub const PROVISIONING_CONFIGMAP: &str = "kyma-provisioning-info";

/// The feature flags the injector renders: `kyma-system/istio-features` (absent: all off), gated
/// by the module version (the manager Deployment's `app.kubernetes.io/version`) and, for dual
/// stack, by `kyma-system/kyma-provisioning-info`. One request when no flag for sidecars is on.
pub async fn read_features(client: &kube::Client) -> Result<Features> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), KYMA_NAMESPACE);
    let Some(cm) = cms.get_opt(FEATURES_CONFIGMAP).await? else {
        return Ok(Features::default());
    };
    let raw = cm
        .data
        .as_ref()
        .and_then(|d| d.get(FEATURES_KEY))
        .map(String::as_str)
        .unwrap_or("{}");
    let flags: serde_json::Value =
        serde_json::from_str(if raw.trim().is_empty() { "{}" } else { raw })
            .with_context(|| format!("parsing {KYMA_NAMESPACE}/{FEATURES_CONFIGMAP}"))?;
    let flag = |k: &str| flags.get(k).and_then(serde_json::Value::as_bool) == Some(true);
    let mut out = Features {
        disable_cni: flag("disableCni"),
        ..Features::default()
    };
    let (ambient, dual_stack) = (flag("enableAmbient"), flag("enableDualStack"));
    if !ambient && !dual_stack {
        return Ok(out);
    }
    let module = module_version(client).await?;
    let since =
        |minor: u64| module.is_some_and(|(major, m)| major > 1 || (major == 1 && m >= minor));
    out.ambient = ambient && since(32);
    if dual_stack && since(31) {
        let details = cms
            .get_opt(PROVISIONING_CONFIGMAP)
            .await?
            .and_then(|c| c.data)
            .and_then(|d| d.get("details").cloned());
        if let Some(details) = details {
            let v: serde_json::Value = serde_saphyr::from_str(&details)
                .with_context(|| format!("parsing {KYMA_NAMESPACE}/{PROVISIONING_CONFIGMAP}"))?;
            out.dual_stack = v
                .pointer("/networkDetails/dualStackIPEnabled")
                .and_then(serde_json::Value::as_bool)
                == Some(true);
        }
    }
    Ok(out)
}

/// `(major, minor)` of the installed module (the manager Deployment's version label).
async fn module_version(client: &kube::Client) -> Result<Option<(u64, u64)>> {
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), KYMA_NAMESPACE);
    let Some(d) = deployments.get_opt(crate::sim::MANAGER_DEPLOYMENT).await? else {
        return Ok(None);
    };
    let version = d
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(crate::sim::MODULE_VERSION_LABEL))
        .cloned()
        .unwrap_or_default();
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    Ok(match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => Some((major, minor)),
        _ => None,
    })
}

fn default_status_port() -> u16 {
    15020
}

impl InjectorSettings {
    /// Settings of a default Kyma Istio installation of `istio_version`.
    pub fn kyma_default(istio_version: &str) -> Self {
        let q = |s: &str| Quantity(s.to_string());
        Self {
            istio_version: istio_version.to_string(),
            hub: crate::sim::HUB.to_string(),
            prometheus_merge: false,
            compatibility_mode: false,
            dns_proxying: false,
            status_port: default_status_port(),
            resources: ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".to_string(), q("10m")),
                    ("memory".to_string(), q("192Mi")),
                ])),
                limits: Some(BTreeMap::from([
                    ("cpu".to_string(), q("1000m")),
                    ("memory".to_string(), q("1024Mi")),
                ])),
                ..Default::default()
            },
            proxy_stats_matcher: None,
            features: Features::default(),
        }
    }

    /// The sidecar image new injections get: `<hub>/proxyv2:<version>-distroless`.
    pub fn proxy_image(&self) -> String {
        format!("{}/proxyv2:{}-distroless", self.hub, self.istio_version)
    }

    /// Minor version of [`Self::istio_version`] (`1.29.3` -> 29).
    pub(crate) fn minor(&self) -> Result<u32> {
        let mut parts = self.istio_version.split('.');
        let (major, minor) = (parts.next(), parts.next());
        match (major, minor.and_then(|m| m.parse::<u32>().ok())) {
            (Some("1"), Some(minor)) => Ok(minor),
            _ => bail!(
                "istio version {:?} is not 1.<minor>.<patch>",
                self.istio_version
            ),
        }
    }
}

/// Reads the injector settings from the cluster.
pub async fn read_settings(client: &kube::Client) -> Result<InjectorSettings> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ISTIO_NAMESPACE);
    let cm = cms
        .get(SETTINGS_CONFIGMAP)
        .await
        .with_context(|| format!("reading ConfigMap {ISTIO_NAMESPACE}/{SETTINGS_CONFIGMAP}"))?;
    let raw = cm
        .data
        .as_ref()
        .and_then(|d| d.get(SETTINGS_KEY))
        .with_context(|| {
            format!("ConfigMap {ISTIO_NAMESPACE}/{SETTINGS_CONFIGMAP} has no key {SETTINGS_KEY}")
        })?;
    let mut settings: InjectorSettings = serde_json::from_str(raw).with_context(|| {
        format!("parsing {SETTINGS_KEY} of {ISTIO_NAMESPACE}/{SETTINGS_CONFIGMAP}")
    })?;
    settings.features = read_features(client).await?;
    Ok(settings)
}

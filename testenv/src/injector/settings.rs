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
    serde_json::from_str(raw).with_context(|| {
        format!("parsing {SETTINGS_KEY} of {ISTIO_NAMESPACE}/{SETTINGS_CONFIGMAP}")
    })
}

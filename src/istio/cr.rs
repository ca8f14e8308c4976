//! The project's own definition of the Kyma `Istio` custom resource (`operator.kyma-project.io/v1alpha2`).
//!
//! Field names, types, enums and patterns follow the module's CRD; the CRD this project installs in
//! test clusters is generated from these types (`istio-rollout crd`).

use k8s_openapi::api::core::v1::Affinity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Pattern of CPU quantities accepted by the module's CRD.
pub const CPU_PATTERN: &str = r"^([0-9]+m?|[0-9]\.[0-9]{1,3})$";
/// Pattern of memory quantities accepted by the module's CRD.
pub const MEMORY_PATTERN: &str =
    r"^[0-9]+(((\.[0-9]+)?(E|P|T|G|M|k|Ei|Pi|Ti|Gi|Mi|Ki|m)?)|(e[0-9]+))$";
/// Pattern of `spec.config.trustDomain`.
pub const TRUST_DOMAIN_PATTERN: &str =
    r"^[a-z0-9]*([a-z0-9-_]*)?(\.[a-z0-9]*([a-z0-9-_]*[a-z0-9]*)?)*$";
/// Pattern of `maxSurge` when given as a string.
pub const MAX_SURGE_PATTERN: &str = r"^[0-9]+%?$";
/// Pattern of `maxUnavailable` when given as a string.
pub const MAX_UNAVAILABLE_PATTERN: &str = r"^((100|[0-9]{1,2})%|[0-9]+)$";

/// The annotation in which the operator records what it last applied (spec JSON plus `IstioTag`).
pub const LAST_APPLIED_ANNOTATION: &str = "operator.kyma-project.io/lastAppliedConfiguration";
pub const NAMESPACE: &str = "kyma-system";
pub const API_VERSION: &str = "operator.kyma-project.io/v1alpha2";
pub const KIND: &str = "Istio";

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "operator.kyma-project.io",
    version = "v1alpha2",
    kind = "Istio",
    plural = "istios",
    namespaced,
    status = "IstioStatus",
    category = "kyma-modules",
    category = "kyma-istio",
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct IstioSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Components>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Config>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experimental: Option<Experimental>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policies_enabled: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizers: Option<Vec<Authorizer>>,
    #[serde(
        default,
        rename = "enableDNSProxying",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_dns_proxying: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_client_cert_details: Option<ForwardClientCertDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_external_traffic_policy: Option<ExternalTrafficPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_trusted_proxies: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_stats_matcher: Option<ProxyStatsMatcher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<Telemetry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), regex(pattern = TRUST_DOMAIN_PATTERN))]
    pub trust_domain: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ForwardClientCertDetails {
    AppendForward,
    SanitizeSet,
    Sanitize,
    AlwaysForwardOnly,
    ForwardOnly,
}

impl ForwardClientCertDetails {
    /// The name as serialised (`APPEND_FORWARD`).
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardClientCertDetails::AppendForward => "APPEND_FORWARD",
            ForwardClientCertDetails::SanitizeSet => "SANITIZE_SET",
            ForwardClientCertDetails::Sanitize => "SANITIZE",
            ForwardClientCertDetails::AlwaysForwardOnly => "ALWAYS_FORWARD_ONLY",
            ForwardClientCertDetails::ForwardOnly => "FORWARD_ONLY",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ExternalTrafficPolicy {
    Local,
    Cluster,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyStatsMatcher {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_regexps: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Telemetry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_merge: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Authorizer {
    pub name: String,
    pub port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<AuthorizerHeaders>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_check: Option<InCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_downstream: Option<OnAllowDeny>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_upstream: Option<OnAllow>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct InCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnAllowDeny {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_allow: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_deny: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnAllow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_allow: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Components {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni: Option<CniComponent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_gateway: Option<EgressGatewayComponent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_gateway: Option<KubernetesComponent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pilot: Option<KubernetesComponent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyComponent>,
}

/// A component with HPA, strategy and resources (`pilot`, `ingressGateway`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct KubernetesComponent {
    pub k8s: KubernetesResourcesConfig,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct EgressGatewayComponent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s: Option<KubernetesResourcesConfig>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesResourcesConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa_spec: Option<HpaSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HpaSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_replicas: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    pub rolling_update: RollingUpdate,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CniComponent {
    pub k8s: CniK8s,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CniK8s {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ProxyComponent {
    pub k8s: ProxyK8s,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ProxyK8s {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceQuantities>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceQuantities>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ResourceQuantities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CPU_PATTERN))]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = MEMORY_PATTERN))]
    pub memory: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Experimental {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ambient: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pilot: Option<ExperimentalPilot>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentalPilot {
    #[serde(
        default,
        rename = "enableAlphaGatewayAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_alpha_gateway_api: Option<bool>,
    #[serde(
        default,
        rename = "enableMultiNetworkDiscoverGatewayAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_multi_network_discover_gateway_api: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct IstioStatus {
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum State {
    #[default]
    Processing,
    Deleting,
    Ready,
    Error,
    Warning,
}

impl IstioSpec {
    pub fn prometheus_merge(&self) -> bool {
        self.config
            .as_ref()
            .and_then(|c| c.telemetry.as_ref())
            .and_then(|t| t.metrics.as_ref())
            .and_then(|m| m.prometheus_merge)
            .unwrap_or(false)
    }

    pub fn compatibility_mode(&self) -> bool {
        self.compatibility_mode.unwrap_or(false)
    }

    pub fn dns_proxying(&self) -> Option<bool> {
        self.config.as_ref().and_then(|c| c.enable_dns_proxying)
    }

    pub fn proxy_resources(&self) -> Option<&Resources> {
        self.components
            .as_ref()
            .and_then(|c| c.proxy.as_ref())
            .and_then(|p| p.k8s.resources.as_ref())
    }
}

/// The CustomResourceDefinition generated from these types, as YAML.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = Istio::crd();
    format!(
        "# Generated by `istio-rollout crd` from src/istio/cr.rs. Do not edit.\n---\n{}",
        serde_saphyr::to_string(&crd).expect("the CRD serialises")
    )
}

#[cfg(test)]
mod tests {
    /// The committed CRD must match the types; regenerate with `just crd`.
    #[test]
    fn committed_crd_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/manifests/crd/istios.operator.kyma-project.io.yaml"
        );
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == super::crd_yaml(),
            "{path} is out of date: run `just crd`"
        );
    }
}

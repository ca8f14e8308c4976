//! The decisions of the simulated Kyma Istio operator, as pure functions: the Istio CR spec as
//! the operator's Go types serialise it (and so `lastAppliedConfiguration`), the version gate,
//! the ingress-gateway rule, which pods the sidecar restarter restarts and what it does to
//! their owners, the warning message, and when the CR goes to Processing.
//!
//! Behaviour follows `../shared/kyma-operator.md` (module 1.30.0); the I/O is in
//! [`super`](crate::operator).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Container, Pod};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::injector::{
    ANNOTATION_PROMETHEUS_PATH, ANNOTATION_PROMETHEUS_PORT, ANNOTATION_PROXY_CPU,
    ANNOTATION_PROXY_CPU_LIMIT, ANNOTATION_PROXY_IMAGE, ANNOTATION_PROXY_MEMORY,
    ANNOTATION_PROXY_MEMORY_LIMIT, ANNOTATION_STATUS, PROXY_CONTAINER,
};

/// Namespace whose pods are Kyma workloads.
pub const KYMA_NAMESPACE: &str = "kyma-system";
/// Label that makes a pod a Kyma workload wherever it runs.
pub const KYMA_MODULE_LABEL: &str = "kyma-project.io/module";

fn is_false(b: &bool) -> bool {
    !*b
}

/// Go's `encoding/json` leaves a struct at its zero value for `null`; serde's `default` does
/// not cover `null`, this does.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The Istio CR spec in the field order and with the omission rules of the module's Go types
/// (`api/v1alpha2`): `config`, `config.telemetry` and `config.telemetry.metrics` are structs
/// and always written; pointers are written when set (also `false` or `0`); plain booleans
/// are omitted when false. `components` and `experimental` are kept as given (their nested
/// Go structs are not modelled: the sidecar rules only read `components.proxy`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: Config,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experimental: Option<Value>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub compatibility_mode: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub network_policies_enabled: bool,
}

/// `spec.config`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_trusted_proxies: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_client_cert_details: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorizers: Vec<Authorizer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_external_traffic_policy: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub telemetry: Telemetry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_domain: Option<String>,
    #[serde(
        default,
        rename = "enableDNSProxying",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_dns_proxying: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_stats_matcher: Option<ProxyStatsMatcher>,
}

/// `spec.config.authorizers[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorizer {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// `spec.config.telemetry` (always written).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    #[serde(default, deserialize_with = "null_as_default")]
    pub metrics: Metrics,
}

/// `spec.config.telemetry.metrics` (always written).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "is_false")]
    pub prometheus_merge: bool,
}

/// `spec.config.proxyStatsMatcher`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyStatsMatcher {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_regexps: Vec<String>,
}

impl IstioSpec {
    /// The spec of a CR as stored (`null` or absent is an empty spec).
    pub fn from_cr_spec(spec: &Value) -> Result<Self> {
        if spec.is_null() {
            return Ok(Self::default());
        }
        serde_json::from_value(spec.clone()).context("the Istio CR spec does not parse")
    }

    /// `spec.config.proxyStatsMatcher.inclusionRegexps`, sorted (the operator compares sorted).
    fn stats_regexps(&self) -> Vec<String> {
        let mut regexps = self
            .config
            .proxy_stats_matcher
            .as_ref()
            .map(|m| m.inclusion_regexps.clone())
            .unwrap_or_default();
        regexps.sort();
        regexps
    }

    /// `spec.components.proxy.k8s.resources.{requests,limits}.{cpu,memory}`.
    fn proxy_resource(&self, kind: &str, resource: &str) -> Option<String> {
        self.components
            .as_ref()?
            .pointer(&format!("/proxy/k8s/resources/{kind}/{resource}"))?
            .as_str()
            .map(str::to_string)
    }
}

/// The content of `operator.kyma-project.io/lastAppliedConfiguration`: the spec (inline) and
/// `"IstioTag"` (always written, Go has no `omitempty` on it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AppliedConfig {
    #[serde(flatten)]
    pub spec: IstioSpec,
    #[serde(rename = "IstioTag", default)]
    pub istio_tag: String,
}

impl AppliedConfig {
    /// Parses the annotation; none is the zero value (as the operator reads it).
    pub fn parse(annotation: Option<&str>) -> Result<Self> {
        match annotation {
            None => Ok(Self::default()),
            Some(text) => serde_json::from_str(text)
                .with_context(|| format!("lastAppliedConfiguration does not parse: {text}")),
        }
    }

    /// The annotation's text, byte for byte as the operator writes it.
    pub fn render(&self) -> String {
        serde_json::to_string(self).expect("the applied configuration serialises")
    }

    /// After a successful install: only `IstioTag` changes.
    pub fn with_istio_tag(mut self, tag: &str) -> Self {
        self.istio_tag = tag.to_string();
        self
    }

    /// After the ingress-gateway restarter: numTrustedProxies, forwardClientCertDetails and
    /// trustDomain as in `spec`.
    pub fn with_gateway_fields(mut self, spec: &IstioSpec) -> Self {
        self.spec.config.num_trusted_proxies = spec.config.num_trusted_proxies;
        self.spec.config.forward_client_cert_details =
            spec.config.forward_client_cert_details.clone();
        self.spec.config.trust_domain = spec.config.trust_domain.clone();
        self
    }

    /// After a sidecar restart without warnings: compatibilityMode, enableDNSProxying and
    /// proxyStatsMatcher as in `spec`.
    pub fn with_proxy_fields(mut self, spec: &IstioSpec) -> Self {
        self.spec.compatibility_mode = spec.compatibility_mode;
        self.spec.config.enable_dns_proxying = spec.config.enable_dns_proxying;
        self.spec.config.proxy_stats_matcher = spec.config.proxy_stats_matcher.clone();
        self
    }

    /// At the end of a fully successful reconcile: the whole spec and the tag.
    pub fn full(spec: &IstioSpec, tag: &str) -> Self {
        Self {
            spec: spec.clone(),
            istio_tag: tag.to_string(),
        }
    }
}

/// A semantic version as the operator's semver library reads an Istio tag
/// (`1.30.2-distroless`: prerelease `distroless`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
}

impl Version {
    pub fn parse(text: &str) -> Result<Self> {
        let core_and_pre = text.split('+').next().unwrap_or_default();
        let (core, pre) = core_and_pre.split_once('-').unwrap_or((core_and_pre, ""));
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3 {
            bail!("{text:?} is not a semantic version");
        }
        let number = |s: &str| {
            s.parse::<u64>()
                .with_context(|| format!("{text:?} is not a semantic version"))
        };
        Ok(Self {
            major: number(parts[0])?,
            minor: number(parts[1])?,
            patch: number(parts[2])?,
            pre: pre.to_string(),
        })
    }

    fn core(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

/// The version gate: from the installed tag (lastApplied `IstioTag`) to the module's tag. Same
/// version (the image flavour may differ) is fine; otherwise no downgrade, same major, at most
/// one minor. The error is the operator's wording.
pub fn check_version_step(current: &str, target: &str) -> Result<(), String> {
    let current = Version::parse(current).map_err(|e| format!("{e:#}"))?;
    let target = Version::parse(target).map_err(|e| format!("{e:#}"))?;
    if current.core() == target.core() {
        return Ok(());
    }
    if target.core() < current.core() {
        return Err(format!(
            "target Istio version ({target}) is lower than current version ({current}) - downgrade not supported"
        ));
    }
    if target.major != current.major {
        return Err(format!(
            "target Istio version ({target}) is different than current Istio version ({current}) - major version upgrade is not supported"
        ));
    }
    if target.minor > current.minor + 1 {
        return Err(format!(
            "target Istio version ({target}) is higher than current Istio version ({current}) - the difference between versions exceed one minor version"
        ));
    }
    Ok(())
}

/// The ingress gateway is restarted when numTrustedProxies, forwardClientCertDetails,
/// trustDomain or proxyStatsMatcher differ between lastApplied and the spec (unset vs set
/// counts).
pub fn gateway_restart_needed(applied: &IstioSpec, spec: &IstioSpec) -> bool {
    applied.config.num_trusted_proxies != spec.config.num_trusted_proxies
        || applied.config.forward_client_cert_details != spec.config.forward_client_cert_details
        || applied.config.trust_domain != spec.config.trust_domain
        || applied.stats_regexps() != spec.stats_regexps()
}

/// The network-policy restarter restarts the gateway, istiod and CNI when
/// networkPoliciesEnabled differs between lastApplied and the spec.
pub fn network_policies_changed(applied: &IstioSpec, spec: &IstioSpec) -> bool {
    applied.network_policies_enabled != spec.network_policies_enabled
}

/// Whether this reconcile shows state Processing. Up to module 1.30.x: always. From module
/// 1.31.0: only on a first install (no lastAppliedConfiguration) or a change with possible
/// downtime, read here as one that restarts the ingress gateway or the control plane
/// (gateway settings, network policies); sidecar restarts never do.
pub fn shows_processing(
    module_version: &str,
    first_install: bool,
    possible_downtime: bool,
) -> bool {
    match Version::parse(module_version) {
        Ok(v) if (v.major, v.minor) >= (1, 31) => first_install || possible_downtime,
        _ => true,
    }
}

/// A pod the sidecar restarter looks at: not being deleted, Running, every status condition
/// True, and injected (annotation `sidecar.istio.io/status`).
pub fn is_candidate(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    pod.metadata.deletion_timestamp.is_none()
        && status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .all(|c| c.status == "True")
        && annotations(pod).contains_key(ANNOTATION_STATUS)
}

/// Kyma workloads (restarted first; any problem there is fatal): namespace `kyma-system` or
/// label `kyma-project.io/module`.
pub fn is_kyma_workload(pod: &Pod) -> bool {
    pod.metadata.namespace.as_deref() == Some(KYMA_NAMESPACE)
        || pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(KYMA_MODULE_LABEL))
            .is_some_and(|v| !v.is_empty())
}

fn annotations(pod: &Pod) -> BTreeMap<String, String> {
    pod.metadata.annotations.clone().unwrap_or_default()
}

/// Proxy resources as quantities (`None`: not set, which compares as zero).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyResources {
    pub cpu_request: Option<String>,
    pub memory_request: Option<String>,
    pub cpu_limit: Option<String>,
    pub memory_limit: Option<String>,
}

impl ProxyResources {
    /// The module's default sidecar resources overlaid per field by the CR's
    /// `spec.components.proxy.k8s.resources`.
    pub fn expected(defaults: &ProxyResources, spec: &IstioSpec) -> Self {
        let pick = |kind: &str, resource: &str, default: &Option<String>| {
            spec.proxy_resource(kind, resource)
                .or_else(|| default.clone())
        };
        Self {
            cpu_request: pick("requests", "cpu", &defaults.cpu_request),
            memory_request: pick("requests", "memory", &defaults.memory_request),
            cpu_limit: pick("limits", "cpu", &defaults.cpu_limit),
            memory_limit: pick("limits", "memory", &defaults.memory_limit),
        }
    }

    fn of_container(c: &Container) -> Self {
        let get =
            |list: Option<
                &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
            >,
             name: &str| list.and_then(|l| l.get(name)).map(|q| q.0.clone());
        let r = c.resources.as_ref();
        Self {
            cpu_request: get(r.and_then(|r| r.requests.as_ref()), "cpu"),
            memory_request: get(r.and_then(|r| r.requests.as_ref()), "memory"),
            cpu_limit: get(r.and_then(|r| r.limits.as_ref()), "cpu"),
            memory_limit: get(r.and_then(|r| r.limits.as_ref()), "memory"),
        }
    }

    /// Equal as quantities (`1000m` = `1`, unset = `0`); `None` when one does not parse.
    fn same_as(&self, other: &Self) -> Option<bool> {
        let pairs = [
            (&self.cpu_request, &other.cpu_request),
            (&self.memory_request, &other.memory_request),
            (&self.cpu_limit, &other.cpu_limit),
            (&self.memory_limit, &other.memory_limit),
        ];
        for (a, b) in pairs {
            let a = quantity(a.as_deref().unwrap_or("0"))?;
            let b = quantity(b.as_deref().unwrap_or("0"))?;
            if (a - b).abs() > 1e-9 * a.abs().max(b.abs()).max(1.0) {
                return Some(false);
            }
        }
        Some(true)
    }
}

/// A Kubernetes quantity as a number (`500m` = 0.5, `1Gi` = 2^30, `1e3` = 1000).
pub fn quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse().ok()?),
        _ => return None,
    };
    Some(number * factor)
}

/// The sidecar restarter's rules for one reconcile. A pod is restarted when any rule matches.
#[derive(Clone, Debug, PartialEq)]
pub struct SidecarRules {
    /// The module's `proxyv2` image, compared as an exact string.
    pub expected_image: String,
    pub expected_resources: ProxyResources,
    /// `spec.config.telemetry.metrics.prometheusMerge`.
    pub prometheus_merge: bool,
    /// Mesh `defaultConfig.statusPort`.
    pub status_port: u16,
    /// `kyma-system/istio-features` `disableCni`.
    pub disable_cni: bool,
    /// compatibilityMode toggled and the module's Istio minor has sidecar flags for it.
    pub compatibility_changed: bool,
    /// enableDNSProxying differs between lastApplied and the spec (every pod).
    pub dns_proxying_changed: bool,
    /// proxyStatsMatcher differs between lastApplied and the spec (every pod).
    pub stats_matcher_changed: bool,
}

impl SidecarRules {
    /// The edge-triggered parts come from lastApplied vs the spec.
    pub fn edges(
        applied: &IstioSpec,
        spec: &IstioSpec,
        compat_has_flags: bool,
    ) -> (bool, bool, bool) {
        (
            compat_has_flags && applied.compatibility_mode != spec.compatibility_mode,
            applied.config.enable_dns_proxying != spec.config.enable_dns_proxying,
            applied.stats_regexps() != spec.stats_regexps(),
        )
    }

    /// Which rules match the pod (empty: not restarted).
    pub fn reasons(&self, pod: &Pod) -> Vec<&'static str> {
        let mut reasons = Vec::new();
        if self.compatibility_changed {
            reasons.push("compatibilityMode changed");
        }
        if self.prometheus_merge_differs(pod) {
            reasons.push("prometheusMerge annotations");
        }
        if let Some(reason) = self.image_or_resources_differ(pod) {
            reasons.push(reason);
        }
        if self.dns_proxying_changed {
            reasons.push("enableDNSProxying changed");
        }
        if self.stats_matcher_changed {
            reasons.push("proxyStatsMatcher changed");
        }
        if self.cni_differs(pod) {
            reasons.push("CNI init container");
        }
        reasons
    }

    pub fn needs_restart(&self, pod: &Pod) -> bool {
        !self.reasons(pod).is_empty()
    }

    fn prometheus_merge_differs(&self, pod: &Pod) -> bool {
        let a = annotations(pod);
        let has_path =
            a.get(ANNOTATION_PROMETHEUS_PATH).map(String::as_str) == Some("/stats/prometheus");
        let has_port = a.get(ANNOTATION_PROMETHEUS_PORT) == Some(&self.status_port.to_string());
        if self.prometheus_merge {
            !has_path || !has_port
        } else {
            has_path || has_port
        }
    }

    fn image_or_resources_differ(&self, pod: &Pod) -> Option<&'static str> {
        let a = annotations(pod);
        if a.contains_key(ANNOTATION_PROXY_IMAGE) {
            return None;
        }
        let proxies: Vec<&Container> = proxy_containers(pod).collect();
        if proxies
            .iter()
            .any(|c| c.image.as_deref() != Some(self.expected_image.as_str()))
        {
            return Some("proxy image");
        }
        // An annotation that does not parse: the operator does not restart.
        let expected = expected_with_annotations(&self.expected_resources, &a)?;
        if proxies
            .iter()
            .any(|c| ProxyResources::of_container(c).same_as(&expected) != Some(true))
        {
            return Some("proxy resources");
        }
        None
    }

    fn cni_differs(&self, pod: &Pod) -> bool {
        let unwanted = if self.disable_cni {
            crate::injector::VALIDATION_CONTAINER
        } else {
            "istio-init"
        };
        pod.spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.name == unwanted)
    }
}

fn proxy_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .filter(|c| c.name == PROXY_CONTAINER)
}

/// Istio's annotation rule: once any of the four resource annotations is set, the expected
/// values are only what the annotations give (a limit without its request also sets the
/// request). `None` when an annotation does not parse.
fn expected_with_annotations(
    base: &ProxyResources,
    a: &BTreeMap<String, String>,
) -> Option<ProxyResources> {
    let get = |k: &str| a.get(k).filter(|v| !v.is_empty()).cloned();
    let keys = [
        ANNOTATION_PROXY_CPU,
        ANNOTATION_PROXY_CPU_LIMIT,
        ANNOTATION_PROXY_MEMORY,
        ANNOTATION_PROXY_MEMORY_LIMIT,
    ];
    if keys.iter().all(|k| get(k).is_none()) {
        return Some(base.clone());
    }
    for k in keys {
        if let Some(v) = a.get(k) {
            quantity(v)?;
        }
    }
    let cpu_limit = a.get(ANNOTATION_PROXY_CPU_LIMIT).cloned();
    let memory_limit = a.get(ANNOTATION_PROXY_MEMORY_LIMIT).cloned();
    Some(ProxyResources {
        cpu_request: a
            .get(ANNOTATION_PROXY_CPU)
            .cloned()
            .or_else(|| cpu_limit.clone()),
        memory_request: a
            .get(ANNOTATION_PROXY_MEMORY)
            .cloned()
            .or_else(|| memory_limit.clone()),
        cpu_limit,
        memory_limit,
    })
}

/// The first ownerReference of a pod, as the restarter classifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    None,
    Job,
    ReplicaSet(String),
    ReplicationController,
    Other { kind: String, name: String },
}

pub fn first_owner(pod: &Pod) -> Owner {
    match pod
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.first())
    {
        None => Owner::None,
        Some(o) => match o.kind.as_str() {
            "Job" => Owner::Job,
            "ReplicaSet" => Owner::ReplicaSet(o.name.clone()),
            "ReplicationController" => Owner::ReplicationController,
            kind => Owner::Other {
                kind: kind.to_string(),
                name: o.name.clone(),
            },
        },
    }
}

/// Warning texts of the operator.
pub const OWNER_NOT_FOUND: &str =
    "pod sidecar could not be updated because OwnerReferences was not found.";
pub const OWNED_BY_JOB: &str = "pod sidecar could not be updated because it is owned by a Job.";
pub const SIBLING_NOT_READY: &str = "was not restarted because there exists another ReplicaSet \
     that is not ready";

/// What the restarter does for one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Strategic-merge patch of the template's restartedAt annotation.
    Rollout {
        kind: String,
        namespace: String,
        name: String,
    },
    /// Plain delete of the pod (no Eviction API).
    DeletePod { namespace: String, name: String },
    /// The pod cannot be restarted: a warning (manual restart).
    Warn {
        namespace: String,
        name: String,
        message: &'static str,
    },
    /// Skipped with a log line only.
    Skip {
        kind: String,
        namespace: String,
        name: String,
        message: &'static str,
    },
}

impl Action {
    /// Key of the acted-on object; the restarter acts once per key per page.
    pub fn key(&self) -> String {
        match self {
            Action::Rollout {
                kind,
                namespace,
                name,
            }
            | Action::Skip {
                kind,
                namespace,
                name,
                ..
            } => format!("{kind}/{namespace}/{name}"),
            Action::DeletePod { namespace, name }
            | Action::Warn {
                namespace, name, ..
            } => {
                format!("Pod/{namespace}/{name}")
            }
        }
    }
}

fn pod_ns_name(pod: &Pod) -> (String, String) {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

/// The action for a pod whose owner is not a ReplicaSet.
pub fn direct_action(pod: &Pod) -> Option<Action> {
    let (namespace, name) = pod_ns_name(pod);
    match first_owner(pod) {
        Owner::None => Some(Action::Warn {
            namespace,
            name,
            message: OWNER_NOT_FOUND,
        }),
        Owner::Job => Some(Action::Warn {
            namespace,
            name,
            message: OWNED_BY_JOB,
        }),
        Owner::ReplicationController => Some(Action::DeletePod { namespace, name }),
        Owner::Other { kind, name: owner } => Some(Action::Rollout {
            kind,
            namespace,
            name: owner,
        }),
        Owner::ReplicaSet(_) => None,
    }
}

/// The action for a pod owned by ReplicaSet `rs` (`None`: not found), given the ReplicaSets of
/// its namespace: the ReplicaSet's owner (a Deployment) is rolled out, unless another
/// ReplicaSet of the same owner has replicas that are not ready; a ReplicaSet without owner
/// gets its pod deleted.
pub fn replica_set_action(
    pod: &Pod,
    rs: Option<&ReplicaSet>,
    namespace_sets: &[ReplicaSet],
) -> Action {
    let (namespace, name) = pod_ns_name(pod);
    let Some(rs) = rs else {
        return Action::Warn {
            namespace,
            name,
            message: OWNER_NOT_FOUND,
        };
    };
    let Some(owner) = rs
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.first())
    else {
        return Action::DeletePod { namespace, name };
    };
    let sibling_not_ready = namespace_sets.iter().any(|other| {
        let same_owner = other
            .metadata
            .owner_references
            .as_ref()
            .and_then(|o| o.first())
            .is_some_and(|o| o.uid == owner.uid);
        let status = other.status.as_ref();
        let replicas = status.map_or(0, |s| s.replicas);
        let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
        same_owner && other.metadata.name != rs.metadata.name && replicas != 0 && ready != replicas
    });
    let namespace = rs.metadata.namespace.clone().unwrap_or(namespace);
    if sibling_not_ready {
        Action::Skip {
            kind: owner.kind.clone(),
            namespace,
            name: owner.name.clone(),
            message: SIBLING_NOT_READY,
        }
    } else {
        Action::Rollout {
            kind: owner.kind.clone(),
            namespace,
            name: owner.name.clone(),
        }
    }
}

/// A workload the restarter could not restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub namespace: String,
    pub name: String,
    pub kind: String,
    pub message: String,
}

/// The condition message for the warnings: up to five `ns/name`, then the count of the rest.
pub fn warning_message(warnings: &[Warning]) -> Option<String> {
    if warnings.is_empty() {
        return None;
    }
    let names: Vec<String> = warnings
        .iter()
        .take(5)
        .map(|w| format!("{}/{}", w.namespace, w.name))
        .collect();
    let mut message = format!(
        "The sidecars of the following workloads could not be restarted: {}",
        names.join(", ")
    );
    if warnings.len() > names.len() {
        message.push_str(&format!(
            " and {} additional workload(s)",
            warnings.len() - names.len()
        ));
    }
    Some(message)
}

/// The tag of an image reference (after the last `:` of the last path segment).
pub fn image_tag(image: &str) -> Option<&str> {
    let last = image.rsplit('/').next()?;
    let (_, tag) = last.split_once(':')?;
    Some(tag.split('@').next().unwrap_or(tag))
}

/// A duration as the command line and the settings give it: `500ms`, `5s`, `2m`, `1h`, or a
/// bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration (e.g. 5s, 2m, 1h)"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => bail!("{text:?} is not a duration (units: ms, s, m, h)"),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> IstioSpec {
        IstioSpec::from_cr_spec(&v).unwrap()
    }

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    const IMAGE: &str = "hub/proxyv2:1.30.2-distroless";

    /// A Running, Ready, injected pod of `ns` with a native sidecar of `image`.
    fn injected(ns: &str, image: &str, annotations: Value, owner: Value) -> Pod {
        let mut a = json!({"sidecar.istio.io/status": "{}"});
        a.as_object_mut()
            .unwrap()
            .extend(annotations.as_object().unwrap().clone());
        pod(json!({
            "metadata": {"name": "p", "namespace": ns, "annotations": a, "ownerReferences": owner},
            "spec": {
                "initContainers": [
                    {"name": "istio-validation", "image": image},
                    {"name": "istio-proxy", "image": image, "restartPolicy": "Always", "resources": {
                        "requests": {"cpu": "10m", "memory": "192Mi"},
                        "limits": {"cpu": "1", "memory": "1Gi"}}}
                ],
                "containers": [{"name": "app", "image": "nginx"}]
            },
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]}
        }))
    }

    fn rules() -> SidecarRules {
        SidecarRules {
            expected_image: IMAGE.into(),
            expected_resources: ProxyResources {
                cpu_request: Some("10m".into()),
                memory_request: Some("192Mi".into()),
                cpu_limit: Some("1000m".into()),
                memory_limit: Some("1024Mi".into()),
            },
            prometheus_merge: false,
            status_port: 15020,
            disable_cni: false,
            compatibility_changed: false,
            dns_proxying_changed: false,
            stats_matcher_changed: false,
        }
    }

    #[test]
    fn an_empty_spec_is_written_with_the_always_present_structs() {
        let applied = AppliedConfig::full(&spec(json!({})), "1.30.2-distroless");
        assert_eq!(
            applied.render(),
            r#"{"config":{"telemetry":{"metrics":{}}},"IstioTag":"1.30.2-distroless"}"#
        );
        assert_eq!(
            AppliedConfig::full(&IstioSpec::from_cr_spec(&Value::Null).unwrap(), "t").render(),
            r#"{"config":{"telemetry":{"metrics":{}}},"IstioTag":"t"}"#
        );
    }

    #[test]
    fn fields_keep_the_go_order_and_false_booleans_are_omitted() {
        let s = spec(json!({
            "networkPoliciesEnabled": false,
            "compatibilityMode": true,
            "config": {
                "trustDomain": "example.org",
                "telemetry": {"metrics": {"prometheusMerge": false}},
                "numTrustedProxies": 1,
                "enableDNSProxying": false,
                "proxyStatsMatcher": {"inclusionRegexps": [".*"]},
            }
        }));
        assert_eq!(
            AppliedConfig::full(&s, "1.30.2-distroless").render(),
            r#"{"config":{"numTrustedProxies":1,"telemetry":{"metrics":{}},"trustDomain":"example.org","enableDNSProxying":false,"proxyStatsMatcher":{"inclusionRegexps":[".*"]}},"compatibilityMode":true,"IstioTag":"1.30.2-distroless"}"#
        );
        let merge = spec(json!({"config": {"telemetry": {"metrics": {"prometheusMerge": true}}}}));
        assert_eq!(
            AppliedConfig::full(&merge, "t").render(),
            r#"{"config":{"telemetry":{"metrics":{"prometheusMerge":true}}},"IstioTag":"t"}"#
        );
    }

    #[test]
    fn partial_updates_touch_only_their_fields() {
        let old = AppliedConfig::parse(Some(
            r#"{"IstioTag":"1.29.3-distroless","config":{"numTrustedProxies":2,"enableDNSProxying":true}}"#,
        ))
        .unwrap();
        let s = spec(
            json!({"config": {"numTrustedProxies": 1, "trustDomain": "t.org"}, "compatibilityMode": true}),
        );
        let after_install = old.clone().with_istio_tag("1.30.2-distroless");
        assert_eq!(
            after_install.render(),
            r#"{"config":{"numTrustedProxies":2,"telemetry":{"metrics":{}},"enableDNSProxying":true},"IstioTag":"1.30.2-distroless"}"#
        );
        let after_gateway = after_install.clone().with_gateway_fields(&s);
        assert_eq!(
            after_gateway.render(),
            r#"{"config":{"numTrustedProxies":1,"telemetry":{"metrics":{}},"trustDomain":"t.org","enableDNSProxying":true},"IstioTag":"1.30.2-distroless"}"#
        );
        let after_proxy = after_gateway.with_proxy_fields(&s);
        assert_eq!(
            after_proxy.render(),
            r#"{"config":{"numTrustedProxies":1,"telemetry":{"metrics":{}},"trustDomain":"t.org"},"compatibilityMode":true,"IstioTag":"1.30.2-distroless"}"#
        );
        assert_eq!(
            AppliedConfig::parse(None).unwrap(),
            AppliedConfig::default()
        );
        assert!(AppliedConfig::parse(Some("{not json")).is_err());
    }

    #[test]
    fn version_gate() {
        assert_eq!(
            check_version_step("1.29.3-distroless", "1.30.2-distroless"),
            Ok(())
        );
        assert_eq!(check_version_step("1.29.3-distroless", "1.29.3"), Ok(()));
        assert_eq!(
            check_version_step("1.30.2-distroless", "1.30.4-distroless"),
            Ok(())
        );
        let two_minors = check_version_step("1.29.3-distroless", "1.31.0-distroless").unwrap_err();
        assert!(
            two_minors.contains("exceed one minor version"),
            "{two_minors}"
        );
        let down = check_version_step("1.30.2-distroless", "1.29.3-distroless").unwrap_err();
        assert_eq!(
            down,
            "target Istio version (1.29.3-distroless) is lower than current version (1.30.2-distroless) - downgrade not supported"
        );
        assert!(
            check_version_step("1.30.2", "2.0.0")
                .unwrap_err()
                .contains("major")
        );
        assert!(check_version_step("", "1.30.2").is_err());
    }

    #[test]
    fn gateway_rule_counts_unset_versus_set() {
        let empty = spec(json!({}));
        assert!(!gateway_restart_needed(&empty, &empty));
        for change in [
            json!({"config": {"numTrustedProxies": 1}}),
            json!({"config": {"forwardClientCertDetails": "SANITIZE"}}),
            json!({"config": {"trustDomain": "cluster.local"}}),
            json!({"config": {"proxyStatsMatcher": {"inclusionRegexps": ["a"]}}}),
        ] {
            assert!(
                gateway_restart_needed(&empty, &spec(change.clone())),
                "{change}"
            );
            assert!(
                gateway_restart_needed(&spec(change.clone()), &empty),
                "{change}"
            );
        }
        let ab = spec(json!({"config": {"proxyStatsMatcher": {"inclusionRegexps": ["a", "b"]}}}));
        let ba = spec(json!({"config": {"proxyStatsMatcher": {"inclusionRegexps": ["b", "a"]}}}));
        assert!(!gateway_restart_needed(&ab, &ba), "compared sorted");
        let none = spec(json!({"config": {"proxyStatsMatcher": {}}}));
        assert!(!gateway_restart_needed(&empty, &none), "empty list = unset");
        assert!(!gateway_restart_needed(
            &empty,
            &spec(json!({"config": {"enableDNSProxying": true}}))
        ));
    }

    #[test]
    fn processing_by_module_version() {
        assert!(shows_processing("1.30.1", false, false));
        assert!(shows_processing("1.27.4", false, false));
        assert!(!shows_processing("1.31.0", false, false));
        assert!(!shows_processing("1.33.0", false, false));
        assert!(shows_processing("1.31.0", true, false));
        assert!(shows_processing("1.32.0", false, true));
    }

    #[test]
    fn candidates_are_running_ready_and_injected() {
        let ok = injected("demo", IMAGE, json!({}), json!([]));
        assert!(is_candidate(&ok));
        let mut not_ready = ok.clone();
        not_ready
            .status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()[1]
            .status = "False".into();
        assert!(!is_candidate(&not_ready), "every condition must be True");
        let mut deleting = ok.clone();
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert!(!is_candidate(&deleting));
        let mut plain = ok.clone();
        plain.metadata.annotations = None;
        assert!(!is_candidate(&plain));
        let mut pending = ok;
        pending.status.as_mut().unwrap().phase = Some("Pending".into());
        assert!(!is_candidate(&pending));
    }

    #[test]
    fn kyma_workloads() {
        assert!(is_kyma_workload(&injected(
            "kyma-system",
            IMAGE,
            json!({}),
            json!([])
        )));
        let mut labelled = injected("demo", IMAGE, json!({}), json!([]));
        labelled.metadata.labels = Some(BTreeMap::from([(
            KYMA_MODULE_LABEL.into(),
            "api-gateway".into(),
        )]));
        assert!(is_kyma_workload(&labelled));
        assert!(!is_kyma_workload(&injected(
            "demo",
            IMAGE,
            json!({}),
            json!([])
        )));
    }

    #[test]
    fn image_rule_is_an_exact_string_and_custom_images_are_skipped() {
        let r = rules();
        assert!(
            r.reasons(&injected("d", IMAGE, json!({}), json!([])))
                .is_empty()
        );
        let old = injected("d", "hub/proxyv2:1.29.3-distroless", json!({}), json!([]));
        assert_eq!(r.reasons(&old), vec!["proxy image"]);
        let mirror = injected(
            "d",
            "mirror.example/proxyv2:1.30.2-distroless",
            json!({}),
            json!([]),
        );
        assert!(r.needs_restart(&mirror), "a mirror is another string");
        let custom = injected(
            "d",
            "mine:1",
            json!({"sidecar.istio.io/proxyImage": "mine:1"}),
            json!([]),
        );
        assert!(!r.needs_restart(&custom));
    }

    #[test]
    fn resources_rule_with_the_annotation_reset() {
        let r = rules();
        let mut p = injected("d", IMAGE, json!({}), json!([]));
        assert!(!r.needs_restart(&p), "1 = 1000m, 1Gi = 1024Mi");
        // Any resource annotation: only the annotations count, a limit also sets its request.
        p.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(ANNOTATION_PROXY_CPU_LIMIT.into(), "1".into());
        assert_eq!(r.reasons(&p), vec!["proxy resources"]);
        let matching = pod(json!({
            "metadata": {"name": "p", "namespace": "d", "annotations": {
                "sidecar.istio.io/status": "{}", "sidecar.istio.io/proxyCPULimit": "1"}},
            "spec": {"containers": [{"name": "app"}, {"name": "istio-proxy", "image": IMAGE,
                "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1000m"}}}]},
            "status": {"phase": "Running"}
        }));
        assert!(!r.needs_restart(&matching), "{:?}", r.reasons(&matching));
        let unparsable = pod(json!({
            "metadata": {"name": "p", "annotations": {"sidecar.istio.io/proxyCPU": "lots"}},
            "spec": {"containers": [{"name": "istio-proxy", "image": IMAGE}]}
        }));
        assert!(!r.needs_restart(&unparsable));
    }

    #[test]
    fn expected_resources_overlay_the_spec() {
        let defaults = rules().expected_resources;
        let s = spec(
            json!({"components": {"proxy": {"k8s": {"resources": {"limits": {"memory": "2Gi"}}}}}}),
        );
        let e = ProxyResources::expected(&defaults, &s);
        assert_eq!(e.memory_limit.as_deref(), Some("2Gi"));
        assert_eq!(e.cpu_limit.as_deref(), Some("1000m"));
    }

    #[test]
    fn prometheus_merge_ignores_the_opt_outs() {
        let mut r = rules();
        r.prometheus_merge = true;
        let merged = injected(
            "d",
            IMAGE,
            json!({"prometheus.io/path": "/stats/prometheus", "prometheus.io/port": "15020"}),
            json!([]),
        );
        assert!(!r.needs_restart(&merged));
        let opted_out = injected(
            "d",
            IMAGE,
            json!({"prometheus.io/scrape": "false"}),
            json!([]),
        );
        assert_eq!(
            r.reasons(&opted_out),
            vec!["prometheusMerge annotations"],
            "restarted every time"
        );
        r.prometheus_merge = false;
        assert!(r.needs_restart(&merged));
        assert!(!r.needs_restart(&opted_out));
    }

    #[test]
    fn edge_triggered_rules_match_every_pod() {
        let a = spec(json!({}));
        let s = spec(json!({"config": {"enableDNSProxying": true}}));
        let (compat, dns, stats) = SidecarRules::edges(&a, &s, false);
        assert!(!compat && dns && !stats);
        let mut r = rules();
        r.dns_proxying_changed = dns;
        assert_eq!(
            r.reasons(&injected("d", IMAGE, json!({}), json!([]))),
            vec!["enableDNSProxying changed"]
        );
        let (compat, _, _) =
            SidecarRules::edges(&a, &spec(json!({"compatibilityMode": true})), false);
        assert!(!compat, "no sidecar flags for this minor: no restart");
        let (compat, _, _) =
            SidecarRules::edges(&a, &spec(json!({"compatibilityMode": true})), true);
        assert!(compat);
    }

    #[test]
    fn cni_rule() {
        let r = rules();
        let p = injected("d", IMAGE, json!({}), json!([]));
        assert!(!r.needs_restart(&p), "CNI on and istio-validation");
        let mut off = rules();
        off.disable_cni = true;
        assert_eq!(off.reasons(&p), vec!["CNI init container"]);
    }

    fn owner(kind: &str, name: &str, uid: &str) -> Value {
        json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid}])
    }

    fn rs(name: &str, owner_ref: Value, replicas: i32, ready: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "d", "ownerReferences": owner_ref},
            "status": {"replicas": replicas, "readyReplicas": ready}
        }))
        .unwrap()
    }

    #[test]
    fn actions_by_owner() {
        let bare = injected("d", IMAGE, json!({}), json!([]));
        assert_eq!(
            direct_action(&bare),
            Some(Action::Warn {
                namespace: "d".into(),
                name: "p".into(),
                message: OWNER_NOT_FOUND
            })
        );
        let job = injected("d", IMAGE, json!({}), owner("Job", "j", "1"));
        assert!(matches!(
            direct_action(&job),
            Some(Action::Warn {
                message: OWNED_BY_JOB,
                ..
            })
        ));
        let rc = injected(
            "d",
            IMAGE,
            json!({}),
            json!([{"apiVersion": "v1", "kind": "ReplicationController", "name": "rc", "uid": "2"}]),
        );
        assert_eq!(
            direct_action(&rc),
            Some(Action::DeletePod {
                namespace: "d".into(),
                name: "p".into()
            })
        );
        let sts = injected("d", IMAGE, json!({}), owner("StatefulSet", "db", "3"));
        assert_eq!(
            direct_action(&sts),
            Some(Action::Rollout {
                kind: "StatefulSet".into(),
                namespace: "d".into(),
                name: "db".into()
            })
        );
        let rollout = injected(
            "d",
            IMAGE,
            json!({}),
            json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "r", "uid": "4"}]),
        );
        assert!(
            matches!(direct_action(&rollout), Some(Action::Rollout { kind, .. }) if kind == "Rollout")
        );
        let by_rs = injected("d", IMAGE, json!({}), owner("ReplicaSet", "web-1", "5"));
        assert_eq!(direct_action(&by_rs), None);
    }

    #[test]
    fn replica_set_actions() {
        let p = injected("d", IMAGE, json!({}), owner("ReplicaSet", "web-1", "5"));
        let dep = owner("Deployment", "web", "D");
        let current = rs("web-1", dep.clone(), 2, 2);
        let rollout = Action::Rollout {
            kind: "Deployment".into(),
            namespace: "d".into(),
            name: "web".into(),
        };
        assert_eq!(
            replica_set_action(&p, Some(&current), std::slice::from_ref(&current)),
            rollout
        );
        let old_scaled_down = rs("web-0", dep.clone(), 0, 0);
        assert_eq!(
            replica_set_action(&p, Some(&current), &[current.clone(), old_scaled_down]),
            rollout
        );
        let other_owner_unready = rs("api-0", owner("Deployment", "api", "A"), 1, 0);
        assert_eq!(
            replica_set_action(&p, Some(&current), &[current.clone(), other_owner_unready]),
            rollout
        );
        let sibling_unready = rs("web-2", dep, 1, 0);
        assert!(matches!(
            replica_set_action(&p, Some(&current), &[current.clone(), sibling_unready]),
            Action::Skip {
                message: SIBLING_NOT_READY,
                ..
            }
        ));
        let ownerless = rs("loose", json!([]), 1, 1);
        assert_eq!(
            replica_set_action(&p, Some(&ownerless), &[]),
            Action::DeletePod {
                namespace: "d".into(),
                name: "p".into()
            }
        );
        assert!(matches!(
            replica_set_action(&p, None, &[]),
            Action::Warn {
                message: OWNER_NOT_FOUND,
                ..
            }
        ));
    }

    #[test]
    fn dedup_keys() {
        let a = Action::Rollout {
            kind: "Deployment".into(),
            namespace: "d".into(),
            name: "web".into(),
        };
        let b = Action::Skip {
            kind: "Deployment".into(),
            namespace: "d".into(),
            name: "web".into(),
            message: SIBLING_NOT_READY,
        };
        assert_eq!(a.key(), b.key());
        assert_ne!(
            a.key(),
            Action::DeletePod {
                namespace: "d".into(),
                name: "web".into()
            }
            .key()
        );
    }

    #[test]
    fn warning_message_names_five() {
        let w = |i: usize| Warning {
            namespace: "ns".into(),
            name: format!("p{i}"),
            kind: "Pod".into(),
            message: OWNER_NOT_FOUND.into(),
        };
        assert_eq!(warning_message(&[]), None);
        assert_eq!(
            warning_message(&[w(1), w(2)]).unwrap(),
            "The sidecars of the following workloads could not be restarted: ns/p1, ns/p2"
        );
        let seven: Vec<Warning> = (1..=7).map(w).collect();
        assert_eq!(
            warning_message(&seven).unwrap(),
            "The sidecars of the following workloads could not be restarted: ns/p1, ns/p2, ns/p3, ns/p4, ns/p5 and 2 additional workload(s)"
        );
        let five: Vec<Warning> = (1..=5).map(w).collect();
        assert!(!warning_message(&five).unwrap().contains("additional"));
    }

    #[test]
    fn quantities_durations_tags() {
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("1Gi"), quantity("1024Mi"));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("lots"), None);
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("10h").unwrap(), Duration::from_secs(36000));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("soon").is_err());
        assert_eq!(
            image_tag("hub.io:5000/istio/proxyv2:1.30.2-distroless"),
            Some("1.30.2-distroless")
        );
        assert_eq!(image_tag("proxyv2"), None);
    }
}

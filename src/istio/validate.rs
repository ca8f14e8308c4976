//! Validation of an `Istio` document the way the API server would validate it against the CRD:
//! types, required fields, enums, patterns, ranges, unknown fields, and the namespace.

use super::cr::{
    API_VERSION, CPU_PATTERN, Istio, KIND, MAX_SURGE_PATTERN, MAX_UNAVAILABLE_PATTERN,
    MEMORY_PATTERN, NAMESPACE, Resources, RollingUpdate, TRUST_DOMAIN_PATTERN,
};
use crate::error::{DecodeError, decode};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// Why an `Istio` document is not valid against the CRD. Each names the field, one line.
#[derive(Debug, thiserror::Error)]
pub enum CrError {
    #[error("apiVersion: `{0}` is not supported, expected `{API_VERSION}`")]
    ApiVersion(String),
    /// A value of the wrong type or a missing required field.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The typed CR could not be encoded again to look for unknown fields.
    #[error("the CR cannot be encoded")]
    Encode(#[source] serde_json::Error),
    #[error("{0}: unknown field (not in the {KIND} CRD schema)")]
    UnknownField(String),
    #[error("metadata.name: required")]
    MissingName,
    #[error("metadata.namespace: `{0}` is not supported, the {KIND} CR must be in `{NAMESPACE}`")]
    Namespace(String),
    #[error("metadata.namespace: required, must be `{NAMESPACE}`")]
    MissingNamespace,
    #[error("{field}: `{value}` does not match the pattern `{pattern}`")]
    Pattern {
        field: String,
        value: String,
        pattern: String,
    },
    #[error("{field}: longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    /// A number out of its range; `rule` says which (`must be 0 or more`).
    #[error("{field}: {rule}")]
    Range { field: String, rule: &'static str },
    #[error("{field}: `{value}` is not a valid regular expression")]
    Regex {
        field: String,
        value: String,
        #[source]
        source: regex::Error,
    },
}

/// Parses and validates one `Istio` document.
pub fn parse_istio(doc: &Value) -> Result<Istio, CrError> {
    let api = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api != API_VERSION {
        return Err(CrError::ApiVersion(crate::escape::value(api)));
    }
    let mut input = doc.clone();
    // The API server ignores status on create/apply of the main resource.
    if let Some(o) = input.as_object_mut() {
        o.remove("status");
    }
    let istio: Istio = decode(&input)?;
    // Fields the types do not know disappear on a round trip: those are unknown fields.
    let round_trip = serde_json::to_value(&istio).map_err(CrError::Encode)?;
    if let Some(path) = first_unknown_field(&input, &round_trip, String::new()) {
        return Err(CrError::UnknownField(path));
    }
    let name = istio.metadata.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        return Err(CrError::MissingName);
    }
    match istio.metadata.namespace.as_deref() {
        Some(NAMESPACE) => {}
        Some(other) => return Err(CrError::Namespace(crate::escape::value(other))),
        None => return Err(CrError::MissingNamespace),
    }
    check_values(&istio)?;
    Ok(istio)
}

fn first_unknown_field(input: &Value, typed: &Value, path: String) -> Option<String> {
    match (input, typed) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(k, v)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match b.get(k) {
                None if v.is_null() => None,
                None => Some(p),
                Some(t) => first_unknown_field(v, t, p),
            }
        }),
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (v, t))| first_unknown_field(v, t, format!("{path}[{i}]"))),
        _ => None,
    }
}

static CPU: LazyLock<Regex> = LazyLock::new(|| Regex::new(CPU_PATTERN).unwrap());
static MEMORY: LazyLock<Regex> = LazyLock::new(|| Regex::new(MEMORY_PATTERN).unwrap());
static TRUST_DOMAIN: LazyLock<Regex> = LazyLock::new(|| Regex::new(TRUST_DOMAIN_PATTERN).unwrap());
static MAX_SURGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(MAX_SURGE_PATTERN).unwrap());
static MAX_UNAVAILABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(MAX_UNAVAILABLE_PATTERN).unwrap());

fn pattern(re: &Regex, value: &str, field: &str) -> Result<(), CrError> {
    if re.is_match(value) {
        Ok(())
    } else {
        Err(CrError::Pattern {
            field: field.to_string(),
            value: crate::escape::value(value),
            pattern: re.as_str().to_string(),
        })
    }
}

fn check_values(istio: &Istio) -> Result<(), CrError> {
    let spec = &istio.spec;
    if let Some(config) = &spec.config {
        if let Some(td) = &config.trust_domain {
            if td.len() > 255 {
                return Err(CrError::TooLong {
                    field: "spec.config.trustDomain",
                    max: 255,
                });
            }
            pattern(&TRUST_DOMAIN, td, "spec.config.trustDomain")?;
        }
        let regexps = config
            .proxy_stats_matcher
            .as_ref()
            .and_then(|m| m.inclusion_regexps.as_ref());
        for (i, r) in regexps.into_iter().flatten().enumerate() {
            Regex::new(r).map_err(|source| CrError::Regex {
                field: format!("spec.config.proxyStatsMatcher.inclusionRegexps[{i}]"),
                value: crate::escape::value(r),
                source,
            })?;
        }
    }
    if let Some(c) = &spec.components {
        let k8s = [
            ("pilot", c.pilot.as_ref().map(|p| &p.k8s)),
            ("ingressGateway", c.ingress_gateway.as_ref().map(|p| &p.k8s)),
            (
                "egressGateway",
                c.egress_gateway.as_ref().and_then(|p| p.k8s.as_ref()),
            ),
        ];
        for (name, k) in k8s {
            let Some(k) = k else { continue };
            let base = format!("spec.components.{name}.k8s");
            check_resources(k.resources.as_ref(), &format!("{base}.resources"))?;
            if let Some(h) = &k.hpa_spec {
                for (f, v) in [
                    ("minReplicas", h.min_replicas),
                    ("maxReplicas", h.max_replicas),
                ] {
                    if v.is_some_and(|v| v < 0) {
                        return Err(CrError::Range {
                            field: format!("{base}.hpaSpec.{f}"),
                            rule: "must be 0 or more",
                        });
                    }
                }
            }
            if let Some(s) = &k.strategy {
                check_rolling_update(&s.rolling_update, &format!("{base}.strategy.rollingUpdate"))?;
            }
        }
        if let Some(cni) = &c.cni {
            check_resources(
                cni.k8s.resources.as_ref(),
                "spec.components.cni.k8s.resources",
            )?;
        }
        if let Some(proxy) = &c.proxy {
            check_resources(
                proxy.k8s.resources.as_ref(),
                "spec.components.proxy.k8s.resources",
            )?;
        }
    }
    Ok(())
}

fn check_resources(r: Option<&Resources>, base: &str) -> Result<(), CrError> {
    let Some(r) = r else { return Ok(()) };
    for (kind, q) in [("limits", &r.limits), ("requests", &r.requests)] {
        let Some(q) = q else { continue };
        if let Some(cpu) = &q.cpu {
            pattern(&CPU, cpu, &format!("{base}.{kind}.cpu"))?;
        }
        if let Some(mem) = &q.memory {
            pattern(&MEMORY, mem, &format!("{base}.{kind}.memory"))?;
        }
    }
    Ok(())
}

fn check_rolling_update(r: &RollingUpdate, base: &str) -> Result<(), CrError> {
    for (field, value, re) in [
        ("maxSurge", &r.max_surge, &*MAX_SURGE),
        ("maxUnavailable", &r.max_unavailable, &*MAX_UNAVAILABLE),
    ] {
        match value {
            Some(IntOrString::Int(i)) if *i < 0 => {
                return Err(CrError::Range {
                    field: format!("{base}.{field}"),
                    rule: "must not be negative",
                });
            }
            Some(IntOrString::String(s)) => pattern(re, s, &format!("{base}.{field}"))?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::report;
    use serde_json::json;

    fn cr(spec: Value) -> Value {
        json!({"apiVersion": API_VERSION, "kind": KIND,
               "metadata": {"name": "default", "namespace": NAMESPACE}, "spec": spec})
    }

    #[test]
    fn accepts_a_full_cr() {
        let doc = cr(json!({
            "compatibilityMode": true,
            "config": {"numTrustedProxies": 2, "forwardClientCertDetails": "SANITIZE",
                       "trustDomain": "cluster.local", "enableDNSProxying": true,
                       "gatewayExternalTrafficPolicy": "Local",
                       "telemetry": {"metrics": {"prometheusMerge": true}},
                       "proxyStatsMatcher": {"inclusionRegexps": ["cluster_manager.*"]},
                       "authorizers": [{"name": "ext", "port": 8080, "service": "a.b.svc",
                                        "headers": {"inCheck": {"add": {"x": "y"}, "include": ["a"]}}}]},
            "components": {
                "pilot": {"k8s": {"hpaSpec": {"minReplicas": 1, "maxReplicas": 3},
                                  "strategy": {"rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}},
                                  "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}},
                "proxy": {"k8s": {"resources": {"limits": {"cpu": "1.5", "memory": "1Gi"}}}},
                "cni": {"k8s": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                    {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}]}}}}},
                "egressGateway": {"enabled": true}
            },
            "networkPoliciesEnabled": false,
            "experimental": {"pilot": {"enableAlphaGatewayAPI": true}}
        }));
        let istio = parse_istio(&doc).unwrap();
        assert!(istio.spec.prometheus_merge());
        assert_eq!(istio.spec.config.unwrap().num_trusted_proxies, Some(2));
    }

    #[test]
    fn rejections_name_the_field() {
        let cases = [
            (
                json!({"config": {"numTrustedProxies": "two"}}),
                "spec.config.numTrustedProxies",
            ),
            (
                json!({"config": {"numTrustedProxies": -1}}),
                "spec.config.numTrustedProxies",
            ),
            (
                json!({"config": {"numTrustedProxies": 4294967296u64}}),
                "spec.config.numTrustedProxies",
            ),
            (
                json!({"config": {"NumTrustedProxies": 1}}),
                "spec.config.NumTrustedProxies: unknown field",
            ),
            (
                json!({"config": {"forwardClientCertDetails": "NOPE"}}),
                "spec.config.forwardClientCertDetails",
            ),
            (
                json!({"config": {"trustDomain": "Bad_Domain!"}}),
                "spec.config.trustDomain: `Bad_Domain!` does not match",
            ),
            (
                json!({"components": {"proxy": {"k8s": {"resources": {"limits": {"cpu": "1 core"}}}}}}),
                "spec.components.proxy.k8s.resources.limits.cpu",
            ),
            (
                json!({"components": {"pilot": {"k8s": {"resources": {"requests": {"memory": "1GB"}}}}}}),
                "spec.components.pilot.k8s.resources.requests.memory",
            ),
            (
                json!({"components": {"pilot": {}}}),
                "spec.components.pilot: missing field `k8s`",
            ),
            (
                json!({"components": {"ingressGateway": {"k8s": {"strategy": {"rollingUpdate": {"maxUnavailable": "101%"}}}}}}),
                "spec.components.ingressGateway.k8s.strategy.rollingUpdate.maxUnavailable",
            ),
            (
                json!({"components": {"cni": {"k8s": {"affinity": {"nodeAffinity": {"bogus": 1}}}}}}),
                "spec.components.cni.k8s.affinity.nodeAffinity.bogus: unknown field",
            ),
            (
                json!({"config": {"proxyStatsMatcher": {"inclusionRegexps": ["("]}}}),
                "spec.config.proxyStatsMatcher.inclusionRegexps[0]",
            ),
            (
                json!({"compatibilityMode": "yes"}),
                "spec.compatibilityMode",
            ),
            (
                json!({"config": {"authorizers": [{"name": "x"}]}}),
                "missing field `port`",
            ),
        ];
        for (spec, expected) in cases {
            let err = report(&parse_istio(&cr(spec.clone())).expect_err(&spec.to_string()));
            assert!(
                err.contains(expected),
                "{spec}: got `{err}`, expected `{expected}`"
            );
        }
    }

    #[test]
    fn namespace_and_api_version_are_checked() {
        let mut doc = cr(json!({}));
        doc["metadata"]["namespace"] = json!("default");
        assert!(
            parse_istio(&doc)
                .unwrap_err()
                .to_string()
                .starts_with("metadata.namespace: `default`")
        );
        doc["metadata"].as_object_mut().unwrap().remove("namespace");
        assert!(
            parse_istio(&doc)
                .unwrap_err()
                .to_string()
                .starts_with("metadata.namespace: required")
        );
        let mut doc = cr(json!({}));
        doc["apiVersion"] = json!("operator.kyma-project.io/v1alpha1");
        assert!(
            parse_istio(&doc)
                .unwrap_err()
                .to_string()
                .starts_with("apiVersion")
        );
    }
}

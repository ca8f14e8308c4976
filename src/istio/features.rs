//! The module's feature flags: ConfigMap `kyma-system/istio-features` (key `features`, JSON) and
//! the dual-stack switch of `kyma-system/kyma-provisioning-info` (key `details`, YAML).
//!
//! - `disableCni`: CNI off gives pods the `istio-init` init container, on (the default)
//!   `istio-validation`.
//! - `enableAmbient` (module 1.32.0+): proxy metadata `ISTIO_META_ENABLE_HBONE=true` for every
//!   sidecar.
//! - `enableDualStack` (module 1.31.0+, and only when `kyma-provisioning-info` says
//!   `networkDetails.dualStackIPEnabled: true`): proxy metadata `ISTIO_DUAL_STACK=true`. It cannot
//!   be switched back.

use crate::error::Invalid;
use crate::istio::Version;
use k8s_openapi::api::core::v1::ConfigMap;
use serde::Deserialize;

/// Namespace of both ConfigMaps.
pub const NAMESPACE: &str = "kyma-system";
pub const FEATURES_CONFIGMAP: &str = "istio-features";
pub const FEATURES_KEY: &str = "features";
pub const PROVISIONING_CONFIGMAP: &str = "kyma-provisioning-info";
pub const PROVISIONING_KEY: &str = "details";
/// The first module versions that know `enableDualStack` and `enableAmbient`.
pub const DUAL_STACK_SINCE: Version = Version::new(1, 31, 0);
pub const AMBIENT_SINCE: Version = Version::new(1, 32, 0);
/// Proxy metadata the two flags add to every sidecar.
pub const HBONE_ENV: &str = "ISTIO_META_ENABLE_HBONE";
pub const DUAL_STACK_ENV: &str = "ISTIO_DUAL_STACK";

/// The flags of `istio-features`; an absent ConfigMap or key is all defaults (false).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    #[serde(default)]
    pub disable_cni: bool,
    #[serde(default)]
    pub enable_ambient: bool,
    #[serde(default)]
    pub enable_dual_stack: bool,
}

/// Whether a ConfigMap is `kyma-system/<name>`.
pub fn is(cm: &ConfigMap, name: &str) -> bool {
    cm.metadata.namespace.as_deref() == Some(NAMESPACE) && cm.metadata.name.as_deref() == Some(name)
}

/// The flags of an `istio-features` ConfigMap. Unknown flags (`enableControlPlaneVPA`, later
/// ones) are ignored; a `features` value that is not a JSON object of booleans is an error naming
/// the key.
pub fn parse(cm: &ConfigMap) -> Result<Features, Invalid> {
    let Some(raw) = cm.data.as_ref().and_then(|d| d.get(FEATURES_KEY)) else {
        return Ok(Features::default());
    };
    let in_key = |e: Invalid| Invalid::Field {
        field: "data.features",
        source: Box::new(e),
    };
    if raw.trim().is_empty() {
        return Ok(Features::default());
    }
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| in_key(Invalid::Json(e)))?;
    if !value.is_object() {
        return Err(in_key(Invalid::Message(format!(
            "`{value}` is not a JSON object of feature flags"
        ))));
    }
    serde_json::from_value(value).map_err(|e| in_key(Invalid::Message(e.to_string())))
}

/// `networkDetails.dualStackIPEnabled` of `kyma-provisioning-info` (absent: false). Like the
/// operator, a value that is not a boolean counts as false; a `details` that is not YAML is an
/// error.
pub fn dual_stack_ip(cm: &ConfigMap) -> Result<bool, Invalid> {
    let Some(raw) = cm.data.as_ref().and_then(|d| d.get(PROVISIONING_KEY)) else {
        return Ok(false);
    };
    let value: serde_json::Value = serde_saphyr::from_str(raw).map_err(|e| Invalid::Field {
        field: "data.details",
        source: Box::new(Invalid::Yaml(Box::new(e))),
    })?;
    Ok(value
        .pointer("/networkDetails/dualStackIPEnabled")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str, key: &str, value: &str) -> ConfigMap {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": NAMESPACE},
            "data": {key: value}
        }))
        .unwrap()
    }

    #[test]
    fn features_parse_with_defaults() {
        let f = |raw: &str| parse(&cm(FEATURES_CONFIGMAP, FEATURES_KEY, raw));
        assert_eq!(f("").unwrap(), Features::default());
        assert_eq!(
            f(r#"{"disableCni": true, "enableControlPlaneVPA": true}"#).unwrap(),
            Features {
                disable_cni: true,
                ..Features::default()
            }
        );
        assert_eq!(
            f(r#"{"enableAmbient": true, "enableDualStack": true}"#).unwrap(),
            Features {
                disable_cni: false,
                enable_ambient: true,
                enable_dual_stack: true
            }
        );
        let absent = cm(FEATURES_CONFIGMAP, "other", "x");
        assert_eq!(parse(&absent).unwrap(), Features::default());
        for bad in ["{", "[true]", r#"{"disableCni": "yes"}"#] {
            let e = f(bad).unwrap_err();
            assert!(
                crate::error::report(&e).starts_with("data.features: "),
                "{bad}: {}",
                crate::error::report(&e)
            );
        }
    }

    #[test]
    fn dual_stack_comes_from_the_provisioning_details() {
        let d = |raw: &str| dual_stack_ip(&cm(PROVISIONING_CONFIGMAP, PROVISIONING_KEY, raw));
        assert!(d("networkDetails:\n  dualStackIPEnabled: true\n").unwrap());
        assert!(!d("networkDetails:\n  dualStackIPEnabled: false\n").unwrap());
        assert!(!d("globalAccountID: x\n").unwrap());
        assert!(!d("networkDetails: {dualStackIPEnabled: \"true\"}\n").unwrap());
        assert!(d("networkDetails: [\n").is_err());
    }
}

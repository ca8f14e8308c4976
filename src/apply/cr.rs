//! How `apply` makes the live CR's spec exactly git's, pure: the fields git removed
//! ([`removed`]), who set them ([`owners`], from `managedFields`), and the JSON merge patch that
//! takes them out ([`merge_patch`]).
//!
//! Server-side apply alone cannot do it: it removes only fields that this tool's field manager
//! applied before, so a field set by `kubectl`, an Argo CD sync or a person would stay, and with it
//! a setting git no longer asks for.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde_json::{Map, Value};

/// A field the live CR has and git does not, with the field managers that set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// `spec.config.numTrustedProxies`.
    pub path: String,
    pub managers: Vec<String>,
}

/// The paths (below `prefix`) that `live` has and `want` lacks; objects both have are compared
/// key by key, anything else is replaced whole (lists included) and is no removal.
pub fn removed(live: &Value, want: &Value, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    walk(live, want, &mut vec![prefix.to_string()], &mut out);
    out
}

fn walk(live: &Value, want: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let (Value::Object(l), Value::Object(w)) = (live, want) else {
        return;
    };
    for (k, lv) in l {
        path.push(k.clone());
        match w.get(k) {
            None if !lv.is_null() => out.push(path.clone()),
            None => {}
            Some(wv) => walk(lv, wv, path, out),
        }
        path.pop();
    }
}

/// The JSON merge patch (RFC 7386) that turns `live` into `want`: `null` for each key `want`
/// lacks, changed values as they are in `want`.
pub fn merge_patch(live: &Value, want: &Value) -> Value {
    match (live, want) {
        (Value::Object(l), Value::Object(w)) => {
            let mut m = Map::new();
            for (k, lv) in l {
                match w.get(k) {
                    None => {
                        m.insert(k.clone(), Value::Null);
                    }
                    Some(wv) if wv != lv => {
                        m.insert(k.clone(), merge_patch(lv, wv));
                    }
                    Some(_) => {}
                }
            }
            for (k, wv) in w {
                if !l.contains_key(k) {
                    m.insert(k.clone(), wv.clone());
                }
            }
            Value::Object(m)
        }
        (_, w) => w.clone(),
    }
}

/// The field managers whose `fieldsV1` set has `path` or anything below it (`f:spec`,
/// `f:config`, ...), sorted and without repeats.
pub fn owners(managed: &[ManagedFieldsEntry], path: &[String]) -> Vec<String> {
    let mut out: Vec<String> = managed
        .iter()
        .filter(|m| {
            let Some(fields) = m.fields_v1.as_ref() else {
                return false;
            };
            let mut node = &fields.0;
            path.iter().all(|k| match node.get(format!("f:{k}")) {
                Some(next) => {
                    node = next;
                    true
                }
                None => false,
            })
        })
        .map(|m| m.manager.clone().unwrap_or_else(|| "(unnamed)".into()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The removed fields with their managers.
pub fn removals(
    live_spec: &Value,
    want_spec: &Value,
    managed: &[ManagedFieldsEntry],
) -> Vec<Removed> {
    removed(live_spec, want_spec, "spec")
        .into_iter()
        .map(|p| Removed {
            managers: owners(managed, &p),
            path: p.join("."),
        })
        .collect()
}

/// The report's words for them: `spec.a (set by kubectl), spec.b (set by argocd-controller)`.
pub fn describe(removed: &[Removed]) -> String {
    removed
        .iter()
        .map(|r| match r.managers.as_slice() {
            [] => r.path.clone(),
            m => format!("{} (set by {})", r.path, m.join(", ")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7386, as the API server applies a merge patch.
    fn apply_merge(target: &Value, patch: &Value) -> Value {
        let Value::Object(p) = patch else {
            return patch.clone();
        };
        let mut out = target.as_object().cloned().unwrap_or_default();
        for (k, v) in p {
            if v.is_null() {
                out.remove(k);
            } else {
                let merged = apply_merge(out.get(k).unwrap_or(&Value::Null), v);
                out.insert(k.clone(), merged);
            }
        }
        Value::Object(out)
    }

    #[test]
    fn removals_are_the_keys_git_lacks() {
        let live = json!({"config": {"numTrustedProxies": 2, "telemetry": {"metrics": {"prometheusMerge": true}},
                                     "authorizers": [{"name": "a"}]},
                          "compatibilityMode": true});
        let want = json!({"config": {"telemetry": {"metrics": {}}, "authorizers": []}});
        let paths: Vec<String> = removed(&live, &want, "spec")
            .into_iter()
            .map(|p| p.join("."))
            .collect();
        assert_eq!(
            paths,
            [
                "spec.compatibilityMode",
                "spec.config.numTrustedProxies",
                "spec.config.telemetry.metrics.prometheusMerge"
            ]
        );
        assert_eq!(
            merge_patch(&live, &want),
            json!({"compatibilityMode": null,
                   "config": {"numTrustedProxies": null, "authorizers": [],
                              "telemetry": {"metrics": {"prometheusMerge": null}}}})
        );
        // Applied to the live spec, the patch gives git's spec.
        assert_eq!(apply_merge(&live, &merge_patch(&live, &want)), want);
        assert!(removed(&want, &want, "spec").is_empty());
        assert_eq!(merge_patch(&want, &want), json!({}));
    }

    #[test]
    fn owners_come_from_managed_fields() {
        let entry = |manager: &str, fields: Value| -> ManagedFieldsEntry {
            serde_json::from_value(json!({"manager": manager, "operation": "Apply",
                                          "fieldsType": "FieldsV1", "fieldsV1": fields}))
            .unwrap()
        };
        let managed = [
            entry(
                "kubectl",
                json!({"f:spec": {"f:config": {"f:numTrustedProxies": {}}}}),
            ),
            entry(
                "argocd-controller",
                json!({"f:spec": {"f:config": {"f:telemetry": {"f:metrics": {}}}}}),
            ),
            entry(
                "istio-rollout",
                json!({"f:spec": {"f:config": {"f:telemetry": {}}}}),
            ),
        ];
        let path = |p: &str| p.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            owners(&managed, &path("spec.config.numTrustedProxies")),
            ["kubectl"]
        );
        assert_eq!(
            owners(&managed, &path("spec.config.telemetry")),
            ["argocd-controller", "istio-rollout"]
        );
        assert!(owners(&managed, &path("spec.compatibilityMode")).is_empty());
        let r = removals(
            &json!({"config": {"numTrustedProxies": 2}, "compatibilityMode": true}),
            &json!({"config": {}}),
            &managed,
        );
        assert_eq!(
            describe(&r),
            "spec.compatibilityMode, spec.config.numTrustedProxies (set by kubectl)"
        );
    }
}

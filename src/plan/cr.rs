//! The `Istio` CR: desired (git) against live. The spec is compared whole: the CRD has no
//! defaults, so a field the live CR has and git lacks is a change back to the module's default and
//! shows as a removal. Metadata is limited to the keys git sets, so labels and annotations the
//! server or the operator add are not shown as removals.

use crate::desired::Desired;
use crate::istio::Istio;
use crate::live::LiveState;
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrAction {
    None,
    Create,
    Update,
    /// Git holds no CR but the cluster does (uninstall). This tool never deletes it: GitOps prunes it.
    Delete,
}

impl CrAction {
    /// The name as serialised (`create`).
    pub fn as_str(self) -> &'static str {
        match self {
            CrAction::None => "none",
            CrAction::Create => "create",
            CrAction::Update => "update",
            CrAction::Delete => "delete",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CrChange {
    pub action: CrAction,
    pub namespace: String,
    pub name: String,
    /// Unified diff, live (`---`) against git (`+++`): the whole spec, and the metadata git sets.
    /// Empty when equal.
    pub diff: String,
}

/// The parts of a CR that a manifest in git sets.
fn manifest_value(istio: &Istio) -> Value {
    let mut meta = Map::new();
    let m = &istio.metadata;
    meta.insert("name".into(), m.name.clone().into());
    meta.insert("namespace".into(), m.namespace.clone().into());
    if let Some(l) = &m.labels {
        meta.insert("labels".into(), serde_json::to_value(l).unwrap_or_default());
    }
    if let Some(a) = &m.annotations {
        meta.insert(
            "annotations".into(),
            serde_json::to_value(a).unwrap_or_default(),
        );
    }
    let mut root = Map::new();
    root.insert("apiVersion".into(), crate::istio::cr::API_VERSION.into());
    root.insert("kind".into(), crate::istio::cr::KIND.into());
    root.insert("metadata".into(), Value::Object(meta));
    root.insert(
        "spec".into(),
        serde_json::to_value(&istio.spec).unwrap_or_default(),
    );
    Value::Object(root)
}

/// `live` restricted to the keys present in `desired`, recursively through objects.
fn project(desired: &Value, live: &Value) -> Option<Value> {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            let mut out = Map::new();
            for (k, dv) in d {
                if let Some(p) = l.get(k).and_then(|lv| project(dv, lv)) {
                    out.insert(k.clone(), p);
                }
            }
            Some(Value::Object(out))
        }
        (_, Value::Null) => None,
        (_, l) => Some(l.clone()),
    }
}

fn yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_default()
}

fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

pub fn diff(desired: &Desired, live: &LiveState) -> CrChange {
    let git_name = format!(
        "git {}",
        desired
            .istio_file
            .as_deref()
            .unwrap_or(&desired.source.path)
    );
    match &desired.istio {
        Some(want) => {
            let ns = want.metadata.namespace.clone().unwrap_or_default();
            let name = want.metadata.name.clone().unwrap_or_default();
            let want_v = manifest_value(want);
            let have = live.istio_crs.iter().find(|i| {
                i.metadata.namespace.as_deref() == Some(&ns)
                    && i.metadata.name.as_deref() == Some(&name)
            });
            let (action, old) = match have {
                None => (CrAction::Create, String::new()),
                Some(h) => {
                    let mut have_v = manifest_value(h);
                    have_v["metadata"] =
                        project(&want_v["metadata"], &have_v["metadata"]).unwrap_or_default();
                    let old = yaml(&have_v);
                    let action = if old == yaml(&want_v) {
                        CrAction::None
                    } else {
                        CrAction::Update
                    };
                    (action, old)
                }
            };
            let new = yaml(&want_v);
            let diff = unified(&old, &new, &format!("live {ns}/{name}"), &git_name);
            CrChange {
                action,
                namespace: ns,
                name,
                diff,
            }
        }
        None => match live.istio_crs.first() {
            Some(h) => {
                let old = yaml(&manifest_value(h));
                let ns = h.metadata.namespace.clone().unwrap_or_default();
                let name = h.metadata.name.clone().unwrap_or_default();
                let diff = unified(&old, "", &format!("live {ns}/{name}"), &git_name);
                CrChange {
                    action: CrAction::Delete,
                    namespace: ns,
                    name,
                    diff,
                }
            }
            None => CrChange {
                action: CrAction::None,
                namespace: String::new(),
                name: String::new(),
                diff: String::new(),
            },
        },
    }
}

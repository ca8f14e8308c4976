//! The live state from a file, as `kubectl get ... -o yaml|json` or `istio-rollout snapshot` writes it.

use super::LiveState;
use super::convert::Builder;
use crate::documents;
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

pub fn read(path: &Path) -> Result<LiveState> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::input(&origin, format!("cannot read the live state: {e}")))?;
    parse(&origin, &text)
}

pub fn parse(origin: &str, text: &str) -> Result<LiveState> {
    let docs = documents::parse(origin, text).map_err(|m| Error::Input {
        origin: origin.to_string(),
        message: m.trim_start_matches(&format!("{origin}: ")).to_string(),
    })?;
    let mut b = Builder::default();
    // The builder takes PodDisruptionBudgets before pods (it keeps the labels they select on).
    let (pdbs, rest): (Vec<Value>, Vec<Value>) = docs
        .into_iter()
        .partition(|d| d.get("kind").and_then(Value::as_str) == Some("PodDisruptionBudget"));
    for doc in pdbs.into_iter().chain(rest) {
        add(&mut b, doc).map_err(|m| Error::input(origin, m))?;
    }
    Ok(b.finish())
}

fn typed<T: DeserializeOwned>(doc: Value) -> Result<T, String> {
    let what = documents::describe(&doc);
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        format!(
            "{what}: {path}: {}",
            documents::one_line(&e.into_inner().to_string())
        )
    })
}

fn add(b: &mut Builder, doc: Value) -> Result<(), String> {
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let api = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, kind.as_str()) {
        ("operator.kyma-project.io", "Istio") => b.istio(typed(doc)?),
        ("", "Pod") => b.pod(typed::<super::wire::PodObject>(doc)?),
        ("policy", "PodDisruptionBudget") => b.pdb(&typed(doc)?),
        ("", "ConfigMap") => {
            let what = documents::describe(&doc);
            b.mesh_config(&typed(doc)?)
                .map_err(|e| format!("{what}: {e}"))?
        }
        (group, kind) => {
            // An owner kind; anything else a broad `kubectl get` captured is not needed.
            let mut add = AddOwner {
                b,
                group,
                kind,
                doc: Some(doc),
                result: Ok(()),
            };
            super::kinds::each(&mut add);
            add.result?
        }
    }
    Ok(())
}

/// Adds the document if it is an object of the visited owner kind.
struct AddOwner<'a> {
    b: &'a mut Builder,
    group: &'a str,
    kind: &'a str,
    doc: Option<Value>,
    result: Result<(), String>,
}

impl super::kinds::Visit for AddOwner<'_> {
    fn visit<K: super::kinds::OwnerKind>(&mut self) {
        if K::group(&()) == self.group
            && K::kind(&()) == self.kind
            && let Some(doc) = self.doc.take()
        {
            self.result = typed::<K>(doc).map(|o| self.b.workload(&o));
        }
    }
}

/// `istio-rollout snapshot`: every object the planner reads, as multi-document YAML, written as
/// it is listed (`managedFields` dropped). `plan --live-state` reads it back.
pub async fn write_from_cluster(
    args: &crate::cli::ClusterArgs,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    use super::cluster::{self, Object};
    let client = cluster::connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let io = |e: std::io::Error| Error::Failure(format!("writing the snapshot: {e}"));
    writeln!(
        out,
        "# istio-rollout snapshot: the live state as `plan --live-state` reads it"
    )
    .map_err(io)?;
    let mut write = |o: Object<k8s_openapi::api::core::v1::Pod>| -> Result<()> {
        let v = match o {
            Object::Istio(x) => serde_json::to_value(x),
            Object::Pod(x) => serde_json::to_value(x),
            Object::Owner(x) => x.to_json(),
            Object::PodDisruptionBudget(x) => serde_json::to_value(x),
            Object::ConfigMap(x) => serde_json::to_value(x),
        };
        let mut v = v.map_err(|e| Error::Failure(format!("snapshot: {e}")))?;
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        let doc =
            serde_saphyr::to_string(&v).map_err(|e| Error::Failure(format!("snapshot: {e}")))?;
        write!(out, "---\n{doc}").map_err(io)
    };
    cluster::visit(&client, &mut write, &mut cluster::Stats::default()).await
}

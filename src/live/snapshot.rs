//! The live state from a file, as `kubectl get ... -o yaml|json` or `istio-rollout snapshot` writes it.

use super::LiveState;
use super::convert::Builder;
use crate::documents;
use crate::error::{BoxError, Error, Invalid, Result, decode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

/// The largest live state file read by default (`--max-live-state-size` raises it).
pub const DEFAULT_MAX_SIZE: u64 = 512 * 1024 * 1024;

/// How a live state file is read.
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions {
    /// Refused past this many bytes (`/dev/zero` stops here).
    pub max_size: u64,
    /// A file without objects (empty, `/dev/null`, a failed `snapshot > file`) is an empty
    /// cluster only when this says so; otherwise it is an error.
    pub allow_empty: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_size: DEFAULT_MAX_SIZE,
            allow_empty: false,
        }
    }
}

pub fn read(path: &Path) -> Result<LiveState> {
    read_with(path, ReadOptions::default())
}

pub fn read_with(path: &Path, opts: ReadOptions) -> Result<LiveState> {
    let origin = crate::escape::value(&path.display().to_string());
    let input = |source| Error::Input {
        origin: origin.clone(),
        source,
    };
    let bytes = super::kubeconfig::read_bounded(path, opts.max_size, "the live state")
        .map_err(|e| match e {
            Invalid::TooLarge { max, .. } => input(Invalid::Message(format!(
                "the live state is larger than the limit of {max} bytes (--max-live-state-size raises it)"
            ))),
            e => input(e),
        })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| input(Invalid::Utf8(e)))?;
    let (live, objects) = parse_counted(&origin, text)?;
    if objects == 0 && !opts.allow_empty {
        return Err(input(Invalid::Message(
            "the live state holds no objects (an empty file or a failed snapshot); \
             --allow-empty-live-state if the cluster is empty"
                .into(),
        )));
    }
    Ok(live)
}

pub fn parse(origin: &str, text: &str) -> Result<LiveState> {
    parse_counted(origin, text).map(|(live, _)| live)
}

/// [`parse`], also counting the objects of the file (whatever their kind).
fn parse_counted(origin: &str, text: &str) -> Result<(LiveState, usize)> {
    let docs = documents::parse(origin, text)?;
    let objects = docs.len();
    let mut b = Builder::default();
    // The builder takes PodDisruptionBudgets before pods (it keeps the labels they select on).
    let (pdbs, rest): (Vec<Value>, Vec<Value>) = docs
        .into_iter()
        .partition(|d| d.get("kind").and_then(Value::as_str) == Some("PodDisruptionBudget"));
    for doc in pdbs.into_iter().chain(rest) {
        add(&mut b, doc).map_err(|source| Error::Input {
            origin: origin.to_string(),
            source,
        })?;
    }
    Ok((b.finish(), objects))
}

/// Decodes one document; a failure names the object and the field.
fn typed<T: DeserializeOwned>(doc: Value) -> Result<T, Invalid> {
    let what = documents::describe(&doc);
    decode(doc).map_err(|e| Invalid::from(e).in_object(what))
}

fn add(b: &mut Builder, doc: Value) -> Result<(), Invalid> {
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
        ("", "Namespace") => b.namespace(&typed(doc)?),
        ("", "ConfigMap") => {
            let what = documents::describe(&doc);
            b.config_map(&typed(doc)?).map_err(|e| e.in_object(what))?
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
    result: Result<(), Invalid>,
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
/// it is listed (`managedFields` dropped). `plan --live-state` reads it back. With `namespaces`,
/// namespaced objects of other namespaces are left out, except those of the control plane
/// (`istio-system`, `kyma-system`).
pub async fn write_from_cluster(
    client: &kube::Client,
    namespaces: &[String],
    out: &mut dyn std::io::Write,
) -> Result<()> {
    use super::cluster::{self, Object};
    writeln!(
        out,
        "# istio-rollout snapshot: the live state as `plan --live-state` reads it"
    )
    .map_err(Error::Output)?;
    let mut write = |o: Object<k8s_openapi::api::core::v1::Pod>| -> Result<()> {
        let v = match o {
            Object::Istio(x) => serde_json::to_value(x),
            Object::Pod(x) => serde_json::to_value(x),
            Object::Owner(x) => x.to_json(),
            Object::PodDisruptionBudget(x) => serde_json::to_value(x),
            Object::ConfigMap(x) => serde_json::to_value(x),
            Object::Namespace(x) => serde_json::to_value(x),
        };
        let encode = |what: &Value, source: BoxError| Error::Encode {
            what: documents::describe(what),
            source,
        };
        let mut v = v.map_err(|e| Error::Encode {
            what: "an object of the snapshot".into(),
            source: e.into(),
        })?;
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        if !in_scope(&v, namespaces) {
            return Ok(());
        }
        let doc = serde_saphyr::to_string(&v).map_err(|e| encode(&v, e.into()))?;
        write!(out, "---\n{doc}").map_err(Error::Output)
    };
    cluster::visit(client, &mut write, &mut cluster::Stats::default()).await
}

/// Whether `snapshot --namespace` keeps the object: cluster-scoped ones, the control plane's
/// namespaces and the named ones.
fn in_scope(object: &Value, namespaces: &[String]) -> bool {
    let Some(ns) = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    else {
        return true;
    };
    namespaces.is_empty()
        || [super::convert::ISTIO_NAMESPACE, super::KYMA_NAMESPACE].contains(&ns)
        || namespaces.iter().any(|n| n == ns)
}

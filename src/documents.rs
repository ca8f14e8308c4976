//! Reading Kubernetes documents: multi-document YAML, JSON, and `List` objects, flattened.

use crate::error::{Error, Invalid};
use serde_json::Value;

/// Parses `text`, the contents of `origin`, into objects. `kind: List` (and `*List`) documents are
/// flattened into their items; empty documents are dropped. Errors are [`Error::Input`] naming
/// `origin`.
pub fn parse(origin: &str, text: &str) -> Result<Vec<Value>, Error> {
    parse_documents(text).map_err(|source| Error::Input {
        origin: origin.to_string(),
        source,
    })
}

fn parse_documents(text: &str) -> Result<Vec<Value>, Invalid> {
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let v: Value = serde_json::from_str(text).map_err(Invalid::Json)?;
        match v {
            Value::Array(items) => items,
            v => vec![v],
        }
    } else {
        serde_saphyr::from_multiple::<Value>(text).map_err(|e| Invalid::Yaml(Box::new(e)))?
    };
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        flatten(doc, &mut out)?;
    }
    Ok(out)
}

fn flatten(doc: Value, out: &mut Vec<Value>) -> Result<(), Invalid> {
    match doc {
        Value::Null => Ok(()),
        Value::Object(mut o) => {
            let is_list = o
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && o.contains_key("items");
            if is_list {
                match o.remove("items") {
                    Some(Value::Array(items)) => {
                        for item in items {
                            flatten(item, out)?;
                        }
                        Ok(())
                    }
                    Some(Value::Null) | None => Ok(()),
                    Some(_) => Err(Invalid::ListItems),
                }
            } else {
                out.push(Value::Object(o));
                Ok(())
            }
        }
        other => Err(Invalid::NotAnObject(short(&other))),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(60) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s,
    }
}

/// `Kind namespace/name` of a document, for error messages.
pub fn describe(doc: &Value) -> String {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("object");
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    match doc.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::report;

    #[test]
    fn yaml_multi_doc_and_lists_flatten() {
        let text = "a: 1\n---\nkind: List\nitems:\n- kind: Pod\n- kind: ConfigMap\n---\n";
        let docs = parse("f.yaml", text).unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[2]["kind"], "ConfigMap");
    }

    #[test]
    fn json_list() {
        let docs = parse("f.json", r#"{"kind":"List","items":[{"kind":"Pod"}]}"#).unwrap();
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn errors_name_the_file() {
        let err = |origin: &str, text: &str| report(&parse(origin, text).unwrap_err());
        assert!(err("f.yaml", "a: [1,\n").starts_with("f.yaml: not valid YAML"));
        assert!(err("f.json", "{").starts_with("f.json: not valid JSON"));
        assert!(err("f.yaml", "- 1\n").contains("not an object"));
        // Once: the origin is not repeated by the messages under it.
        assert_eq!(err("f.yaml", "a: [1,\n").matches("f.yaml").count(), 1);
        assert_eq!(
            err("f.yaml", "- 1\n"),
            "f.yaml: a document is not an object but `[1]`"
        );
    }
}

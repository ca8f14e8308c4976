//! Reading Kubernetes documents: multi-document YAML, JSON, and `List` objects, flattened.

use serde_json::Value;

/// Parses `text` into objects. `kind: List` (and `*List`) documents are flattened into their items;
/// empty documents are dropped. Errors name `origin` and are one line.
pub fn parse(origin: &str, text: &str) -> Result<Vec<Value>, String> {
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("{origin}: not valid JSON: {e}"))?;
        match v {
            Value::Array(items) => items,
            v => vec![v],
        }
    } else {
        serde_saphyr::from_multiple::<Value>(text)
            .map_err(|e| format!("{origin}: not valid YAML: {}", one_line(&e.to_string())))?
    };
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        flatten(doc, &mut out, origin)?;
    }
    Ok(out)
}

fn flatten(doc: Value, out: &mut Vec<Value>, origin: &str) -> Result<(), String> {
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
                            flatten(item, out, origin)?;
                        }
                        Ok(())
                    }
                    Some(Value::Null) | None => Ok(()),
                    Some(_) => Err(format!("{origin}: a List whose `items` is not a list")),
                }
            } else {
                out.push(Value::Object(o));
                Ok(())
            }
        }
        other => Err(format!(
            "{origin}: a document is not an object but `{}`",
            short(&other)
        )),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}...", &s[..60])
    } else {
        s
    }
}

/// Collapses a multi-line message into one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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
        assert!(
            parse("f.yaml", "a: [1,\n")
                .unwrap_err()
                .starts_with("f.yaml: not valid YAML")
        );
        assert!(
            parse("f.json", "{")
                .unwrap_err()
                .starts_with("f.json: not valid JSON")
        );
        assert!(
            parse("f.yaml", "- 1\n")
                .unwrap_err()
                .contains("not an object")
        );
    }
}

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
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    let yaml = |text: &str| {
        serde_saphyr::from_multiple::<Value>(text).map_err(|e| Invalid::Yaml(Box::new(e)))
    };
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match json(trimmed) {
            Ok(Value::Array(items)) => items,
            Ok(v) => vec![v],
            // Valid YAML in flow style (`{a: 1}`) is YAML; a JSON error is clearer otherwise. A
            // flow sequence (`[{kind: Pod}]`) holds documents, as a JSON array does.
            Err(Invalid::Json(e)) if e.is_syntax() || e.is_eof() => {
                let mut docs = yaml(text).map_err(|_| Invalid::Json(e))?;
                match docs.as_mut_slice() {
                    [Value::Array(items)] => std::mem::take(items),
                    _ => docs,
                }
            }
            Err(e) => return Err(e),
        }
    } else {
        yaml(text)?
    };
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        flatten(doc, &mut out)?;
    }
    Ok(out)
}

/// JSON, refusing a key twice in one object as the YAML parser does (serde_json keeps the last).
fn json(text: &str) -> Result<Value, Invalid> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = <Unique as serde::Deserialize>::deserialize(&mut de).map_err(Invalid::Json)?;
    de.end().map_err(Invalid::Json)?;
    Ok(v.0)
}

/// A JSON value whose objects hold each key once.
struct Unique(Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d).map(|u: Unique| u.0)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Unique(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key `{}`",
                    crate::escape::value(&key)
                )));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
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
    crate::escape::cap(&crate::escape::control(&v.to_string()), 60).into_owned()
}

/// `Kind namespace/name` of a document, for error messages (each part escaped and capped).
pub fn describe(doc: &Value) -> String {
    let part = |v: &str| crate::escape::cap(&crate::escape::control(v), 80).into_owned();
    let kind = part(doc.get("kind").and_then(Value::as_str).unwrap_or("object"));
    let name = part(
        doc.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>"),
    );
    match doc.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{kind} {}/{name}", part(ns)),
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

    #[test]
    fn json_refuses_duplicate_keys_as_yaml_does() {
        let err = |text: &str| report(&parse("f.json", text).unwrap_err());
        assert!(err(r#"{"kind":"Pod","kind":"ConfigMap"}"#).contains("duplicate key `kind`"));
        assert!(err(r#"[{"metadata":{"name":"a","name":"b"}}]"#).contains("duplicate key `name`"));
        assert!(report(&parse("f.yaml", "kind: Pod\nkind: Pod\n").unwrap_err()).contains("f.yaml"));
        // The same key in two objects is fine.
        assert_eq!(parse("f.json", r#"[{"a":1},{"a":2}]"#).unwrap().len(), 2);
    }

    #[test]
    fn yaml_in_flow_style_is_yaml() {
        let docs = parse("f.yaml", "{kind: Pod, metadata: {name: a}}\n").unwrap();
        assert_eq!(docs[0]["metadata"]["name"], "a");
        let docs = parse("f.yaml", "[{kind: Pod}, {kind: ConfigMap}]").unwrap();
        assert_eq!(docs.len(), 2);
        // `{"a": }` is YAML (`a` is null); neither JSON nor YAML: the JSON error.
        assert_eq!(parse("f.json", "{\"a\": }").unwrap()[0]["a"], Value::Null);
        assert!(report(&parse("f.json", "{\"a\": [1, }").unwrap_err()).contains("not valid JSON"));
    }

    #[test]
    fn a_scalar_document_with_multi_byte_characters_is_cut_by_characters() {
        for n in 55..66 {
            let text = format!("\"{}{}\"\n", "a".repeat(n), "€".repeat(20));
            let e = report(&parse("f.yaml", &text).unwrap_err());
            assert!(e.contains("not an object"), "{e}");
        }
        let e = report(&parse("f.yaml", "\"\\e[31mred\\nline\"\n").unwrap_err());
        assert!(!e.contains('\x1b') && !e.contains('\n'), "{e}");
    }
}

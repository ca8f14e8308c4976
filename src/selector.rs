//! Label selectors as kubectl takes them (`-l app=web,tier!=db,env in (prod,stage),!legacy`),
//! parsed into kube's own [`Selector`] (which does the matching).

use kube::core::{Expression, Selector};
use regex::Regex;
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// A label name with its optional DNS-subdomain prefix (`example.com/tier`).
static KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
    )
    .expect("key regex")
});
/// A label value (may be empty).
static VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$").expect("value regex")
});

/// Parses a selector; the error says which requirement is wrong and why. An empty string selects
/// everything.
pub fn parse(text: &str) -> Result<Selector, String> {
    let mut expressions = Vec::new();
    for requirement in split(text)? {
        let r = requirement.trim();
        if r.is_empty() {
            if text.trim().is_empty() {
                continue;
            }
            return Err("an empty requirement (two commas, or one at an end)".into());
        }
        expressions.push(requirement_of(r).map_err(|e| format!("`{r}`: {e}"))?);
    }
    Ok(Selector::from_iter(expressions))
}

/// Splits at the commas outside parentheses.
fn split(text: &str) -> Result<Vec<&str>, String> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("`)` without `(` at character {}", i + 1))?
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err("`(` without `)`".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn requirement_of(r: &str) -> Result<Expression, String> {
    if let Some(key) = r.strip_prefix('!') {
        return Ok(Expression::DoesNotExist(key_of(key)?));
    }
    for (op, make) in [
        (
            "!=",
            Expression::NotEqual as fn(String, String) -> Expression,
        ),
        ("==", Expression::Equal),
        ("=", Expression::Equal),
    ] {
        if let Some((k, v)) = r.split_once(op) {
            return Ok(make(key_of(k)?, value_of(v)?));
        }
    }
    if r.contains('<') || r.contains('>') {
        return Err("`<` and `>` (gt, lt) select on nodes only, not workloads".into());
    }
    // `key in (a,b)` / `key notin (a,b)`: a set needs the parentheses.
    if let Some(open) = r.find('(') {
        let head = r[..open].trim();
        let Some(list) = r[open + 1..].trim_end().strip_suffix(')') else {
            return Err("a set ends with `)`".into());
        };
        let (key, op) = head
            .rsplit_once(char::is_whitespace)
            .ok_or("expected `key in (values)` or `key notin (values)`")?;
        let values: BTreeSet<String> = list.split(',').map(value_of).collect::<Result<_, _>>()?;
        let key = key_of(key)?;
        return match op {
            "in" => Ok(Expression::In(key, values)),
            "notin" => Ok(Expression::NotIn(key, values)),
            other => Err(format!("unknown operator `{other}` (in, notin)")),
        };
    }
    if r.split_whitespace().count() > 1 {
        return Err(
            "expected key, !key, key=value, key!=value, key in (...) or key notin (...)".into(),
        );
    }
    Ok(Expression::Exists(key_of(r)?))
}

fn key_of(k: &str) -> Result<String, String> {
    let k = k.trim();
    let name = k.rsplit_once('/').map_or(k, |(_, n)| n);
    let prefix = k.rsplit_once('/').map(|(p, _)| p);
    if k.is_empty() {
        return Err("a label key is empty".into());
    }
    if !KEY.is_match(k) || name.len() > 63 || prefix.is_some_and(|p| p.len() > 253) {
        return Err(format!(
            "`{k}` is not a label key ([prefix/]name: a name of up to 63 letters, digits, `-`, `_`, `.`)"
        ));
    }
    Ok(k.to_string())
}

fn value_of(v: &str) -> Result<String, String> {
    let v = v.trim();
    if !VALUE.is_match(v) || v.len() > 63 {
        return Err(format!(
            "`{v}` is not a label value (up to 63 letters, digits, `-`, `_`, `.`)"
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::SelectorExt;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kubectl_syntax_selects_as_kubectl_does() {
        let web = labels(&[
            ("app", "web"),
            ("env", "prod"),
            ("example.com/tier", "front"),
        ]);
        let db = labels(&[("app", "db"), ("env", "stage"), ("legacy", "")]);
        let cases = [
            ("app=web", true, false),
            ("app==web", true, false),
            ("app!=web", false, true),
            ("env in (prod, stage)", true, true),
            ("env notin (prod)", false, true),
            ("legacy", false, true),
            ("!legacy", true, false),
            ("example.com/tier=front,env=prod", true, false),
            ("app in (web,db),!legacy", true, false),
            ("", true, true),
        ];
        for (text, selects_web, selects_db) in cases {
            let s = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.matches(&web), selects_web, "{text} on web");
            assert_eq!(s.matches(&db), selects_db, "{text} on db");
        }
    }

    #[test]
    fn invalid_selectors_say_what_is_wrong() {
        let cases = [
            ("app=web,", "an empty requirement"),
            ("app in (a,b", "`(` without `)`"),
            ("app in a,b)", "`)` without `(`"),
            ("app=we b", "`we b` is not a label value"),
            ("-app=web", "`-app` is not a label key"),
            ("app within (a)", "unknown operator `within`"),
            ("replicas>2", "select on nodes only"),
            ("app web", "expected key"),
            ("=web", "a label key is empty"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}

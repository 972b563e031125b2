//! The safety net under every edit: read the old and the new text with a full YAML loader,
//! flatten both the way Elasticsearch does, and accept the edit only if the realm's settings
//! read back as intended and every other setting is exactly as before. Whatever corner of YAML
//! the in-place editor did not foresee, the file on disk is never changed wrongly.

use std::collections::BTreeMap;

use yaml_rust2::{Yaml, YamlLoader};

/// Check that `new` differs from `old` only in `expected` (a key with `None` must be absent).
pub(crate) fn check_edit(
    old: &str,
    new: &str,
    expected: &[(String, Option<String>)],
) -> Result<(), String> {
    let before = flatten_text(old).map_err(|e| format!("the current text does not load: {e}"))?;
    let after = flatten_text(new).map_err(|e| format!("the result would not load: {e}"))?;
    for (key, want) in expected {
        let got = after.get(key).and_then(scalar_text);
        if got.as_deref() != want.as_deref() {
            return Err(match want {
                Some(_) => format!("[{key}] would not read back with the new value"),
                None => format!("[{key}] would still be set"),
            });
        }
    }
    let is_expected = |key: &str| expected.iter().any(|(k, _)| k == key);
    for key in before.keys().chain(after.keys()) {
        if !is_expected(key) && before.get(key) != after.get(key) {
            return Err(format!("the edit would also change [{key}]"));
        }
    }
    Ok(())
}

/// Every setting of the text's (single) document, flattened to dotted keys.
fn flatten_text(text: &str) -> Result<BTreeMap<String, Yaml>, String> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let docs = YamlLoader::load_from_str(body).map_err(|e| e.to_string())?;
    if docs.len() > 1 {
        return Err("more than one YAML document".to_owned());
    }
    let mut out = BTreeMap::new();
    if let Some(doc) = docs.into_iter().next() {
        flatten("", doc, &mut out);
    }
    Ok(out)
}

fn flatten(prefix: &str, node: Yaml, out: &mut BTreeMap<String, Yaml>) {
    match node {
        Yaml::Hash(map) if !map.is_empty() => {
            for (key, value) in map {
                let name = scalar_text(&key).unwrap_or_else(|| format!("{key:?}"));
                let full = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(&full, value, out);
            }
        }
        // An empty document (no settings) is not a setting.
        Yaml::BadValue | Yaml::Null if prefix.is_empty() => {}
        other => {
            out.insert(prefix.to_owned(), other);
        }
    }
}

/// A scalar as the string Elasticsearch would read (`3` and `"3"` are both "3").
fn scalar_text(node: &Yaml) -> Option<String> {
    match node {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(key: &str, value: Option<&str>) -> Vec<(String, Option<String>)> {
        vec![(key.to_owned(), value.map(str::to_owned))]
    }

    #[test]
    fn accepts_an_edit_of_only_the_expected_key() {
        let old = "a:\n  b: 1\nc: x\n";
        let new = "a:\n  b: \"2\"\nc: x\n";
        assert_eq!(check_edit(old, new, &want("a.b", Some("2"))), Ok(()));
        assert_eq!(
            check_edit(old, "a:\n  b: 2\n", &want("a.b", Some("2"))),
            Err("the edit would also change [c]".to_owned())
        );
        assert!(check_edit(old, new, &want("a.b", Some("3"))).is_err());
        assert_eq!(
            check_edit(old, "c: x\n", &want("a.b", None)),
            Ok(()),
            "removing the only key of a mapping removes the mapping"
        );
    }

    #[test]
    fn refuses_a_result_that_does_not_load() {
        assert!(check_edit("a: 1\n", "a: [1\n", &want("a", Some("1"))).is_err());
        assert!(check_edit("a: 1\n", "a: 1\n---\nb: 2\n", &want("b", Some("2"))).is_err());
    }
}

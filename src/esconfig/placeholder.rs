//! `${…}` placeholders in `elasticsearch.yml` values, resolved the way Elasticsearch does.
//!
//! Elasticsearch has two passes, and which ones run depends on its version (see
//! `docs/esconfig.md` for the source references):
//!
//! - **Settings pass** (every version, `Settings.Builder#replacePropertyPlaceholders` with
//!   `PropertyPlaceholder`): after the YAML is parsed, each value's `${name}` is replaced by the
//!   environment variable `name` (up to 8.1 only) or else by the setting `name`; `${name:dflt}`
//!   falls back to `dflt`; placeholders nest (`${A_${B}}`) and a resolved value is itself
//!   resolved; a name that resolves to nothing is an error, except `prompt.*` names, which
//!   leave the whole value as written; a value that resolves to "" removes the setting. There
//!   is no escape: a value can never hold a literal `${x}` that resolves.
//! - **Text pass** (8.2 and later, `InternalSettingsPreparer.loadConfigWithSubstitutions`):
//!   before parsing, each line's `${NAME}` (up to the first `}`) whose NAME is a set
//!   environment variable is replaced by its value in the raw text; the settings pass then
//!   runs without the environment.
//!
//! The environment is injectable ([`Environment::from_map`]) so tests never depend on the
//! process environment.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Deeper nesting than this is refused rather than recursed into (a hostile value must not
/// exhaust the stack).
const MAX_DEPTH: usize = 32;
/// A value growing past this while resolving is refused (settings referring to each other
/// can double the length at every level).
const MAX_RESOLVED_LEN: usize = 64 * 1024;

/// Where `${NAME}` environment variables come from.
#[derive(Clone, Default)]
pub enum Environment {
    /// This process's environment (what a command run next to Elasticsearch sees).
    #[default]
    Process,
    /// A fixed set of variables, for tests and callers that know Elasticsearch's environment.
    Map(Arc<BTreeMap<String, String>>),
}

/// Names only: variable values may be credentials.
impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Environment::Process => f.write_str("Environment::Process"),
            Environment::Map(map) => f
                .debug_tuple("Environment::Map")
                .field(&map.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

impl Environment {
    pub fn from_map<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Environment {
        Environment::Map(Arc::new(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    /// The variable's value; a variable that is not valid UTF-8 counts as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        if name.is_empty() || name.contains(['=', '\0']) {
            return None;
        }
        match self {
            Environment::Process => std::env::var(name).ok(),
            Environment::Map(map) => map.get(name).cloned(),
        }
    }
}

/// Why a value's placeholders cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlaceholderError {
    /// Neither an environment variable nor a setting, and no default.
    Unresolved(String),
    /// The placeholder refers back to itself (Elasticsearch's "Circular placeholder reference").
    Circular(String),
    /// Nested or expanded beyond this module's bounds.
    TooComplex,
}

/// Whether Elasticsearch's settings pass would find a placeholder in `value`: a `${` with a
/// `}` after it.
pub(crate) fn has_placeholder(value: &str) -> bool {
    value
        .find("${")
        .is_some_and(|start| value[start + 2..].contains('}'))
}

/// The names written in `value`'s outermost placeholders, defaults cut off (`${A:x}` → `A`),
/// for messages.
pub(crate) fn placeholder_names(value: &str) -> Vec<String> {
    let bytes = value.as_bytes();
    let mut names = Vec::new();
    let mut from = 0;
    while let Some(i) = value[from..].find("${") {
        let start = from + i;
        let Some(end) = placeholder_end(bytes, start) else {
            break;
        };
        let inner = &value[start + 2..end];
        let name = inner.split(':').next().unwrap_or(inner);
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        from = end + 1;
    }
    names
}

/// Resolve every placeholder of `value` as `PropertyPlaceholder.replacePlaceholders` does, with
/// `lookup` answering a name (environment and/or settings, as the caller models).
pub(crate) fn resolve(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, PlaceholderError> {
    let mut visited = Vec::new();
    parse_value(value, lookup, &mut visited, 0)
}

fn parse_value(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    visited: &mut Vec<String>,
    depth: usize,
) -> Result<String, PlaceholderError> {
    if depth > MAX_DEPTH {
        return Err(PlaceholderError::TooComplex);
    }
    let mut buf = value.to_owned();
    let mut next = buf.find("${");
    while let Some(start) = next {
        let Some(end) = placeholder_end(buf.as_bytes(), start) else {
            break;
        };
        let written = buf[start + 2..end].to_owned();
        if visited.contains(&written) {
            return Err(PlaceholderError::Circular(written));
        }
        visited.push(written.clone());
        // The key itself may hold placeholders (`${A_${B}}`).
        let key = parse_value(&written, lookup, visited, depth + 1)?;
        let (name, default) = match key.split_once(':') {
            Some((name, default)) => (name.to_owned(), Some(default.to_owned())),
            None => (key, None),
        };
        let found = lookup(&name).or(default);
        let Some(found) = found else {
            if name.starts_with("prompt.") {
                // Elasticsearch ignores a missing `prompt.*` and keeps the value as written.
                return Ok(value.to_owned());
            }
            return Err(PlaceholderError::Unresolved(name));
        };
        let replacement = parse_value(&found, lookup, visited, depth + 1)?;
        buf.replace_range(start..=end, &replacement);
        if buf.len() > MAX_RESOLVED_LEN {
            return Err(PlaceholderError::TooComplex);
        }
        let after = start + replacement.len();
        next = buf[after..].find("${").map(|i| after + i);
        // Elasticsearch forgets the resolved name, not the text it added: `${A:x}` twice in
        // one value is a "circular" reference there, and so it is here.
        if let Some(i) = visited.iter().position(|v| *v == name) {
            visited.remove(i);
        }
    }
    Ok(buf)
}

/// The index of the `}` closing the placeholder that opens at `start`, counting nested `${`.
fn placeholder_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 2;
    let mut nested = 0usize;
    while i < bytes.len() {
        if bytes[i] == b'}' {
            if nested == 0 {
                return Some(i);
            }
            nested -= 1;
            i += 1;
        } else if bytes[i..].starts_with(b"${") {
            nested += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    None
}

/// Elasticsearch 8.2+'s text pass: on each line, every `${NAME}` (closed by the first `}`)
/// whose NAME is a set environment variable becomes its value; everything else stays.
pub(crate) fn substitute_text(text: &str, env: &Environment) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut from = 0;
        while let Some(i) = line[from..].find("${") {
            let dollar = from + i;
            let Some(close) = line[dollar + 2..].find('}').map(|j| dollar + 2 + j) else {
                break;
            };
            out.push_str(&line[from..dollar]);
            match env.var(&line[dollar + 2..close]) {
                Some(value) => out.push_str(&value),
                None => out.push_str(&line[dollar..=close]),
            }
            from = close + 1;
        }
        out.push_str(&line[from..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn resolves_names_defaults_nesting_and_recursion() {
        let lookup = with(&[("A", "1"), ("B", "x"), ("A_x", "nested"), ("R", "${A}${A}")]);
        assert_eq!(resolve("plain", &lookup), Ok("plain".into()));
        assert_eq!(resolve("${A}-${A}", &lookup), Ok("1-1".into()));
        assert_eq!(resolve("${MISSING:dflt}", &lookup), Ok("dflt".into()));
        assert_eq!(resolve("${A:dflt}", &lookup), Ok("1".into()));
        assert_eq!(resolve("${MISSING:}", &lookup), Ok("".into()));
        assert_eq!(resolve("${A_${B}}", &lookup), Ok("nested".into()));
        assert_eq!(resolve("${R}", &lookup), Ok("11".into()));
        assert_eq!(resolve("$${A}", &lookup), Ok("$1".into()), "no escape");
        assert_eq!(resolve("${A", &lookup), Ok("${A".into()), "unclosed stays");
    }

    #[test]
    fn unresolved_circular_and_prompt_names() {
        let lookup = with(&[("L", "${L}")]);
        assert_eq!(
            resolve("a${GONE}", &lookup),
            Err(PlaceholderError::Unresolved("GONE".into()))
        );
        assert_eq!(
            resolve("${L}", &lookup),
            Err(PlaceholderError::Circular("L".into()))
        );
        assert_eq!(
            resolve("${X:d}${X:d}", &lookup),
            Err(PlaceholderError::Circular("X:d".into())),
            "Elasticsearch's own quirk"
        );
        assert_eq!(
            resolve("${prompt.text}", &lookup),
            Ok("${prompt.text}".into())
        );
    }

    #[test]
    fn hostile_values_are_bounded() {
        let deep = format!("{}{}", "${".repeat(10_000), "}".repeat(10_000));
        assert_eq!(
            resolve(&deep, &with(&[])),
            Err(PlaceholderError::TooComplex)
        );
        let mut vars = vec![("V0".to_owned(), "x".repeat(100))];
        for i in 1..40 {
            vars.push((format!("V{i}"), format!("${{V{}}}${{V{}}}", i - 1, i - 1)));
        }
        let map: BTreeMap<String, String> = vars.into_iter().collect();
        let lookup = move |name: &str| map.get(name).cloned();
        assert_eq!(
            resolve("${V39}", &lookup),
            Err(PlaceholderError::TooComplex)
        );
    }

    #[test]
    fn text_pass_replaces_only_set_simple_names() {
        let env = Environment::from_map([("A", "1"), ("B", "two words")]);
        assert_eq!(
            substitute_text("a: ${A}\nb: \"${B}\" # ${C}\nc: ${A:d}\nd: ${A\n", &env),
            "a: 1\nb: \"two words\" # ${C}\nc: ${A:d}\nd: ${A\n"
        );
    }

    #[test]
    fn names_for_messages() {
        assert_eq!(placeholder_names("${A}-${B:x}-${A}"), vec!["A", "B"]);
        assert!(has_placeholder("x${A}") && !has_placeholder("x${A") && !has_placeholder("$A}"));
    }

    #[test]
    fn debug_shows_names_not_values() {
        let env = Environment::from_map([("TOKEN", "s3cr3t-value")]);
        let shown = format!("{env:?}");
        assert!(
            shown.contains("TOKEN") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }
}

//! One `elasticsearch.yml`: its text, where each setting sits, and read-only questions about
//! realms. Editing lives in `edit.rs`.

use std::path::{Path, PathBuf};

use super::placeholder::{self, has_placeholder, Environment, PlaceholderError};
use super::scan::{scan, Scan, Style, Value};
use super::{
    realm_prefix, realm_setting_key, split_realm_key, validate_realm_name, EsConfigError, ES_YML,
    REALM_TYPE, SECURE_REALM_SETTINGS,
};

/// The largest `elasticsearch.yml` read: 16 MiB, thousands of times a real one, so a huge
/// or sparse file in its place is refused from its size instead of being loaded.
pub const MAX_YML_LEN: u64 = 16 << 20;

/// An `elasticsearch.yml` held in memory. Edits change only the text here; writing it to disk
/// (atomically, next to the keystore) is the caller's job.
#[derive(Clone)]
pub struct EsYml {
    pub(super) path: PathBuf,
    pub(super) text: String,
    pub(super) scan: Scan,
    /// Where `${NAME}` placeholders in values are looked up.
    pub(super) env: Environment,
}

/// Path and size only: a misplaced `client_secret` in the text must not reach a log line.
impl std::fmt::Debug for EsYml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsYml")
            .field("path", &self.path)
            .field("bytes", &self.text.len())
            .field("settings", &self.scan.entries.len())
            .finish()
    }
}

/// The non-secure settings of one `microsoft_graph` realm as the yml holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealmYml {
    pub client_id: Option<String>,
    pub tenant_id: Option<String>,
    /// `None` when absent or not an integer.
    pub order: Option<i64>,
    pub access_token_host: Option<String>,
    pub graph_host: Option<String>,
    pub http_request_timeout: Option<String>,
    pub execution_timeout: Option<String>,
}

/// One realm's `order` setting: `(type, name, order, line)`.
pub(super) struct RealmOrder {
    pub realm_type: String,
    pub name: String,
    pub order: i64,
    pub line: usize,
}

impl EsYml {
    /// Read `text` as the content of `path` (the path is used in messages only).
    pub fn parse(path: &Path, text: &str) -> Result<EsYml, EsConfigError> {
        let scan = scan(text).map_err(|failure| EsConfigError::Unparseable {
            path: path.to_owned(),
            line: failure.line,
            reason: failure.reason,
        })?;
        Ok(EsYml {
            path: path.to_owned(),
            text: text.to_owned(),
            scan,
            env: Environment::Process,
        })
    }

    /// Resolve `${NAME}` placeholders against `env` instead of this process's environment.
    pub fn with_env(mut self, env: Environment) -> EsYml {
        self.env = env;
        self
    }

    /// Read `config_dir/elasticsearch.yml`; a missing file is an empty document (with that path,
    /// so a later write creates it). A FIFO, device or directory in its place is refused
    /// without blocking, and so is a file over [`MAX_YML_LEN`] (see
    /// [`crate::fsutil::read_regular_file`]).
    pub fn load(config_dir: &Path) -> Result<EsYml, EsConfigError> {
        let path = config_dir.join(ES_YML);
        let bytes = match crate::fsutil::read_regular_file(&path, MAX_YML_LEN) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => Vec::new(),
            Err(source) => return Err(EsConfigError::Read { path, source }),
        };
        match String::from_utf8(bytes) {
            Ok(text) => EsYml::parse(&path, &text),
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
                Err(EsConfigError::Unparseable {
                    path,
                    line,
                    reason: "the file is not UTF-8 text".to_owned(),
                })
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current text, including any edits made.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The value of a flattened setting key as written, found in flat, nested or mixed form;
    /// quotes removed, `${…}` placeholders left as they are (see [`EsYml::get_resolved`]).
    /// `None` when absent, null (`~`, `null`, nothing) or not a single value (a list, a mapping).
    pub fn get(&self, key: &str) -> Option<String> {
        written_value(&self.scan, key)
    }

    /// The value Elasticsearch would read for `key`: [`EsYml::get`] with `${…}` placeholders
    /// resolved as Elasticsearch does (see `placeholder.rs`). A placeholder that resolves to
    /// nothing, or differently depending on the Elasticsearch version, is an error naming it;
    /// one that resolves to "" removes the setting (`None`), as in Elasticsearch.
    pub fn get_resolved(&self, key: &str) -> Result<Option<String>, EsConfigError> {
        let since_8_2 = self.since_8_2()?;
        self.resolve_key(key, since_8_2.as_ref())
    }

    /// The file as Elasticsearch 8.2+ parses it, after its text pass substitutes environment
    /// variables; `None` when that pass changes nothing (no `${` at all, the common case).
    pub(super) fn since_8_2(&self) -> Result<Option<Scan>, EsConfigError> {
        if !self.text.contains("${") {
            return Ok(None);
        }
        let text = placeholder::substitute_text(&self.text, &self.env);
        if text == self.text {
            return Ok(None);
        }
        scan(&text).map(Some).map_err(|f| EsConfigError::Unparseable {
            path: self.path.clone(),
            line: f.line,
            reason: format!(
                "once the environment variables are substituted into the text, as Elasticsearch 8.2 and later do before parsing: {}",
                f.reason
            ),
        })
    }

    /// `key`'s value under both of Elasticsearch's substitution schemes (before 8.2: settings
    /// pass with the environment; since 8.2: text pass, then settings pass without it). The
    /// value when they agree, else an error.
    pub(super) fn resolve_key(
        &self,
        key: &str,
        since_8_2: Option<&Scan>,
    ) -> Result<Option<String>, EsConfigError> {
        let before = written_value(&self.scan, key);
        let before = before
            .map(|raw| {
                resolve_value(&raw, &|name| {
                    self.env
                        .var(name)
                        .or_else(|| written_value(&self.scan, name))
                })
            })
            .transpose()
            .map(Option::flatten);
        if !self.text.contains("${") {
            return before.map_err(|e| self.placeholder_error(key, e));
        }
        let scan_since = since_8_2.unwrap_or(&self.scan);
        let since = written_value(scan_since, key)
            .map(|raw| resolve_value(&raw, &|name| written_value(scan_since, name)))
            .transpose()
            .map(Option::flatten);
        match (before, since) {
            (Ok(a), Ok(b)) if a == b => Ok(a),
            (Err(e), Err(_)) => Err(self.placeholder_error(key, e)),
            (before, since) => {
                let reason = match (before, since) {
                    (Ok(_), Err(e)) => format!("since 8.2 {}", describe(&e)),
                    (Err(e), Ok(_)) => format!("before 8.2 {}", describe(&e)),
                    _ => "before 8.2 any ${…} may use an environment variable, defaults and nested names included; since 8.2 only a plain ${NAME} does, substituted into the text before the YAML is parsed".to_owned(),
                };
                Err(EsConfigError::PlaceholderVersionDependent {
                    path: self.path.clone(),
                    key: key.to_owned(),
                    line: self.line_of(key, scan_since),
                    reason,
                })
            }
        }
    }

    fn line_of(&self, key: &str, other: &Scan) -> usize {
        self.scan
            .find(key)
            .map(|i| self.scan.entries[i].line)
            .or_else(|| other.find(key).map(|i| other.entries[i].line))
            .unwrap_or(0)
    }

    fn placeholder_error(&self, key: &str, e: PlaceholderError) -> EsConfigError {
        let path = self.path.clone();
        let key_owned = key.to_owned();
        let line = self.line_of(key, &self.scan);
        match e {
            PlaceholderError::Unresolved(name) => EsConfigError::UnresolvedPlaceholder {
                path,
                key: key_owned,
                line,
                name,
            },
            other => EsConfigError::BadPlaceholder {
                path,
                key: key_owned,
                line,
                reason: describe(&other),
            },
        }
    }

    /// Refuse a YAML anchor, alias or merge key inside the realm's settings or on the way to
    /// them (an ancestor mapping, or a merge key that could bring keys into one): through
    /// them, an edit could change a value other than the one it writes, or not the effective
    /// one, and readers disagree on merge keys.
    pub(super) fn check_references(&self, realm: &str) -> Result<(), EsConfigError> {
        let prefix = realm_prefix(realm);
        let inside = |key: &str| {
            key.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        };
        let above = |key: &str| {
            key.is_empty()
                || prefix
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with('.'))
        };
        for entry in &self.scan.entries {
            let parent = self.scan.mappings[entry.parent].path.as_str();
            let what = if entry.name == "<<" && (inside(parent) || above(parent)) {
                Some("merge key (<<)")
            } else if inside(&entry.key) || above(&entry.key) {
                match entry.value {
                    Value::Alias => Some("alias (*name)"),
                    _ if entry.anchored => Some("anchor (&name)"),
                    _ => None,
                }
            } else {
                None
            };
            if let Some(what) = what {
                return Err(EsConfigError::YamlReference {
                    path: self.path.clone(),
                    realm: realm.to_owned(),
                    key: entry.key.clone(),
                    line: entry.line,
                    what,
                });
            }
        }
        Ok(())
    }

    /// Every `xpack.security.authc.realms.<type>.<name>.order` that holds an integer, as
    /// `(type, name, order)` in file order.
    pub fn realm_orders(&self) -> Vec<(String, String, i64)> {
        self.realm_order_entries()
            .into_iter()
            .map(|o| (o.realm_type, o.name, o.order))
            .collect()
    }

    /// One past the highest realm order configured, or 0 when no realm has one.
    pub fn next_realm_order(&self) -> i64 {
        self.realm_order_entries()
            .iter()
            .map(|o| o.order.saturating_add(1))
            .max()
            .unwrap_or(0)
    }

    pub(super) fn realm_order_entries(&self) -> Vec<RealmOrder> {
        self.scan
            .entries
            .iter()
            .filter_map(|entry| {
                let (realm_type, name, setting) = split_realm_key(&entry.key)?;
                if setting != "order" {
                    return None;
                }
                let Value::Scalar { text, .. } = &entry.value else {
                    return None;
                };
                // Another realm's `${…}` order counts when it resolves; one that does not is
                // that realm's problem (Elasticsearch would not start either).
                let order = if has_placeholder(text) {
                    resolve_value(text, &|name| {
                        self.env
                            .var(name)
                            .or_else(|| written_value(&self.scan, name))
                    })
                    .ok()??
                } else {
                    text.clone()
                };
                Some(RealmOrder {
                    realm_type: realm_type.to_owned(),
                    name: name.to_owned(),
                    order: order.trim().parse().ok()?,
                    line: entry.line,
                })
            })
            .collect()
    }

    /// The `microsoft_graph` realm `realm`'s non-secure settings as Elasticsearch reads them,
    /// `${…}` placeholders resolved ([`EsYml::get_resolved`]). Refuses a placeholder that does
    /// not resolve, and YAML anchors, aliases or merge keys in or around the realm's settings.
    pub fn realm(&self, realm: &str) -> Result<RealmYml, EsConfigError> {
        self.check_references(realm)?;
        let since_8_2 = self.since_8_2()?;
        let get = |setting: &str| {
            self.resolve_key(&realm_setting_key(realm, setting), since_8_2.as_ref())
        };
        Ok(RealmYml {
            client_id: get("client_id")?,
            tenant_id: get("tenant_id")?,
            order: get("order")?.and_then(|o| o.trim().parse().ok()),
            access_token_host: get("access_token_host")?,
            graph_host: get("graph_host")?,
            http_request_timeout: get("http_request_timeout")?,
            execution_timeout: get("execution_timeout")?,
        })
    }

    /// Every setting defined more than once (in any spelling), with its lines.
    pub fn duplicate_keys(&self) -> Vec<(String, Vec<usize>)> {
        self.scan.duplicates()
    }

    /// Refuse what would stop Elasticsearch from starting or make an edit ambiguous: an invalid
    /// realm name, any setting defined twice (Elasticsearch refuses the whole file, so the
    /// realm could never load), or a `microsoft_graph` realm's secure setting in the yml
    /// (`realm`'s own is reported first).
    pub fn check_realm(&self, realm: &str) -> Result<(), EsConfigError> {
        validate_realm_name(realm)?;
        if let Some((key, lines)) = self.scan.duplicates().into_iter().next() {
            return Err(EsConfigError::DuplicateKey {
                path: self.path.clone(),
                key,
                lines,
            });
        }
        let secrets: Vec<_> = self
            .scan
            .entries
            .iter()
            .filter(|entry| {
                split_realm_key(&entry.key).is_some_and(|(realm_type, _, setting)| {
                    realm_type == REALM_TYPE && SECURE_REALM_SETTINGS.contains(&setting)
                })
            })
            .collect();
        let own = secrets
            .iter()
            .find(|entry| split_realm_key(&entry.key).is_some_and(|(_, name, _)| name == realm));
        if let Some(entry) = own.or(secrets.first()) {
            return Err(EsConfigError::SecretInYml {
                path: self.path.clone(),
                key: entry.key.clone(),
                line: entry.line,
            });
        }
        Ok(())
    }
}

/// A scalar's text as written (quotes removed), `None` when absent, null or not a scalar.
fn written_value(scan: &Scan, key: &str) -> Option<String> {
    let entry = &scan.entries[scan.find(key)?];
    match &entry.value {
        Value::Scalar { text, style, .. } => {
            let null = *style == Style::Plain
                && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL");
            (!null).then(|| text.clone())
        }
        _ => None,
    }
}

/// `raw` with its placeholders resolved through `lookup`; `None` when it resolves to "",
/// which makes Elasticsearch drop the setting.
fn resolve_value(
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, PlaceholderError> {
    if !has_placeholder(raw) {
        return Ok(Some(raw.to_owned()));
    }
    let value = placeholder::resolve(raw, lookup)?;
    Ok((!value.is_empty()).then_some(value))
}

fn describe(e: &PlaceholderError) -> String {
    match e {
        PlaceholderError::Unresolved(name) => {
            format!("${{{name}}} is neither a set environment variable nor a setting")
        }
        PlaceholderError::Circular(name) => {
            format!("the placeholder ${{{name}}} refers to itself (Elasticsearch: circular placeholder reference)")
        }
        PlaceholderError::TooComplex => {
            "its placeholders nest or expand too far to resolve".to_owned()
        }
    }
}

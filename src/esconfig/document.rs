//! One `elasticsearch.yml`: its text, where each setting sits, and read-only questions about
//! realms. Editing lives in `edit.rs`.

use std::path::{Path, PathBuf};

use super::scan::{scan, Scan, Value};
use super::{
    realm_setting_key, split_realm_key, validate_realm_name, EsConfigError, ES_YML, REALM_TYPE,
    SECURE_REALM_SETTINGS,
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
        })
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

    /// The value of a flattened setting key, found in flat, nested or mixed form; quotes removed.
    /// `None` when absent, null (`~`, `null`, nothing) or not a single value (a list, a mapping).
    pub fn get(&self, key: &str) -> Option<String> {
        let entry = &self.scan.entries[self.scan.find(key)?];
        match &entry.value {
            Value::Scalar { text, style, .. } => {
                let null = *style == super::scan::Style::Plain
                    && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL");
                (!null).then(|| text.clone())
            }
            _ => None,
        }
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
                Some(RealmOrder {
                    realm_type: realm_type.to_owned(),
                    name: name.to_owned(),
                    order: text.trim().parse().ok()?,
                    line: entry.line,
                })
            })
            .collect()
    }

    /// The `microsoft_graph` realm `realm`'s non-secure settings.
    pub fn realm(&self, realm: &str) -> RealmYml {
        let get = |setting: &str| self.get(&realm_setting_key(realm, setting));
        RealmYml {
            client_id: get("client_id"),
            tenant_id: get("tenant_id"),
            order: get("order").and_then(|o| o.trim().parse().ok()),
            access_token_host: get("access_token_host"),
            graph_host: get("graph_host"),
            http_request_timeout: get("http_request_timeout"),
            execution_timeout: get("execution_timeout"),
        }
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

//! What can go wrong reading or editing `elasticsearch.yml`, one variant per thing a user can
//! fix differently. Messages name the file and the line; they never quote a secret value (the
//! only secret the yml could hold, a `client_secret`, is reported by key and line alone).

use std::path::PathBuf;

use crate::exit::{ExitCode, UserFacing};

#[derive(Debug, thiserror::Error)]
pub enum EsConfigError {
    /// The file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Not YAML, or YAML that is not one mapping of settings.
    #[error("{} is not a valid settings file (line {line}): {reason}; fix it and run again", path.display())]
    Unparseable {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// The same setting appears more than once, in any spelling (Elasticsearch refuses to start).
    #[error(
        "{}: setting [{key}] is defined more than once (lines {}); Elasticsearch refuses duplicate settings, keep only one",
        path.display(),
        join_lines(lines)
    )]
    DuplicateKey {
        path: PathBuf,
        key: String,
        lines: Vec<usize>,
    },

    /// A secure setting sits in the yml (Elasticsearch refuses to start).
    #[error(
        "{}: [{key}] is a secure setting and must be stored in the Elasticsearch keystore, not in elasticsearch.yml; remove line {line}",
        path.display()
    )]
    SecretInYml {
        path: PathBuf,
        key: String,
        line: usize,
    },

    /// Another realm already uses the order asked for (Elasticsearch requires unique orders).
    #[error(
        "{}: order {order} is already used by realm [{other}] (line {line}); choose another --order",
        path.display()
    )]
    OrderInUse {
        path: PathBuf,
        order: i64,
        other: String,
        line: usize,
    },

    /// The setting exists in a form this tool does not rewrite (multi-line, a list, a mapping…).
    #[error("{}: cannot update [{key}] in place (line {line}): {reason}; edit that line by hand and run again", path.display())]
    NotEditable {
        path: PathBuf,
        key: String,
        line: usize,
        reason: String,
    },

    /// A `# BEGIN msgraph-keystore` marker without its `# END msgraph-keystore` line.
    #[error(
        "{}: line {line} opens a msgraph-keystore block but no \"# END msgraph-keystore\" line follows; restore the END line or delete the BEGIN line",
        path.display()
    )]
    UnclosedManagedBlock { path: PathBuf, line: usize },

    /// The edited text did not read back as intended, so nothing is written.
    #[error("{}: the edit could not be applied safely ({reason}); set the realm's settings by hand", path.display())]
    EditNotVerified { path: PathBuf, reason: String },

    /// A realm name Elasticsearch would never match.
    #[error(
        "invalid realm name [{realm}]: use only letters, digits, '_' and '-' (Elasticsearch realm names cannot contain '.')"
    )]
    InvalidRealmName { realm: String },

    /// A value that cannot be written as one YAML line, or an order that is not an integer.
    #[error("invalid value for realm setting [{setting}]: {reason}")]
    InvalidValue { setting: String, reason: String },

    /// A `${NAME}` in a setting the tool needs, with no environment variable or setting NAME
    /// and no default (Elasticsearch refuses to start: "Could not resolve placeholder").
    #[error(
        "{}: [{key}] (line {line}) refers to ${{{name}}}, which is neither a set environment variable nor a setting of the file; set {name} in this command's environment to the value Elasticsearch gets, or write the value itself",
        path.display()
    )]
    UnresolvedPlaceholder {
        path: PathBuf,
        key: String,
        line: usize,
        name: String,
    },

    /// A placeholder Elasticsearch itself cannot resolve: circular, or nested or expanded
    /// beyond reason.
    #[error("{}: [{key}] (line {line}): {reason}; write the value itself", path.display())]
    BadPlaceholder {
        path: PathBuf,
        key: String,
        line: usize,
        reason: String,
    },

    /// A setting whose value depends on the Elasticsearch version reading it (8.2 moved the
    /// environment variables to a text pass before parsing).
    #[error(
        "{}: [{key}] (line {line}) reads differently in Elasticsearch before 8.2 and since 8.2 ({reason}); write it as a plain ${{NAME}} of a set variable, or as the value itself",
        path.display()
    )]
    PlaceholderVersionDependent {
        path: PathBuf,
        key: String,
        line: usize,
        reason: String,
    },

    /// This run needs a value other than the one a `${…}` placeholder gives, and a placeholder
    /// is never replaced by a literal.
    #[error(
        "{}: [{key}] (line {line}) is written as {found}, but this run needs a different value; set {names} to the new value (for Elasticsearch and for this command), or replace the placeholder by hand",
        path.display()
    )]
    PlaceholderWouldChange {
        path: PathBuf,
        key: String,
        line: usize,
        /// The value as written and what it gives today, e.g. `${GRAPH_CLIENT_ID}, which
        /// gives "0f6d…"`.
        found: String,
        /// The variables it names, e.g. "GRAPH_CLIENT_ID" or "A or B".
        names: String,
    },

    /// A YAML anchor, alias or merge key in or around the realm's settings.
    #[error(
        "{}: line {line} uses a YAML {what} at [{key}], in or around the settings of realm [{realm}]; msgraph-keystore does not read or edit settings through anchors, aliases or merge keys (Elasticsearch's YAML reader does not expand merge keys), so write the realm's settings out in full and run again",
        path.display()
    )]
    YamlReference {
        path: PathBuf,
        realm: String,
        key: String,
        line: usize,
        what: &'static str,
    },

    /// A setting that is not one of the realm's non-secure settings (a caller bug).
    #[error("[{setting}] is not a non-secure microsoft_graph realm setting; it cannot be written to elasticsearch.yml")]
    UnknownSetting { setting: String },
}

impl UserFacing for EsConfigError {
    fn exit_code(&self) -> ExitCode {
        match self {
            EsConfigError::Read { .. } => ExitCode::IoError,
            EsConfigError::Unparseable { .. }
            | EsConfigError::InvalidRealmName { .. }
            | EsConfigError::InvalidValue { .. } => ExitCode::DataError,
            EsConfigError::DuplicateKey { .. }
            | EsConfigError::SecretInYml { .. }
            | EsConfigError::OrderInUse { .. }
            | EsConfigError::NotEditable { .. }
            | EsConfigError::UnclosedManagedBlock { .. }
            | EsConfigError::EditNotVerified { .. }
            | EsConfigError::UnresolvedPlaceholder { .. }
            | EsConfigError::BadPlaceholder { .. }
            | EsConfigError::PlaceholderVersionDependent { .. }
            | EsConfigError::PlaceholderWouldChange { .. }
            | EsConfigError::YamlReference { .. } => ExitCode::Config,
            EsConfigError::UnknownSetting { .. } => ExitCode::Software,
        }
    }
}

/// "3", "3 and 12", "3, 7 and 12".
fn join_lines(lines: &[usize]) -> String {
    match lines {
        [] => String::new(),
        [only] => only.to_string(),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(usize::to_string).collect();
            format!("{} and {last}", init.join(", "))
        }
    }
}

/// "A", "A or B", "A, B or C".
pub(super) fn join_names(names: &[String]) -> String {
    match names {
        [] => "the variable".to_owned(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_lists_read_naturally() {
        assert_eq!(join_lines(&[3]), "3");
        assert_eq!(join_lines(&[3, 12]), "3 and 12");
        assert_eq!(join_lines(&[3, 7, 12]), "3, 7 and 12");
    }

    #[test]
    fn duplicate_message_names_file_key_and_lines() {
        let e = EsConfigError::DuplicateKey {
            path: PathBuf::from("/etc/es/elasticsearch.yml"),
            key: "a.b".into(),
            lines: vec![2, 9],
        };
        let msg = e.to_string();
        assert!(msg.contains("/etc/es/elasticsearch.yml"), "{msg}");
        assert!(
            msg.contains("[a.b]") && msg.contains("lines 2 and 9"),
            "{msg}"
        );
        assert_eq!(e.exit_code(), ExitCode::Config);
    }
}

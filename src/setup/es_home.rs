//! What an Elasticsearch installation (`--es-home`, the directory holding `bin/` and `lib/`)
//! tells `setup`: the version installed, which decides the keystore format a new keystore
//! gets, and whether the realm's plugin is there.

use std::path::Path;

use crate::keystore::{FormatVersion, KeystoreError};

/// The plugin that provides the `microsoft_graph` realm (ES 8.19/9.1+).
pub const REALM_PLUGIN: &str = "microsoft-graph-authz";

/// The Elasticsearch version installed at `home`, from `lib/elasticsearch-X.Y.Z.jar`.
pub fn detect_es_version(home: &Path) -> Option<String> {
    let entries = std::fs::read_dir(home.join("lib")).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .find_map(|name| {
            let version = name.strip_prefix("elasticsearch-")?.strip_suffix(".jar")?;
            version
                .chars()
                .next()
                .filter(char::is_ascii_digit)
                .map(|_| version.to_string())
        })
}

/// The format of a keystore `setup` creates when `--format-version` is not given: the one
/// for `--target-es-version` (refused when it is not a version this tool writes for), else
/// the one for the version installed under `--es-home` (ignored when it cannot be told or
/// is not supported), else the current one.
pub fn new_keystore_format(
    target_es_version: Option<&str>,
    es_home: Option<&Path>,
) -> Result<FormatVersion, KeystoreError> {
    if let Some(es) = target_es_version {
        return FormatVersion::for_es_version(es);
    }
    let detected = es_home
        .and_then(detect_es_version)
        .and_then(|version| FormatVersion::for_es_version(&version).ok());
    Ok(detected.unwrap_or(FormatVersion::LATEST))
}

/// Whether the realm's plugin is installed under `home/plugins`.
pub fn realm_plugin_installed(home: &Path) -> bool {
    home.join("plugins").join(REALM_PLUGIN).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_plugin_are_read_from_the_layout_of_an_installation() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(detect_es_version(home.path()), None);
        assert!(!realm_plugin_installed(home.path()));
        std::fs::create_dir_all(home.path().join("lib")).unwrap();
        for name in [
            "elasticsearch-cli-9.1.0.jar",
            "elasticsearch-x-content-9.1.0.jar",
        ] {
            std::fs::write(home.path().join("lib").join(name), b"").unwrap();
        }
        // Only the server jar names a version; `-cli-`/`-x-content-` start with a letter.
        assert_eq!(detect_es_version(home.path()), None);
        std::fs::write(home.path().join("lib/elasticsearch-9.1.0.jar"), b"").unwrap();
        assert_eq!(detect_es_version(home.path()).as_deref(), Some("9.1.0"));
        std::fs::create_dir_all(home.path().join("plugins").join(REALM_PLUGIN)).unwrap();
        assert!(realm_plugin_installed(home.path()));
    }

    #[test]
    fn a_new_keystore_takes_the_target_version_else_the_installed_one_else_the_latest() {
        let home = tempfile::tempdir().unwrap();
        let home = home.path();
        assert_eq!(
            new_keystore_format(None, None).unwrap(),
            FormatVersion::LATEST
        );
        // Nothing installed to read: the latest.
        assert_eq!(
            new_keystore_format(None, Some(home)).unwrap(),
            FormatVersion::LATEST
        );
        std::fs::create_dir_all(home.join("lib")).unwrap();
        std::fs::write(home.join("lib/elasticsearch-7.17.3.jar"), b"").unwrap();
        assert_eq!(
            new_keystore_format(None, Some(home)).unwrap(),
            FormatVersion::V4
        );
        // The explicit target wins over what is installed.
        assert_eq!(
            new_keystore_format(Some("8.12"), Some(home)).unwrap(),
            FormatVersion::V5
        );
        // A target this tool cannot write for is an error; an installed one is ignored.
        assert!(new_keystore_format(Some("5.6"), None).is_err());
        std::fs::remove_file(home.join("lib/elasticsearch-7.17.3.jar")).unwrap();
        std::fs::write(home.join("lib/elasticsearch-5.6.0.jar"), b"").unwrap();
        assert_eq!(
            new_keystore_format(None, Some(home)).unwrap(),
            FormatVersion::LATEST
        );
    }
}

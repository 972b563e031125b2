//! Reading and editing `elasticsearch.yml` for one `microsoft_graph` realm.
//!
//! Elasticsearch flattens its YAML settings file: `a.b.c: v`, `a: {b: {c: v}}` and any mix of
//! the two name the same setting `a.b.c`. This module finds settings in every spelling, refuses
//! what Elasticsearch itself would refuse at start-up (a setting defined twice, the realm's
//! secure `client_secret` in the yml), and edits the realm's non-secure settings without
//! touching any other byte of the file: values are replaced in place, missing keys go into the
//! realm's own nested mapping when there is one, else into one marked block at the end.
//! Values are read with Elasticsearch's `${NAME}` substitution (`placeholder.rs`), and a
//! placeholder is never overwritten by a literal. `docs/esconfig.md` describes the rules for
//! operators.
//!
//! It knows nothing about Azure or the keystore; the `setup`, `verify` and `status` commands
//! join it with the rest.

mod diff;
mod document;
mod edit;
mod error;
mod placeholder;
mod scalar;
mod scan;
mod verify;

pub use diff::unified_diff;
pub use document::{EsYml, RealmYml};
pub use error::EsConfigError;
pub use placeholder::Environment;

/// The settings file Elasticsearch reads from its config directory.
pub const ES_YML: &str = "elasticsearch.yml";

/// The realm type this tool provisions.
pub const REALM_TYPE: &str = "microsoft_graph";

/// Every setting prefix of a realm of any type: `xpack.security.authc.realms.<type>.<name>.`.
pub const REALMS_PREFIX: &str = "xpack.security.authc.realms.";

/// The realm's settings that belong in `elasticsearch.yml` (Elasticsearch refuses them in the
/// keystore).
pub const NON_SECURE_REALM_SETTINGS: &[&str] = &[
    "client_id",
    "tenant_id",
    "order",
    "access_token_host",
    "graph_host",
    "http_request_timeout",
    "execution_timeout",
];

/// The realm's settings that belong in the keystore (Elasticsearch refuses them in the yml).
pub const SECURE_REALM_SETTINGS: &[&str] = &["client_secret"];

/// The full setting name of `setting` for the `microsoft_graph` realm `realm`:
/// `xpack.security.authc.realms.microsoft_graph.{realm}.{setting}`.
pub fn realm_setting_key(realm: &str, setting: &str) -> String {
    format!("{}.{setting}", realm_prefix(realm))
}

/// The flattened path of the realm's settings mapping, without a trailing dot.
pub fn realm_prefix(realm: &str) -> String {
    format!("{REALMS_PREFIX}{REALM_TYPE}.{realm}")
}

/// `value` of the realm setting `setting` written as a YAML scalar the way this tool writes new
/// keys: an integer `order` plain, anything else double-quoted (control characters escaped).
pub fn yaml_value(setting: &str, value: &str) -> String {
    scalar::render(value, scalar::preferred_style(setting, value, None))
}

/// Check a realm name.
///
/// Elasticsearch matches realm settings with the affix pattern
/// `xpack.security.authc.realms.<type>.([-\w]+).<setting>`, so a realm name is ASCII letters,
/// digits, `_` and `-`. That is the keystore's setting-name rule `[A-Za-z0-9_\-.]+` without
/// the dot: a dot would make the name two path segments and the realm would never match.
pub fn validate_realm_name(realm: &str) -> Result<(), EsConfigError> {
    let valid = !realm.is_empty()
        && realm
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(EsConfigError::InvalidRealmName {
            realm: realm.to_owned(),
        })
    }
}

/// Split a full setting name into `(type, name, setting)` when it is a realm setting
/// `xpack.security.authc.realms.<type>.<name>.<setting>` (the setting itself may contain dots).
pub fn split_realm_key(key: &str) -> Option<(&str, &str, &str)> {
    let rest = key.strip_prefix(REALMS_PREFIX)?;
    let (realm_type, rest) = rest.split_once('.')?;
    let (name, setting) = rest.split_once('.')?;
    if realm_type.is_empty() || name.is_empty() || setting.is_empty() {
        return None;
    }
    Some((realm_type, name, setting))
}

/// From a keystore listing, the `microsoft_graph` realm settings that Elasticsearch refuses to
/// read from the keystore (they must be in `elasticsearch.yml`), for `realm` or, with `None`,
/// for every `microsoft_graph` realm. Names keep the listing's order.
pub fn non_secure_keys_in(names: &[&str], realm: Option<&str>) -> Vec<String> {
    names
        .iter()
        .filter(|name| match split_realm_key(name) {
            Some((realm_type, name, setting)) => {
                realm_type == REALM_TYPE
                    && realm.is_none_or(|wanted| wanted == name)
                    && NON_SECURE_REALM_SETTINGS.contains(&setting)
            }
            None => false,
        })
        .map(|name| (*name).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_key_is_the_documented_full_name() {
        assert_eq!(
            realm_setting_key("microsoft_graph1", "client_secret"),
            "xpack.security.authc.realms.microsoft_graph.microsoft_graph1.client_secret"
        );
    }

    #[test]
    fn realm_names_follow_the_affix_pattern() {
        for good in ["microsoft_graph1", "graph-Realm_2", "x"] {
            assert!(validate_realm_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a.b", "a b", "réalm", "a/b", "a:b"] {
            assert!(validate_realm_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn picks_non_secure_realm_settings_from_a_keystore_listing() {
        let listing = [
            "keystore.seed",
            "xpack.security.authc.realms.microsoft_graph.g1.client_secret",
            "xpack.security.authc.realms.microsoft_graph.g1.client_id",
            "xpack.security.authc.realms.microsoft_graph.g2.order",
            "xpack.security.authc.realms.saml.s1.order",
            "xpack.security.authc.realms.microsoft_graph.g1.unknown",
        ];
        assert_eq!(
            non_secure_keys_in(&listing, None),
            vec![
                "xpack.security.authc.realms.microsoft_graph.g1.client_id",
                "xpack.security.authc.realms.microsoft_graph.g2.order",
            ]
        );
        assert_eq!(
            non_secure_keys_in(&listing, Some("g2")),
            vec!["xpack.security.authc.realms.microsoft_graph.g2.order"]
        );
    }
}

//! Secret-holding types used across the crate.
//!
//! Every secret (client secret, keystore password, access token, setting value) lives in one
//! of these: the memory is zeroized on drop and `Debug` prints a redaction instead of the
//! value, so a stray `{:?}` or a panic message cannot leak it. Reading the value is an
//! explicit `expose_secret()` call, which makes every use easy to audit with grep.

pub use secrecy::{ExposeSecret, SecretBox, SecretSlice, SecretString};
pub use zeroize::{Zeroize, Zeroizing};

/// Build a [`SecretString`] from a string slice (copies it; the caller zeroizes its own copy).
pub fn secret_string(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Build a [`SecretString`] taking ownership of `s` without an extra copy.
pub fn secret_from_string(s: String) -> SecretString {
    SecretString::from(s)
}

/// Deserialize a JSON string straight into a [`SecretString`] (`#[serde(deserialize_with)]`).
///
/// A borrowed string is copied once, into the secret's own exactly-sized allocation; an owned
/// one (a deserializer that had to build it) is copied the same way and then wiped. Going
/// through `String` and `SecretString::from` (as secrecy's `serde` feature does) would
/// reallocate whenever the `String` has spare capacity, leaving an unwiped copy.
///
/// What stays beyond reach: a string with JSON escapes (`\"`, `\u…`) is unescaped by
/// serde_json into its scratch buffer, which is not wiped. Access tokens (JWTs) and Graph
/// client secrets contain no characters that need escaping.
pub fn deserialize_secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<SecretString, D::Error> {
    d.deserialize_str(SecretVisitor)
}

/// [`deserialize_secret`] for an optional field: `null` (or, with `#[serde(default)]`, a
/// missing field) is `None`.
pub fn deserialize_optional_secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SecretString>, D::Error> {
    d.deserialize_option(OptionalSecretVisitor)
}

struct SecretVisitor;

impl serde::de::Visitor<'_> for SecretVisitor {
    type Value = SecretString;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecretString, E> {
        Ok(SecretString::from(Box::<str>::from(v)))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<SecretString, E> {
        let v = Zeroizing::new(v);
        self.visit_str(&v)
    }
}

struct OptionalSecretVisitor;

impl<'de> serde::de::Visitor<'de> for OptionalSecretVisitor {
    type Value = Option<SecretString>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        deserialize_secret(d).map(Some)
    }
}

/// Build secret bytes from a slice.
pub fn secret_bytes(b: &[u8]) -> SecretSlice<u8> {
    SecretSlice::from(b.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_print_the_value() {
        let s = secret_string("hunter2-very-secret");
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(s.expose_secret(), "hunter2-very-secret");
        let b = secret_bytes(b"binary-secret");
        assert!(!format!("{b:?}").contains("binary-secret"));
    }

    #[derive(serde::Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "deserialize_secret")]
        secret: SecretString,
        #[serde(default, deserialize_with = "deserialize_optional_secret")]
        maybe: Option<SecretString>,
    }

    #[test]
    fn json_strings_deserialize_straight_into_secrets() {
        let h: Holder = serde_json::from_str(r#"{"secret":"s3cr3t","maybe":"m4ybe"}"#).unwrap();
        assert_eq!(h.secret.expose_secret(), "s3cr3t");
        assert_eq!(h.maybe.as_ref().map(|m| m.expose_secret()), Some("m4ybe"));
        // Escapes are unescaped (through serde_json's scratch buffer, see the doc comment).
        let h: Holder = serde_json::from_str(r#"{"secret":"a\"b\u0041","maybe":null}"#).unwrap();
        assert_eq!(h.secret.expose_secret(), "a\"bA");
        assert!(h.maybe.is_none());
        let h: Holder = serde_json::from_str(r#"{"secret":""}"#).unwrap();
        assert!(h.maybe.is_none() && h.secret.expose_secret().is_empty());
        // An owned string (serde_json::Value hands over `String`s) takes the other path.
        let v = serde_json::json!({"secret": "from-value", "maybe": "too"});
        let h: Holder = serde_json::from_value(v).unwrap();
        assert_eq!(h.secret.expose_secret(), "from-value");
        assert!(serde_json::from_str::<Holder>(r#"{"secret":5}"#).is_err());
        assert!(serde_json::from_str::<Holder>(r#"{"secret":"x","maybe":[1]}"#).is_err());
    }
}

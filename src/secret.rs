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
}

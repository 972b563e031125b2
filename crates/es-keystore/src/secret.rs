//! The secret type the keystore hands out and takes in.
//!
//! A [`SecretString`] zeroizes its memory on drop and its `Debug` prints a redaction, so a
//! stray `{:?}` or a panic message cannot leak a password or a setting value. Reading the
//! value is an explicit `expose_secret()` call.

pub use secrecy::{ExposeSecret, SecretString};

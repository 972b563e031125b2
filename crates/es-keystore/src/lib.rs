//! `elasticsearch.keystore`: read formats 3–6 and write 4–6 exactly as Elasticsearch's
//! `KeyStoreWrapper` does, without Java.
//!
//! - [`format`]: bytes ↔ structs, no I/O, no crypto;
//! - [`crypto`]: PBKDF2 + AES-GCM, and the parallel key derivation for saves;
//! - [`file`]: a config directory's keystore file: atomic save, owner check, lock;
//! - this module: the [`Keystore`] the rest of the program edits.
//!
//! The keystore knows nothing about Azure or the realm; callers decide what goes in it.
//! [`fsutil`] is the crash-safe, foreign-writer-aware file replacement the saves use.

// Every unsafe operation sits in an `unsafe {}` block with its own SAFETY note, also inside
// `unsafe fn` (the SIMD PBKDF2 kernels).
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::secret::SecretString;

pub mod crypto;
mod error;
pub mod file;
pub mod format;
pub mod fsutil;
pub mod kdf;
pub mod secret;
mod version;

pub use error::{KeystoreError, Origin};
pub use file::{
    commit_save, keystore_path, load, load_read_only, lock, lock_with_timeout, prepare_save,
    read_header, save, KeystoreLock,
};
pub use format::{FormatVersion, Header};

/// The README's example, compiled and run as a doctest so it cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;

/// The random per-keystore value Elasticsearch requires (it rewrites a keystore without it).
pub const SEED_SETTING: &str = "keystore.seed";
/// The file name inside the config directory.
pub const KEYSTORE_FILENAME: &str = "elasticsearch.keystore";
/// Characters Elasticsearch draws `keystore.seed` from (`KeyStoreWrapper.SEED_CHARS`).
pub const SEED_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~!@#$%^&*-_=+?";
/// Length of a generated `keystore.seed`.
pub const SEED_LEN: usize = 20;

/// Check a setting name against Elasticsearch's `[A-Za-z0-9_\-.]+`.
pub fn validate_setting_name(name: &str) -> Result<(), KeystoreError> {
    let valid_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    // The format stores a name's length in 16 bits.
    if name.is_empty() || name.len() > usize::from(u16::MAX) || !name.bytes().all(valid_char) {
        return Err(KeystoreError::InvalidSettingName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// A fresh `keystore.seed` value: 20 characters of [`SEED_CHARS`] from the OS CSPRNG.
pub fn generate_seed() -> Result<Zeroizing<String>, KeystoreError> {
    // Rejection sampling keeps every character equally likely: only bytes below the largest
    // multiple of the alphabet size are used.
    let limit = (256 / SEED_CHARS.len() * SEED_CHARS.len()) as u8;
    let mut seed = Zeroizing::new(String::with_capacity(SEED_LEN));
    let mut pool = Zeroizing::new([0u8; 64]);
    while seed.len() < SEED_LEN {
        crypto::random_bytes(pool.as_mut())?;
        for &b in pool
            .iter()
            .filter(|&&b| b < limit)
            .take(SEED_LEN - seed.len())
        {
            seed.push(char::from(SEED_CHARS[usize::from(b) % SEED_CHARS.len()]));
        }
    }
    Ok(seed)
}

/// One change made to a keystore since it was read, kept so the change can be made again on
/// top of a file another program replaced meanwhile (see [`Keystore::reapply_onto`]).
#[derive(Clone)]
enum Edit {
    Set(String, Zeroizing<Vec<u8>>),
    Remove(String),
    Password(SecretString),
    Version(FormatVersion),
    /// A `keystore.seed` added because it was missing: added again only if still missing.
    Seed,
    /// Saves leave a missing seed missing.
    OmitSeed,
}

/// The file a keystore was read from, as it was read: what a save expects to replace.
#[derive(Clone)]
enum Basis {
    /// Not read from a file (decrypted from bytes, or made by `create`): saved unchecked.
    Unknown,
    /// There was no file: a save expects none.
    Absent,
    /// Read from the file at `path`, in state `seen`, encrypted with `password`.
    File {
        path: std::path::PathBuf,
        seen: crate::fsutil::Seen,
        password: SecretString,
    },
}

/// A decrypted keystore: a password, a format version and named byte values.
///
/// Values are zeroized when dropped or replaced. `Debug` shows names only.
pub struct Keystore {
    version: FormatVersion,
    password: SecretString,
    /// Sorted by name, which is the order `names()` and `list` show.
    entries: BTreeMap<String, Zeroizing<Vec<u8>>>,
    /// A key already derived for the next save's fresh salt (see [`crypto::derive_with_next`]).
    /// Taken, never copied, by `encrypt`, so no two saves share a salt; behind a mutex so
    /// `encrypt(&self)` can take it and the keystore stays `Sync`.
    save_key: Mutex<Option<crypto::SaveKey>>,
    /// This run's changes, in order.
    journal: Vec<Edit>,
    basis: Basis,
    /// `keystore.seed` was removed on purpose ([`Keystore::omit_seed_on_save`]): a save does
    /// not add one back.
    seed_removed: bool,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("version", &self.version)
            .field("has_password", &self.has_password())
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

impl Clone for Keystore {
    /// Copies the entries and password. The pre-derived save key stays with the original:
    /// a salt must serve one save only.
    fn clone(&self) -> Self {
        Keystore {
            version: self.version,
            password: self.password.clone(),
            entries: self.entries.clone(),
            save_key: Mutex::new(None),
            journal: self.journal.clone(),
            basis: self.basis.clone(),
            seed_removed: self.seed_removed,
        }
    }
}

impl Keystore {
    /// An empty, password-less keystore holding a fresh `keystore.seed`, as `create` makes.
    pub fn new(version: FormatVersion) -> Result<Keystore, KeystoreError> {
        if !version.is_writable() {
            return Err(KeystoreError::NotWritableVersion { version });
        }
        let mut ks = Keystore {
            version,
            password: SecretString::from(String::new()),
            entries: BTreeMap::new(),
            save_key: Mutex::new(None),
            journal: Vec::new(),
            basis: Basis::Unknown,
            seed_removed: false,
        };
        // Recorded as "add a seed if missing": made again on top of a keystore someone else
        // created meanwhile, it keeps theirs.
        ks.try_ensure_seed()?;
        Ok(ks)
    }

    /// Version and password flag of a keystore file, after checking its structure and CRC.
    pub fn parse_header(bytes: &[u8]) -> Result<Header, KeystoreError> {
        format::parse_container(bytes).map(|c| c.header)
    }

    /// Decrypt a keystore file's bytes, deriving the next save's key in parallel (use this
    /// when the keystore will be saved again).
    pub fn decrypt(bytes: &[u8], password: &SecretString) -> Result<Keystore, KeystoreError> {
        Self::decrypt_impl(bytes, password, true)
    }

    /// Decrypt a keystore file's bytes for reading only (`list`, `show`): no second key is
    /// derived, so no CPU is spent on a save that will not happen. Saving it later still
    /// works; the save then derives its key itself.
    pub fn decrypt_read_only(
        bytes: &[u8],
        password: &SecretString,
    ) -> Result<Keystore, KeystoreError> {
        Self::decrypt_impl(bytes, password, false)
    }

    fn decrypt_impl(
        bytes: &[u8],
        password: &SecretString,
        prepare_save: bool,
    ) -> Result<Keystore, KeystoreError> {
        let container = format::parse_container(bytes)?;
        let version = container.header.version;
        // A format-3 keystore is saved as the oldest writable version unless the caller
        // changes it, so its save key uses that version's iteration count.
        let save_version = if version.is_writable() {
            version
        } else {
            FormatVersion::V4
        };
        let (key, save_key) = if prepare_save {
            crypto::derive_with_next(
                password,
                container.salt,
                version.iterations(),
                save_version.iterations(),
            )?
        } else {
            let key = crypto::derive_key(
                password.expose_secret().as_bytes(),
                container.salt,
                version.iterations(),
            );
            (key, None)
        };
        let plaintext = crypto::open(&key, &container)?;
        let mut entries = BTreeMap::new();
        for (name, value) in format::parse_entries(version, &plaintext)? {
            entries.insert(name, value);
        }
        Ok(Keystore {
            // A format-3 keystore keeps reporting version 3; `encrypt` refuses it until the
            // caller picks a writable version (upgrade), so it is never rewritten silently.
            version,
            password: password.clone(),
            entries,
            save_key: Mutex::new(save_key),
            journal: Vec::new(),
            basis: Basis::Unknown,
            seed_removed: false,
        })
    }

    /// The complete file bytes: a fresh 64-byte salt and 12-byte IV every time.
    pub fn encrypt(&self) -> Result<Vec<u8>, KeystoreError> {
        if !self.version.is_writable() {
            return Err(KeystoreError::NotWritableVersion {
                version: self.version,
            });
        }
        let iterations = self.version.iterations();
        let pre_derived = match self.save_key.lock() {
            Ok(mut slot) => slot.take(),
            // A panic while another thread held the lock cannot leave a half-written key
            // (the slot is only ever replaced whole), so the value is still sound.
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let save_key = match pre_derived.filter(|k| k.iterations() == iterations) {
            Some(k) => k,
            None => crypto::SaveKey::derive(&self.password, iterations)?,
        };
        let entries = self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        let payload = format::write_entries(entries, format::TAG_LEN)?;
        let salt = *save_key.salt();
        let (iv, ciphertext) = save_key.seal(payload)?;
        format::write_container(
            Header {
                version: self.version,
                has_password: self.has_password(),
            },
            &salt,
            &iv,
            &ciphertext,
        )
    }

    /// The format version the keystore is written in.
    pub fn version(&self) -> FormatVersion {
        self.version
    }

    /// Change the format written by the next save (`upgrade`, `--format-version`).
    pub fn set_version(&mut self, version: FormatVersion) -> Result<(), KeystoreError> {
        if !version.is_writable() {
            return Err(KeystoreError::NotWritableVersion { version });
        }
        if version.iterations() != self.version.iterations() {
            self.discard_save_key();
        }
        self.version = version;
        self.journal.push(Edit::Version(version));
        Ok(())
    }

    /// Whether the keystore has a non-empty password.
    pub fn has_password(&self) -> bool {
        !self.password.expose_secret().is_empty()
    }

    /// Set the password the next save encrypts with; `""` means no password.
    pub fn set_password(&mut self, password: SecretString) {
        self.journal.push(Edit::Password(password.clone()));
        self.password = password;
        self.discard_save_key();
    }

    fn discard_save_key(&mut self) {
        match self.save_key.get_mut() {
            Ok(slot) => *slot = None,
            Err(poisoned) => *poisoned.into_inner() = None,
        }
    }

    /// Setting names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// The number of settings (including `keystore.seed`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no settings at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a setting of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The raw value bytes of a setting, if it exists.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.entries.get(name).map(|v| v.as_slice())
    }

    /// A value as text; [`KeystoreError::NotUtf8`] for binary values (added with `add-file`).
    pub fn get_string(&self, name: &str) -> Result<Option<SecretString>, KeystoreError> {
        let Some(bytes) = self.entries.get(name) else {
            return Ok(None);
        };
        let text = std::str::from_utf8(bytes).map_err(|_| KeystoreError::NotUtf8 {
            name: name.to_owned(),
        })?;
        Ok(Some(SecretString::from(text.to_owned())))
    }

    /// Store a string value as its UTF-8 bytes (what Elasticsearch's `setString` does).
    pub fn set_string(&mut self, name: &str, value: &str) -> Result<(), KeystoreError> {
        self.set_bytes(name, value.as_bytes())
    }

    /// Store raw bytes (what `add-file` does).
    pub fn set_bytes(&mut self, name: &str, value: &[u8]) -> Result<(), KeystoreError> {
        validate_setting_name(name)?;
        if value.len() > format::MAX_PLAINTEXT_LEN {
            return Err(KeystoreError::TooLarge {
                name: name.to_owned(),
                len: value.len(),
            });
        }
        self.entries
            .insert(name.to_owned(), Zeroizing::new(value.to_vec()));
        self.journal
            .push(Edit::Set(name.to_owned(), Zeroizing::new(value.to_vec())));
        if name == SEED_SETTING {
            self.seed_removed = false;
        }
        Ok(())
    }

    /// Remove a setting; `false` if it was not there.
    pub fn remove(&mut self, name: &str) -> bool {
        self.journal.push(Edit::Remove(name.to_owned()));
        self.entries.remove(name).is_some()
    }

    /// Save without `keystore.seed` if it is missing, instead of adding one: what
    /// Elasticsearch's `remove keystore.seed` leaves (a node adds a new seed when it starts).
    pub fn omit_seed_on_save(&mut self) {
        self.journal.push(Edit::OmitSeed);
        self.seed_removed = true;
    }

    /// Add a random `keystore.seed` if missing; `true` if one was added. A failure of the
    /// OS random source leaves the keystore unchanged and reports `false`; the save that
    /// follows then surfaces the same failure as an error.
    pub fn ensure_seed(&mut self) -> bool {
        if self.contains(SEED_SETTING) {
            return false;
        }
        self.try_ensure_seed().unwrap_or(false)
    }

    /// Like [`Keystore::ensure_seed`], reporting a random-source failure.
    pub fn try_ensure_seed(&mut self) -> Result<bool, KeystoreError> {
        if self.contains(SEED_SETTING) {
            return Ok(false);
        }
        let seed = generate_seed()?;
        self.entries.insert(
            SEED_SETTING.to_owned(),
            Zeroizing::new(seed.as_bytes().to_vec()),
        );
        self.journal.push(Edit::Seed);
        self.seed_removed = false;
        Ok(true)
    }

    /// Mark this keystore as read from a file in state `seen`, encrypted with its current
    /// password: a save then replaces that file only if it is still in that state. The
    /// journal starts here.
    pub(crate) fn set_read_from(&mut self, path: &std::path::Path, seen: crate::fsutil::Seen) {
        self.basis = Basis::File {
            path: path.to_path_buf(),
            seen,
            password: self.password.clone(),
        };
        self.journal.clear();
    }

    /// Mark this keystore as meant for a directory that has none: a save refuses to write
    /// over a keystore that appeared meanwhile, and makes this run's changes on top of it.
    pub fn expect_no_file(&mut self) {
        self.basis = Basis::Absent;
    }

    /// What the file at `target` must still be when this keystore is saved there, `None` if
    /// unchecked (a keystore saved to another file than the one it was read from is a copy).
    pub(crate) fn expected_file(&self, target: &std::path::Path) -> Option<crate::fsutil::Seen> {
        match &self.basis {
            Basis::Unknown => None,
            Basis::Absent => Some(crate::fsutil::Seen::Absent),
            Basis::File { path, seen, .. } if path == target => Some(seen.clone()),
            Basis::File { .. } => None,
        }
    }

    /// The password the file this keystore was read from is encrypted with (empty when
    /// there was no file): the one that opens that file if another program replaced it.
    pub(crate) fn file_password(&self) -> SecretString {
        match &self.basis {
            Basis::File { password, .. } => password.clone(),
            Basis::Unknown | Basis::Absent => SecretString::from(String::new()),
        }
    }

    /// This run's changes made again on `fresh`, a keystore read anew from the file that
    /// changed under this one: their settings stay, ours are set/removed on top. The result
    /// keeps the journal, so it can be re-applied again.
    pub(crate) fn reapply_onto(&self, mut fresh: Keystore) -> Result<Keystore, KeystoreError> {
        for edit in &self.journal {
            match edit {
                Edit::Set(name, value) => fresh.set_bytes(name, value)?,
                Edit::Remove(name) => {
                    fresh.remove(name);
                }
                Edit::Password(pw) => fresh.set_password(pw.clone()),
                Edit::Version(v) => fresh.set_version(*v)?,
                Edit::Seed => {
                    fresh.try_ensure_seed()?;
                }
                Edit::OmitSeed => fresh.omit_seed_on_save(),
            }
        }
        // The replay rebuilt the journal edit by edit; keep exactly ours.
        fresh.journal = self.journal.clone();
        Ok(fresh)
    }

    /// Whether this run changed anything since the keystore was read.
    pub fn changed(&self) -> bool {
        !self.journal.is_empty()
    }

    /// A copy to modify and save in place of this one: the key pre-derived for the next save
    /// moves to the copy (this keystore keeps none, so the salt still serves one save only).
    /// `setup` plans its changes on such a copy, so saving it costs no second derivation.
    pub fn clone_for_update(&self) -> Keystore {
        let mut copy = self.clone();
        let pre = match self.save_key.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        copy.save_key = Mutex::new(pre);
        copy
    }

    /// Bytes for saving, with `keystore.seed` added if missing (on a copy, so `self` is
    /// unchanged) unless it was removed on purpose. Used by [`file::save`].
    pub fn encrypt_with_seed(&self) -> Result<Vec<u8>, KeystoreError> {
        if self.contains(SEED_SETTING) || self.seed_removed {
            return self.encrypt();
        }
        // Hand the pre-derived key to the copy that is actually saved.
        let mut copy = self.clone_for_update();
        copy.try_ensure_seed()?;
        copy.encrypt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn new_keystore_has_a_seed_from_the_es_alphabet() {
        let ks = Keystore::new(FormatVersion::V6).unwrap();
        assert_eq!(ks.names(), vec![SEED_SETTING]);
        let seed = ks.get_string(SEED_SETTING).unwrap().unwrap();
        assert_eq!(seed.expose_secret().len(), SEED_LEN);
        assert!(seed
            .expose_secret()
            .bytes()
            .all(|b| SEED_CHARS.contains(&b)));
        assert!(!ks.has_password());
        assert!(Keystore::new(FormatVersion::V3).is_err());
    }

    #[test]
    fn setting_names_follow_the_es_pattern() {
        for ok in ["a", "keystore.seed", "A-b_c.9"] {
            assert!(validate_setting_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "ä", "a=b", "a\n"] {
            assert!(
                matches!(
                    validate_setting_name(bad),
                    Err(KeystoreError::InvalidSettingName { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_shows_names_but_not_values_or_password() {
        let mut ks = Keystore::new(FormatVersion::V6).unwrap();
        ks.set_string("s3.secret", "very-secret-value").unwrap();
        ks.set_password(pw("hunter2-password"));
        let shown = format!("{ks:?}");
        assert!(shown.contains("s3.secret"));
        assert!(!shown.contains("very-secret-value"));
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn clone_for_update_moves_the_pre_derived_key_and_clone_does_not() {
        let ks = Keystore::new(FormatVersion::V4).unwrap();
        let bytes = ks.encrypt().unwrap();
        let mut loaded = Keystore::decrypt(&bytes, &pw("")).unwrap();
        let mut plain = loaded.clone();
        assert!(plain.save_key.get_mut().unwrap().is_none());
        assert!(loaded.save_key.get_mut().unwrap().is_some());
        let mut update = loaded.clone_for_update();
        assert!(update.save_key.get_mut().unwrap().is_some());
        assert!(
            loaded.save_key.get_mut().unwrap().is_none(),
            "one salt, one save"
        );
        let saved = update.encrypt().unwrap();
        assert!(Keystore::decrypt(&saved, &pw("")).is_ok());
    }

    #[test]
    fn encrypt_decrypt_round_trip_uses_the_pre_derived_key_once() {
        let mut ks = Keystore::new(FormatVersion::V4).unwrap();
        ks.set_password(pw("pw"));
        ks.set_bytes("bin", &[0, 255, 1]).unwrap();
        let bytes = ks.encrypt().unwrap();
        let mut back = Keystore::decrypt(&bytes, &pw("pw")).unwrap();
        assert!(back.save_key.get_mut().unwrap().is_some());
        assert_eq!(back.get_bytes("bin"), Some(&[0u8, 255, 1][..]));
        assert!(matches!(
            back.get_string("bin"),
            Err(KeystoreError::NotUtf8 { .. })
        ));
        let first = back.encrypt().unwrap();
        assert!(back.save_key.get_mut().unwrap().is_none());
        let second = back.encrypt().unwrap();
        // Different salts: bytes 36..100 of the file.
        assert_ne!(first[40..104], second[40..104]);
        for b in [first, second] {
            let again = Keystore::decrypt_read_only(&b, &pw("pw")).unwrap();
            assert_eq!(again.names(), back.names());
        }
        assert!(matches!(
            Keystore::decrypt(&bytes, &pw("wrong")),
            Err(KeystoreError::WrongPasswordOrTampered { .. })
        ));
    }

    #[test]
    fn version_change_discards_a_key_with_the_wrong_iteration_count() {
        let ks = Keystore::new(FormatVersion::V4).unwrap();
        let bytes = ks.encrypt().unwrap();
        let mut back = Keystore::decrypt(&bytes, &pw("")).unwrap();
        back.set_version(FormatVersion::V5).unwrap();
        assert!(back.save_key.get_mut().unwrap().is_some());
        back.set_version(FormatVersion::V6).unwrap();
        assert!(back.save_key.get_mut().unwrap().is_none());
        assert!(back.set_version(FormatVersion::V3).is_err());
    }

    #[test]
    fn encrypt_with_seed_adds_the_seed_to_a_copy_only() {
        let mut ks = Keystore::new(FormatVersion::V5).unwrap();
        assert!(ks.remove(SEED_SETTING));
        // A file without a seed (as Elasticsearch's `remove keystore.seed` leaves it).
        let seedless = ks.encrypt().unwrap();
        let ks = Keystore::decrypt(&seedless, &pw("")).unwrap();
        assert!(!ks.contains(SEED_SETTING));
        let bytes = ks.encrypt_with_seed().unwrap();
        assert!(!ks.contains(SEED_SETTING));
        let back = Keystore::decrypt(&bytes, &pw("")).unwrap();
        assert!(back.contains(SEED_SETTING));
        let mut ks = ks;
        assert!(ks.ensure_seed());
        assert!(!ks.ensure_seed());
    }

    #[test]
    fn a_seed_removed_on_purpose_stays_removed_like_elasticsearch() {
        let mut ks = Keystore::new(FormatVersion::V6).unwrap();
        ks.set_string("a", "1").unwrap();
        assert!(ks.remove(SEED_SETTING));
        ks.omit_seed_on_save();
        let back = Keystore::decrypt(&ks.encrypt_with_seed().unwrap(), &pw("")).unwrap();
        assert_eq!(back.names(), ["a"]);
        // `upgrade` adds one again, as Elasticsearch's does.
        assert!(ks.ensure_seed());
        let back = Keystore::decrypt(&ks.encrypt_with_seed().unwrap(), &pw("")).unwrap();
        assert_eq!(back.names(), ["a", SEED_SETTING]);
    }

    #[test]
    fn changes_are_made_again_on_top_of_a_keystore_changed_meanwhile() {
        let mut theirs = Keystore::new(FormatVersion::V6).unwrap();
        theirs.set_string("gone.soon", "x").unwrap();
        let base = theirs.encrypt().unwrap();
        let mut ours = Keystore::decrypt(&base, &pw("")).unwrap();
        ours.set_string("ours.added", "mine").unwrap();
        ours.remove("gone.soon");
        ours.set_version(FormatVersion::V5).unwrap();
        // Meanwhile another program added a setting and changed the seed.
        theirs
            .set_string("s3.client.default.access_key", "AKIA")
            .unwrap();
        theirs.set_string(SEED_SETTING, "their-seed").unwrap();
        let fresh = Keystore::decrypt(&theirs.encrypt().unwrap(), &pw("")).unwrap();
        let merged = ours.reapply_onto(fresh).unwrap();
        assert_eq!(
            merged.names(),
            [
                "keystore.seed",
                "ours.added",
                "s3.client.default.access_key"
            ]
        );
        assert_eq!(merged.get_bytes(SEED_SETTING).unwrap(), b"their-seed");
        assert_eq!(merged.version(), FormatVersion::V5);
        assert!(merged.changed());
    }
}

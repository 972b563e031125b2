//! Every way reading or writing a keystore can fail, each a variant a caller can tell apart.
//!
//! Errors raised while parsing bytes do not know which file the bytes came from; the file
//! layer attaches the path with [`KeystoreError::with_path`] so that every message a user
//! sees names the file. Where Elasticsearch has a message for the same failure, the message
//! starts with Elasticsearch's wording, so scripts and habits carry over.

use std::fmt;
use std::path::{Path, PathBuf};

use super::version::FormatVersion;

/// Where the failing keystore bytes came from, shown in messages as `[path]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin(Option<PathBuf>);

impl Origin {
    /// The file, when the bytes came from one.
    pub fn path(&self) -> Option<&Path> {
        self.0.as_deref()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(p) => write!(f, "[{}]", p.display()),
            None => f.write_str("[in-memory keystore data]"),
        }
    }
}

/// A keystore failure. `Display` is one line, names the file or setting, and never contains
/// a password or a setting value.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The bytes do not start with the Lucene codec header of `elasticsearch.keystore`.
    #[error("The file {origin} is not an Elasticsearch keystore ({detail})")]
    NotAKeystore {
        /// Where the bytes came from.
        origin: Origin,
        /// What exactly is wrong, for the message.
        detail: String,
    },

    /// The file is older than format 3 (written before Elasticsearch 6.3).
    #[error(
        "The Elasticsearch keystore {origin} format is too old. You should delete and recreate it \
         in order to upgrade. (format version {found}; this tool reads versions 3 to 6)"
    )]
    VersionTooOld {
        /// Where the bytes came from.
        origin: Origin,
        /// The format version the file declares.
        found: i32,
    },

    /// The file is a format newer than 6.
    #[error(
        "The Elasticsearch keystore {origin} format is too new. Are you trying to downgrade? You \
         should delete and recreate it in order to downgrade. (format version {found}; this tool \
         reads versions 3 to 6)"
    )]
    VersionTooNew {
        /// Where the bytes came from.
        origin: Origin,
        /// The format version the file declares.
        found: i32,
    },

    /// The CRC-32 in the footer does not match the bytes: damaged storage or a partial copy.
    #[error(
        "checksum failed (hardware problem?) : expected={expected:08x} actual={actual:08x} \
         (resource={origin}); restore the keystore from a backup or recreate it"
    )]
    ChecksumMismatch {
        /// Where the bytes came from.
        origin: Origin,
        /// The checksum stored in the footer.
        expected: u32,
        /// The checksum of the bytes as read.
        actual: u32,
    },

    /// Lengths, flags or trailing bytes that no keystore writer produces.
    #[error("Keystore has been corrupted or tampered with: {origin} {detail}")]
    Corrupt {
        /// Where the bytes came from.
        origin: Origin,
        /// What exactly is wrong, for the message.
        detail: String,
    },

    /// The AES-GCM tag did not verify: a wrong password, or ciphertext altered after the CRC
    /// was recomputed. The two cannot be told apart.
    #[error(
        "Provided keystore password was incorrect (keystore {origin}; a keystore modified by \
         something other than Elasticsearch fails the same way)"
    )]
    WrongPasswordOrTampered {
        /// Where the bytes came from.
        origin: Origin,
    },

    /// A setting name Elasticsearch would refuse.
    #[error(
        "Setting name [{name}] does not match the allowed setting name pattern [[A-Za-z0-9_\\-.]+]"
    )]
    InvalidSettingName {
        /// The setting name.
        name: String,
    },

    /// A value too large for the format's 32-bit length fields.
    #[error("The value of setting [{name}] is too large for an Elasticsearch keystore ({len} bytes; the limit is about 2 GiB for all settings together)")]
    TooLarge {
        /// The setting name.
        name: String,
        /// The size in bytes.
        len: usize,
    },

    /// A value read as a string is not UTF-8.
    #[error("The value for the setting [{name}] is not a string (it is binary data that is not valid UTF-8)")]
    NotUtf8 {
        /// The setting name.
        name: String,
    },

    /// There is no keystore in the config directory.
    #[error("Elasticsearch keystore not found at [{}]. Use 'create' command to create one.", path.display())]
    NotFound {
        /// The file concerned.
        path: PathBuf,
    },

    /// Reading or writing a file failed.
    #[error("{action} [{}]: {source}", path.display())]
    Io {
        /// What was being done, for the message (e.g. "cannot read").
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        #[source]
        /// The operating system error.
        source: std::io::Error,
    },

    /// Saving would change the owner of the keystore file (Elasticsearch refuses too).
    #[error("will not overwrite keystore at [{}], because this incurs changing the file owner (it is owned by uid {owner_uid}; run this command as that user)", path.display())]
    OwnerChange {
        /// The file concerned.
        path: PathBuf,
        /// The uid that owns the existing file.
        owner_uid: u32,
    },

    /// The config directory is not writable.
    #[error("unable to create temporary keystore at [{}], write permissions required for [{}] ({source})", tmp_path.display(), dir.display())]
    NotWritable {
        /// The temporary file that could not be created.
        tmp_path: PathBuf,
        /// The directory concerned.
        dir: PathBuf,
        #[source]
        /// The operating system error.
        source: std::io::Error,
    },

    /// The keystore path is a symbolic link. Saving through it would replace the link with a
    /// regular file (what Elasticsearch does) and leave the file it points to unchanged, so
    /// this tool refuses; reading through the link works.
    #[error("will not replace the keystore at [{}]: it is a symbolic link to [{}], and saving would turn the link into a regular file and leave [{}] unchanged; replace the link with the file itself, or change the keystore where it lives", path.display(), target.display(), target.display())]
    SymlinkNotReplaced {
        /// The file concerned.
        path: PathBuf,
        /// Where the symbolic link points.
        target: PathBuf,
    },

    /// A save would produce a file larger than this tool reads back (see `file::MAX_FILE_LEN`).
    #[error("the keystore at [{}] would be {len} bytes, more than the {max} bytes this tool reads or writes; keep large files outside the keystore", path.display())]
    FileTooLarge {
        /// The file concerned.
        path: PathBuf,
        /// The size in bytes.
        len: u64,
        /// The largest size accepted, in bytes.
        max: u64,
    },

    /// Format version 3 can be read but Elasticsearch 6.8+ never writes it; neither do we.
    #[error("keystore format version {} can only be read, not written; write format 4 (Elasticsearch 7), 5 (8.0-8.13) or 6 (8.14 and later)", version.number())]
    NotWritableVersion {
        /// The format version.
        version: FormatVersion,
    },

    /// A format version to write that is not 4, 5 or 6.
    #[error("invalid keystore format version [{given}]: expected 4 (Elasticsearch 7), 5 (8.0-8.13) or 6 (8.14 and later)")]
    InvalidFormatVersion {
        /// The value as given.
        given: String,
    },

    /// An Elasticsearch version no keystore format can be chosen for.
    #[error("unsupported Elasticsearch version [{given}] for writing a keystore: {reason}")]
    UnsupportedEsVersion {
        /// The value as given.
        given: String,
        /// Why, for the message.
        reason: &'static str,
    },

    /// Another program (one that does not take this tool's lock, such as Elasticsearch's own
    /// `elasticsearch-keystore`) replaced the keystore while this run worked on it, and this
    /// run's change could not be made again on top of theirs.
    #[error("the keystore [{}] was changed by another program while this command ran, and this command's change could not be made again on top of it ({reason}); nothing was saved: run the command again", path.display())]
    ChangedMeanwhile {
        /// The file concerned.
        path: PathBuf,
        /// Why, for the message.
        reason: String,
    },

    /// The keystore cannot be replaced at all (immutable, read-only mount), or cannot be
    /// renamed over because it is a mount point of its own.
    #[error("cannot replace the keystore [{}]: {source}", path.display())]
    NotReplaceable {
        /// The file concerned.
        path: PathBuf,
        #[source]
        /// The operating system error.
        source: std::io::Error,
    },

    /// Another process held the keystore lock for longer than we were willing to wait.
    #[error("another process is updating the keystore in [{}]; gave up after waiting {waited_secs} s for its lock", dir.display())]
    Locked {
        /// The directory concerned.
        dir: PathBuf,
        /// How long this process waited, in seconds.
        waited_secs: u64,
    },

    /// The operating system could not supply random bytes for the salt, IV or seed.
    #[error("cannot obtain secure random bytes from the operating system: {0}")]
    Random(String),

    /// An encryption primitive failed where it cannot for valid input (a bug, not bad data).
    #[error("keystore encryption failed unexpectedly: {0}")]
    Crypto(&'static str),
}

impl KeystoreError {
    /// Attach the file the bytes came from to a parsing error that does not know it yet.
    pub fn with_path(mut self, path: &Path) -> Self {
        match &mut self {
            KeystoreError::NotAKeystore { origin, .. }
            | KeystoreError::VersionTooOld { origin, .. }
            | KeystoreError::VersionTooNew { origin, .. }
            | KeystoreError::ChecksumMismatch { origin, .. }
            | KeystoreError::Corrupt { origin, .. }
            | KeystoreError::WrongPasswordOrTampered { origin }
                if origin.0.is_none() =>
            {
                origin.0 = Some(path.to_path_buf());
            }
            _ => {}
        }
        self
    }

    pub(crate) fn not_a_keystore(detail: impl Into<String>) -> Self {
        KeystoreError::NotAKeystore {
            origin: Origin::default(),
            detail: one_line(detail.into()),
        }
    }

    pub(crate) fn corrupt(detail: impl Into<String>) -> Self {
        KeystoreError::Corrupt {
            origin: Origin::default(),
            detail: one_line(detail.into()),
        }
    }

    pub(crate) fn wrong_password() -> Self {
        KeystoreError::WrongPasswordOrTampered {
            origin: Origin::default(),
        }
    }

    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        KeystoreError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Details quote bytes from the damaged file (a setting name, say), which may hold control
/// characters: escape them so the message stays one line.
fn one_line(detail: String) -> String {
    if !detail.chars().any(char::is_control) {
        return detail;
    }
    detail
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

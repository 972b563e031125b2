//! Checks that need no keystore open: where the config dir is, which setting names and
//! format versions are acceptable, the files a value comes from or goes to, and whether the
//! keystore has a password.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::error::KeystoreOpsError;
use crate::keystore::{self, FormatVersion};
use crate::secret::Zeroizing;

/// The option `show` takes its output file with, for messages.
const OUTPUT_FLAG: &str = "-o";

/// The variable Elasticsearch's launcher reads the config dir from.
pub const ENV_PATH_CONF: &str = "ES_PATH_CONF";

/// `--config DIR`, else the value of `ES_PATH_CONF` (`env`; an empty value counts as unset),
/// made absolute as Elasticsearch's launcher does.
pub fn config_dir(flag: Option<&Path>, env: Option<OsString>) -> Result<PathBuf, KeystoreOpsError> {
    let from_env = env.filter(|v| !v.is_empty());
    let dir = match (flag, from_env) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(env)) => PathBuf::from(env),
        (None, None) => return Err(KeystoreOpsError::NoConfigDir),
    };
    if dir.as_os_str().is_empty() {
        return Err(KeystoreOpsError::EmptyConfigDir);
    }
    std::path::absolute(&dir)
        .map_err(|source| KeystoreOpsError::UnresolvableConfigDir { dir, source })
}

/// [`config_dir`] with this process's `ES_PATH_CONF`.
pub fn config_dir_from_env(flag: Option<&Path>) -> Result<PathBuf, KeystoreOpsError> {
    config_dir(flag, std::env::var_os(ENV_PATH_CONF))
}

/// The config directory must exist before anything is locked or written in it: a missing
/// one is a configuration error (78) for every command, a directory without a keystore is
/// Elasticsearch's "not found" (65).
pub fn require_dir(dir: &Path) -> Result<(), KeystoreOpsError> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(KeystoreOpsError::NoSuchConfigDir {
            dir: dir.to_path_buf(),
        })
    }
}

/// Refuse a setting Elasticsearch would reject at start-up because it is not a secure setting.
pub fn refuse_non_secure(name: &str) -> Result<(), KeystoreOpsError> {
    // One list of the realm's yml-only settings for the whole program (esconfig's).
    if crate::esconfig::non_secure_keys_in(&[name], None).is_empty() {
        Ok(())
    } else {
        Err(KeystoreOpsError::NonSecureSetting {
            name: name.to_owned(),
        })
    }
}

/// Check every name (Elasticsearch's pattern, then the non-secure refusal) before anything
/// is read or written.
pub fn check_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), KeystoreOpsError> {
    for name in names {
        keystore::validate_setting_name(name)?;
        refuse_non_secure(name)?;
    }
    Ok(())
}

/// A setting name given as an OS string (`add-file`'s arguments): it must be UTF-8.
pub fn setting_name(name: &OsStr) -> Result<&str, KeystoreOpsError> {
    name.to_str().ok_or_else(|| KeystoreOpsError::NameNotUtf8 {
        name: name.to_string_lossy().into_owned(),
    })
}

/// The format version to write, from `--format-version` or `--target-es-version` (at most
/// one is given); `None` when neither is. Format 3 can be read but not written.
pub fn requested_version(
    format_version: Option<&str>,
    target_es_version: Option<&str>,
) -> Result<Option<FormatVersion>, KeystoreOpsError> {
    if let Some(given) = format_version {
        let version = given.parse::<FormatVersion>()?;
        if !version.is_writable() {
            return Err(KeystoreOpsError::FormatNotWritable {
                given: given.to_owned(),
                version,
            });
        }
        return Ok(Some(version));
    }
    match target_es_version {
        Some(es) => Ok(Some(FormatVersion::for_es_version(es)?)),
        None => Ok(None),
    }
}

/// The exact bytes of a file given to `add-file` (wiped when dropped).
pub fn read_value_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeystoreOpsError> {
    std::fs::read(path).map(Zeroizing::new).map_err(|source| {
        let path = path.to_path_buf();
        if source.kind() == std::io::ErrorKind::NotFound {
            KeystoreOpsError::ValueFileMissing { path, source }
        } else {
            KeystoreOpsError::ValueFileUnreadable { path, source }
        }
    })
}

/// `show -o FILE` refuses an existing path (even a dangling symlink) before a password is
/// asked for: the file is never overwritten.
pub fn refuse_existing_output(out: &Path) -> Result<(), KeystoreOpsError> {
    Ok(crate::secret_file::refuse_existing(OUTPUT_FLAG, out)?)
}

/// Write a setting's value to a new file of mode 0600, created exclusively.
pub fn write_value(name: &str, out: &Path, value: &[u8]) -> Result<(), KeystoreOpsError> {
    crate::fsutil::write_new_secret_file(out, value).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            crate::secret_file::write_error(OUTPUT_FLAG, out, source).into()
        } else {
            KeystoreOpsError::OutputUnwritable {
                name: name.to_owned(),
                path: out.to_path_buf(),
                source,
            }
        }
    })
}

/// What `has-passwd` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordState {
    NoKeystore,
    NoPassword,
    Protected,
}

/// Whether the keystore in `dir` exists and has a password (its header alone says so).
pub fn password_state(dir: &Path) -> Result<PasswordState, KeystoreOpsError> {
    Ok(match keystore::read_header(dir)? {
        None => PasswordState::NoKeystore,
        Some(header) if !header.has_password => PasswordState::NoPassword,
        Some(_) => PasswordState::Protected,
    })
}

//! Files the program writes a secret into at the user's request (`provision --secret-file`,
//! `setup --output-file`, `keystore show -o`): one rule and one set of messages for all of
//! them. Such a file is created exclusively with mode 0600 (`fsutil::write_new_secret_file`)
//! and never overwritten, so an existing path is refused — before any change is made, where
//! the command can check early. `flag` is the option the path was given with, for messages.

use std::path::{Path, PathBuf};

use crate::exit::{ExitCode, UserFacing};

#[derive(Debug, thiserror::Error)]
pub enum SecretOutputError {
    /// The path given on the command line is not usable as it is (a usage error).
    #[error("{flag} {} already exists; it is never overwritten (it would hold a secret): move it away or choose another path", path.display())]
    Exists { flag: String, path: PathBuf },
    #[error("{flag} {}: the directory {} does not exist; create it first", path.display(), parent.display())]
    NoDirectory {
        flag: String,
        path: PathBuf,
        parent: PathBuf,
    },
    #[error("cannot write {flag} {}: {source}", path.display())]
    Write {
        flag: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl UserFacing for SecretOutputError {
    fn exit_code(&self) -> ExitCode {
        match self {
            SecretOutputError::Exists { .. } => ExitCode::Usage,
            SecretOutputError::NoDirectory { .. } | SecretOutputError::Write { .. } => {
                ExitCode::IoError
            }
        }
    }
}

/// Refuse a path where anything exists, even a dangling symlink.
pub fn refuse_existing(flag: &str, path: &Path) -> Result<(), SecretOutputError> {
    if path.symlink_metadata().is_ok() {
        return Err(SecretOutputError::Exists {
            flag: flag.to_owned(),
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Check, before any change, that `path` can be created: it does not exist (not even as a
/// dangling symlink) and its directory does.
pub fn check_new(flag: &str, path: &Path) -> Result<(), SecretOutputError> {
    refuse_existing(flag, path)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(SecretOutputError::NoDirectory {
            flag: flag.to_owned(),
            path: path.to_path_buf(),
            parent: parent.to_path_buf(),
        });
    }
    Ok(())
}

/// The error for a failed `fsutil::write_new_secret_file` of `path`: a path that appeared
/// meanwhile is still "exists".
pub fn write_error(flag: &str, path: &Path, err: std::io::Error) -> SecretOutputError {
    if err.kind() == std::io::ErrorKind::AlreadyExists {
        return SecretOutputError::Exists {
            flag: flag.to_owned(),
            path: path.to_path_buf(),
        };
    }
    SecretOutputError::Write {
        flag: flag.to_owned(),
        path: path.to_path_buf(),
        source: err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_paths_and_missing_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("s");
        std::fs::write(&existing, b"x").unwrap();
        let err = check_new("--secret-file", &existing).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Usage);
        assert!(err.to_string().contains("never overwritten"), "{err}");
        let dangling = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert_eq!(
            check_new("-o", &dangling).unwrap_err().exit_code(),
            ExitCode::Usage
        );
        assert!(refuse_existing("-o", &dangling).is_err());
        let err = check_new("--output-file", &dir.path().join("missing/s")).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::IoError);
        assert!(check_new("--output-file", &dir.path().join("new")).is_ok());
        let exists = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        assert_eq!(
            write_error("-o", &existing, exists).exit_code(),
            ExitCode::Usage
        );
        let other = write_error("-o", &existing, std::io::Error::other("disk full"));
        assert_eq!(other.exit_code(), ExitCode::IoError);
        assert_eq!(
            std::error::Error::source(&other).unwrap().to_string(),
            "disk full"
        );
    }
}

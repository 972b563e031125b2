//! Files the program writes a secret into at the user's request (`provision --secret-file`,
//! `setup --output-file`, `keystore show -o`): one rule and one set of messages for all of
//! them. Such a file is created exclusively with mode 0600 (`fsutil::write_new_secret_file`) and
//! never overwritten, so an existing path is refused — before any change is made, where the
//! command can check early.

use std::path::Path;

use crate::exit::{CliError, ExitCode};

/// The error for an output path that already exists (a usage error: the path given on the
/// command line is not usable as it is).
pub fn exists_error(flag: &str, path: &Path) -> CliError {
    CliError::new(
        ExitCode::Usage,
        format!(
            "{flag} {} already exists; it is never overwritten (it would hold a secret): move it away or choose another path",
            path.display()
        ),
    )
}

/// Check, before any change, that `path` can be created: it does not exist (not even as a
/// dangling symlink) and its directory does.
pub fn check_new(flag: &str, path: &Path) -> Result<(), CliError> {
    if path.symlink_metadata().is_ok() {
        return Err(exists_error(flag, path));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(CliError::new(
            ExitCode::IoError,
            format!(
                "{flag} {}: the directory {} does not exist; create it first",
                path.display(),
                parent.display()
            ),
        ));
    }
    Ok(())
}

/// Map an error from `fsutil::write_new_secret_file` to the CLI error for `flag`.
pub fn write_error(flag: &str, path: &Path, err: std::io::Error) -> CliError {
    if err.kind() == std::io::ErrorKind::AlreadyExists {
        return exists_error(flag, path);
    }
    CliError::new(
        ExitCode::IoError,
        format!("cannot write {flag} {}: {err}", path.display()),
    )
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
        assert_eq!(err.code, ExitCode::Usage);
        assert!(err.message.contains("never overwritten"), "{err}");
        let dangling = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert_eq!(
            check_new("-o", &dangling).unwrap_err().code,
            ExitCode::Usage
        );
        let err = check_new("--output-file", &dir.path().join("missing/s")).unwrap_err();
        assert_eq!(err.code, ExitCode::IoError);
        assert!(check_new("--output-file", &dir.path().join("new")).is_ok());
        let exists = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        assert_eq!(write_error("-o", &existing, exists).code, ExitCode::Usage);
    }
}

//! Exit codes, one table for every command.
//!
//! The keystore commands use the BSD `sysexits.h` values that Elasticsearch's own
//! `ExitCodes` class uses, so scripts written for `elasticsearch-keystore` keep working.
//! The provisioning commands add a few codes of their own for outcomes a pipeline must
//! tell apart (consent still needed, credentials rejected, …). `docs/exit-codes.md`
//! lists them; keep the two in step.

/// A process exit status with a meaning a script can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCode {
    /// Everything asked for was done.
    Ok,
    /// A yes/no style negative answer: `has-passwd` on a password-less or missing keystore,
    /// `status --fail-under` when a secret expires too soon.
    Negative,
    /// Admin consent is still required: everything else was done, instructions were printed.
    ConsentRequired,
    /// The credentials were rejected by the token endpoint (bad secret, unknown client).
    CredentialsRejected,
    /// A token was issued but lacks one or more required application permissions.
    PermissionsMissing,
    /// `verify --principal`: Microsoft Graph does not know a principal, so the realm's lookup
    /// of that user fails and the user gets no roles from the realm.
    PrincipalNotFound,
    /// Command-line usage error (`EX_USAGE`).
    Usage,
    /// Input data was wrong: corrupt keystore, wrong password, invalid setting name (`EX_DATAERR`).
    DataError,
    /// A remote service (login endpoint, Microsoft Graph) could not be reached (`EX_UNAVAILABLE`).
    Unavailable,
    /// A bug: something that should not happen did (`EX_SOFTWARE`).
    Software,
    /// Reading or writing a local file failed (`EX_IOERR`).
    IoError,
    /// A temporary condition outlasted the deadline: throttling, replication (`EX_TEMPFAIL`).
    TempFail,
    /// Microsoft Graph refused the operation for lack of privileges (`EX_NOPERM`).
    NoPermission,
    /// Local configuration problem: config dir not writable, owner change, conflicting settings (`EX_CONFIG`).
    Config,
    /// `rotate --remove-secret-id` refused a keyId: a given config dir holds it, this tool did not
    /// make it, or the application has no such secret. Nothing was removed.
    RemovalRefused,
}

impl ExitCode {
    /// The numeric process status.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::Negative => 1,
            ExitCode::ConsentRequired => 3,
            ExitCode::CredentialsRejected => 4,
            ExitCode::PermissionsMissing => 5,
            ExitCode::PrincipalNotFound => 6,
            ExitCode::Usage => 64,
            ExitCode::DataError => 65,
            ExitCode::Unavailable => 69,
            ExitCode::Software => 70,
            ExitCode::IoError => 74,
            ExitCode::TempFail => 75,
            ExitCode::NoPermission => 77,
            ExitCode::Config => 78,
            ExitCode::RemovalRefused => 8,
        }
    }
}

/// An error a user can act on: it knows which exit code it maps to.
///
/// Its `Display` is the one-line message printed after `ERROR: `; it must name the file or
/// setting involved and never contain a secret.
pub trait UserFacing: std::fmt::Display {
    fn exit_code(&self) -> ExitCode;
}

/// The error every command returns to `main`: the rendered line, its exit code and, when it
/// came from a library error, that error itself.
///
/// Library layers return their own typed errors (one enum per operation); `CliError` only
/// renders them. The typed error is kept, so `source()` walks the same chain the library
/// error has, and a caller can still `downcast_ref` it instead of matching message text.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: ExitCode,
    error: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl CliError {
    /// An error found by the command-line layer itself (a flag combination, a terminal),
    /// which has no library error behind it.
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code,
            error: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(ExitCode::Usage, message)
    }

    /// The library error this was rendered from, if any (for `downcast_ref`).
    pub fn typed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.error.as_deref()
    }

    /// True when this was rendered from a library error of type `E`.
    pub fn is<E: std::error::Error + 'static>(&self) -> bool {
        self.typed().is_some_and(|e| e.is::<E>())
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {
    /// The typed error's own cause: `CliError` is a rendering of that error, so the chain
    /// continues where the typed error's does (its message is already this one).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.as_ref().and_then(|e| e.source())
    }
}

impl<E: UserFacing + std::error::Error + Send + Sync + 'static> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError {
            message: e.to_string(),
            code: e.exit_code(),
            error: Some(Box::new(e)),
        }
    }
}

/// Exit codes for keystore errors: the `es-keystore` crate knows nothing of exit codes, so
/// this program decides them here (the trait is local, so the impl may live here).
mod keystore_codes {
    use super::{ExitCode, UserFacing};
    use crate::keystore::KeystoreError;

    impl UserFacing for KeystoreError {
        fn exit_code(&self) -> ExitCode {
            match self {
                KeystoreError::NotAKeystore { .. }
                | KeystoreError::VersionTooOld { .. }
                | KeystoreError::VersionTooNew { .. }
                | KeystoreError::ChecksumMismatch { .. }
                | KeystoreError::Corrupt { .. }
                | KeystoreError::WrongPasswordOrTampered { .. }
                | KeystoreError::InvalidSettingName { .. }
                | KeystoreError::TooLarge { .. }
                | KeystoreError::NotUtf8 { .. }
                | KeystoreError::NotFound { .. }
                | KeystoreError::FileTooLarge { .. } => ExitCode::DataError,
                KeystoreError::Io { .. } => ExitCode::IoError,
                KeystoreError::OwnerChange { .. }
                | KeystoreError::SymlinkNotReplaced { .. }
                | KeystoreError::NotWritable { .. }
                | KeystoreError::NotWritableVersion { .. } => ExitCode::Config,
                KeystoreError::InvalidFormatVersion { .. }
                | KeystoreError::UnsupportedEsVersion { .. } => ExitCode::Usage,
                KeystoreError::Locked { .. } | KeystoreError::ChangedMeanwhile { .. } => {
                    ExitCode::TempFail
                }
                KeystoreError::NotReplaceable { .. } => ExitCode::Config,
                KeystoreError::Random(_) | KeystoreError::Crypto(_) => ExitCode::Software,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer failed")]
    struct Outer {
        #[source]
        inner: std::io::Error,
    }

    impl UserFacing for Outer {
        fn exit_code(&self) -> ExitCode {
            ExitCode::IoError
        }
    }

    #[test]
    fn rendering_keeps_the_typed_error_and_its_source() {
        let cli: CliError = Outer {
            inner: std::io::Error::other("disk on fire"),
        }
        .into();
        assert_eq!(cli.message, "outer failed");
        assert_eq!(cli.code, ExitCode::IoError);
        assert!(cli.is::<Outer>());
        let source = std::error::Error::source(&cli).expect("the typed error's source is kept");
        assert_eq!(source.to_string(), "disk on fire");
    }

    #[test]
    fn an_error_of_the_command_line_layer_has_no_typed_error() {
        let cli = CliError::usage("--a and --b conflict");
        assert!(cli.typed().is_none());
        assert!(std::error::Error::source(&cli).is_none());
    }
}

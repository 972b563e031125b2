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

/// The error every command returns to `main`: a message and an exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: ExitCode,
}

impl CliError {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(ExitCode::Usage, message)
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl<E: UserFacing> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError {
            message: e.to_string(),
            code: e.exit_code(),
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

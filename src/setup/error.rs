//! The errors of the setup family's local work and of `setup` itself, one enum per
//! operation: [`ConfigDirError`] (one config directory: open, plan, probe, write),
//! [`CommitError`] (the all-or-none write of several directories, with what was replaced),
//! [`SetupError`] (a whole `setup` run). `rotate`'s own are in `rotate` and `retire`.
//!
//! Each variant is a failure a user can tell apart; its `Display` is the one line printed
//! after `ERROR: ` (the CLI tests pin many of them), its exit code comes from
//! [`UserFacing`], and the underlying error stays reachable through `source()`.

use std::path::{Path, PathBuf};

use crate::esconfig::EsConfigError;
use crate::exit::{ExitCode, UserFacing};
use crate::keystore::{self, KeystoreError};
use crate::provision::ProvisionError;

use super::verify::VerifyError;

/// Why a keystore password could not be had (the prompt or `--password-file` failed). The
/// setup layer does not read passwords itself: the caller's [`super::local::PasswordSource`]
/// does, and its failure passes through unchanged, with the exit code the caller chose.
#[derive(Debug)]
pub struct PasswordFailure {
    code: ExitCode,
    error: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl PasswordFailure {
    /// The password source's own failure, to be reported with exit code `code`.
    pub fn new(code: ExitCode, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        PasswordFailure {
            code,
            error: Box::new(error),
        }
    }

    /// The password source's own error (for `downcast_ref`).
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.error.as_ref()
    }
}

impl std::fmt::Display for PasswordFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for PasswordFailure {
    /// Transparent: this is the source's own failure, so the chain continues with its cause.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl UserFacing for PasswordFailure {
    fn exit_code(&self) -> ExitCode {
        self.code
    }
}

/// The remedy of a [`ConfigDirError::Misplaced`] refusal: what the user runs to move it.
pub const MOVE_MISPLACED_REMEDY: &str =
    "run `msgraph-keystore setup --move-misplaced-settings` to move it to elasticsearch.yml";

/// One config directory could not be opened, planned, probed or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigDirError {
    /// `--config` names something that is not a directory.
    #[error("{} is not a directory; pass an Elasticsearch config directory with --config", dir.display())]
    NotADirectory { dir: PathBuf },
    /// `--config` cannot be read (missing, no permission).
    #[error("config directory {} cannot be read ({source}); pass an existing Elasticsearch config directory with --config", dir.display())]
    DirUnreadable {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `elasticsearch.yml` was read, but the state of its file could not be taken.
    #[error("cannot read {}: {source}", path.display())]
    YmlUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `elasticsearch.yml` changed under every attempt to read it consistently.
    #[error("{} kept changing while it was read (another program is writing it); run the command again when it is done", path.display())]
    YmlKeptChanging { path: PathBuf },
    /// The realm's non-secure settings sit in the keystore: Elasticsearch refuses to start
    /// with them there. The message uses Elasticsearch's own words, so a search for the
    /// startup error finds this one too.
    #[error("{}: Setting [{}] is a non-secure setting and must be stored inside elasticsearch.yml, but was found inside the Elasticsearch keystore{}; {remedy}, or remove it with `msgraph-keystore keystore remove {}`",
        keystore.display(), first(settings), others(settings), first(settings))]
    Misplaced {
        /// The keystore holding them.
        keystore: PathBuf,
        /// At least one setting name.
        settings: Vec<String>,
        remedy: &'static str,
    },
    /// The protected keystore's password could not be had.
    #[error(transparent)]
    Password(#[from] PasswordFailure),
    /// Another program changed the file each time this run read it and made its change again.
    #[error("{} was changed by another program while this command ran, again each time it was read; run the command again when that program is done", path.display())]
    ChangedMeanwhile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file cannot be replaced by a rename (immutable, read-only mount, busy, …).
    #[error("cannot replace {}: {}", path.display(), why_not_replaceable(source))]
    NotReplaceable {
        path: PathBuf,
        /// Carries an `fsutil::NotReplaceable` saying why.
        #[source]
        source: std::io::Error,
    },
    /// The file is a single-file bind mount (`docker run -v`, a Kubernetes subPath).
    #[error("cannot replace {}: it is a mount point of its own (a single-file bind mount such as `docker run -v`, or a Kubernetes subPath) and cannot be renamed over ({source}); mount its directory instead of the single file", path.display())]
    MountPoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Replacing the file would give it another owner.
    #[error("{}: replacing it would change its owner (uid {owner_uid}); run as that user", path.display())]
    OwnerChange {
        path: PathBuf,
        owner_uid: u32,
        #[source]
        source: std::io::Error,
    },
    /// Writing was refused: no permission, or a read-only file system.
    #[error("cannot write {}: {source}", path.display())]
    WriteRefused {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing failed for another reason (disk full, I/O error, …).
    #[error("cannot write {}: {source}", path.display())]
    WriteFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A bug: a state the commit's own bookkeeping rules out.
    #[error("{0}")]
    Internal(&'static str),
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    #[error(transparent)]
    EsConfig(#[from] EsConfigError),
}

/// The reason an `fsutil` refusal carries (the variant is only built when there is one).
fn why_not_replaceable(err: &std::io::Error) -> String {
    match crate::fsutil::not_replaceable(err) {
        Some(why) => why.to_string(),
        None => err.to_string(),
    }
}

fn first(settings: &[String]) -> &str {
    settings.first().map(String::as_str).unwrap_or_default()
}

fn others(settings: &[String]) -> String {
    match settings.len() {
        0 | 1 => String::new(),
        n => format!(" (and {} more: [{}])", n - 1, settings[1..].join("], [")),
    }
}

impl ConfigDirError {
    /// The refusal for the realm's non-secure settings found in `dir`'s keystore.
    pub fn misplaced(dir: &Path, settings: Vec<String>, remedy: &'static str) -> Self {
        ConfigDirError::Misplaced {
            keystore: keystore::keystore_path(dir),
            settings,
            remedy,
        }
    }

    /// What a failed write of `path` means for the user: the file-system refusals a user can
    /// act on each have their own variant; the rest is an I/O error.
    pub fn write(path: &Path, err: std::io::Error) -> Self {
        let path = path.to_path_buf();
        if crate::fsutil::changed_since_read(&err) {
            return ConfigDirError::ChangedMeanwhile { path, source: err };
        }
        if crate::fsutil::not_replaceable(&err).is_some() {
            return ConfigDirError::NotReplaceable { path, source: err };
        }
        if crate::fsutil::is_mount_point_error(&err) {
            return ConfigDirError::MountPoint { path, source: err };
        }
        if let Some(refused) = crate::fsutil::owner_change(&err) {
            return ConfigDirError::OwnerChange {
                path,
                owner_uid: refused.owner_uid,
                source: err,
            };
        }
        match err.kind() {
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                ConfigDirError::WriteRefused { path, source: err }
            }
            _ => ConfigDirError::WriteFailed { path, source: err },
        }
    }
}

impl UserFacing for ConfigDirError {
    fn exit_code(&self) -> ExitCode {
        match self {
            ConfigDirError::NotADirectory { .. }
            | ConfigDirError::DirUnreadable { .. }
            | ConfigDirError::Misplaced { .. }
            | ConfigDirError::NotReplaceable { .. }
            | ConfigDirError::MountPoint { .. }
            | ConfigDirError::OwnerChange { .. }
            | ConfigDirError::WriteRefused { .. } => ExitCode::Config,
            ConfigDirError::YmlUnreadable { .. } | ConfigDirError::WriteFailed { .. } => {
                ExitCode::IoError
            }
            ConfigDirError::YmlKeptChanging { .. } | ConfigDirError::ChangedMeanwhile { .. } => {
                ExitCode::TempFail
            }
            ConfigDirError::Internal(_) => ExitCode::Software,
            ConfigDirError::Password(e) => e.exit_code(),
            ConfigDirError::Keystore(e) => e.exit_code(),
            ConfigDirError::EsConfig(e) => e.exit_code(),
        }
    }
}

/// The all-or-none write of several config directories failed; says what was replaced.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// A directory could not be planned: nothing was prepared or written.
    #[error(transparent)]
    Plan(Box<ConfigDirError>),
    /// Failed before any rename: every directory is as it was.
    #[error("{source}; nothing was changed in any config directory")]
    NothingChanged {
        #[source]
        source: Box<ConfigDirError>,
    },
    /// A rename failed after others succeeded.
    #[error(
        "{source}; already replaced: {}; run the command again to finish the others",
        list(replaced)
    )]
    PartlyReplaced {
        #[source]
        source: Box<ConfigDirError>,
        replaced: Vec<PathBuf>,
    },
    /// Every file was renamed, but a directory could not be synced afterwards.
    #[error("{source}; every file was replaced ({}), but a crash or power loss now could undo some of the renames: run the command again to make sure", list(replaced))]
    NotDurable {
        #[source]
        source: Box<ConfigDirError>,
        replaced: Vec<PathBuf>,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl CommitError {
    /// Files already renamed into place when it failed; empty means nothing changed in any
    /// config directory.
    pub fn replaced(&self) -> &[PathBuf] {
        match self {
            CommitError::Plan(_) | CommitError::NothingChanged { .. } => &[],
            CommitError::PartlyReplaced { replaced, .. }
            | CommitError::NotDurable { replaced, .. } => replaced,
        }
    }

    /// The directory's own failure, without what the commit adds.
    pub fn cause(&self) -> &ConfigDirError {
        match self {
            CommitError::Plan(e) => e.as_ref(),
            CommitError::NothingChanged { source }
            | CommitError::PartlyReplaced { source, .. }
            | CommitError::NotDurable { source, .. } => source,
        }
    }
}

impl UserFacing for CommitError {
    fn exit_code(&self) -> ExitCode {
        self.cause().exit_code()
    }
}

/// What happened to the secret a failed run added (see [`super::remove_unused_secret`]).
#[derive(Debug)]
pub enum SecretCleanup {
    /// The run added none.
    NoneAdded,
    /// Removed from the application again.
    Removed { key_id: String },
    /// Could not be removed: the user has to.
    NotRemoved {
        key_id: String,
        error: Box<ProvisionError>,
    },
}

impl std::fmt::Display for SecretCleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretCleanup::NoneAdded => f.write_str("no client secret was added"),
            SecretCleanup::Removed { key_id } => write!(
                f,
                "the new client secret (keyId {key_id}) was removed from the application again"
            ),
            SecretCleanup::NotRemoved { key_id, error } => write!(
                f,
                "the new client secret (keyId {key_id}) could not be removed ({error}); remove it under the application's Certificates & secrets"
            ),
        }
    }
}

/// A `setup` run failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    ConfigDir(#[from] ConfigDirError),
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// Two config directories name different applications or tenants for the realm.
    #[error("the config directories disagree on the realm's {setting} ({first} vs {other} in {}); make them agree or set them up separately", yml.display())]
    DirsDisagree {
        setting: &'static str,
        first: String,
        other: String,
        yml: PathBuf,
    },
    /// The pre-flight probe found a file that cannot be written; the tenant was not touched.
    #[error("{source}; nothing was changed in the tenant or any config directory")]
    NotWritable {
        #[source]
        source: ConfigDirError,
    },
    /// The configured secret could not be checked (not a verdict on the secret).
    #[error("cannot check the realm's configured client secret (client_id {client_id}, tenant_id {tenant_id} from elasticsearch.yml): {source}")]
    ConfiguredSecretUnchecked {
        client_id: String,
        tenant_id: String,
        #[source]
        source: Box<VerifyError>,
    },
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// Writing failed; the run added no secret.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// Writing failed after some keystore took the new secret, which is therefore kept.
    #[error("{source}; the new client secret (keyId {key_id}) is kept because some keystores already hold it")]
    CommitNewSecretKept {
        #[source]
        source: CommitError,
        key_id: String,
    },
    /// Writing failed before any keystore took the new secret; `cleanup` says what became of it.
    #[error("{source}; {cleanup}")]
    CommitNewSecretUnused {
        #[source]
        source: CommitError,
        cleanup: SecretCleanup,
    },
    /// Everything was written; only the final proof failed.
    #[error("{source}; the tenant and the config directories were updated ({files_written} file(s) written): check again later with `msgraph-keystore verify`")]
    VerifyAfterWrite {
        #[source]
        source: Box<VerifyError>,
        files_written: usize,
    },
}

impl UserFacing for SetupError {
    fn exit_code(&self) -> ExitCode {
        match self {
            SetupError::ConfigDir(e) | SetupError::NotWritable { source: e } => e.exit_code(),
            SetupError::Keystore(e) => e.exit_code(),
            SetupError::DirsDisagree { .. } => ExitCode::Config,
            SetupError::ConfiguredSecretUnchecked { source, .. }
            | SetupError::VerifyAfterWrite { source, .. } => source.exit_code(),
            SetupError::Provision(e) => e.exit_code(),
            SetupError::Commit(e)
            | SetupError::CommitNewSecretKept { source: e, .. }
            | SetupError::CommitNewSecretUnused { source: e, .. } => e.exit_code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::io;

    use super::*;

    fn io_kind(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "refused by the test")
    }

    #[test]
    fn a_write_failure_is_told_apart_by_what_the_user_can_do_and_keeps_its_cause() {
        let path = Path::new("/etc/es/elasticsearch.yml");
        let cases = [
            (io_kind(io::ErrorKind::PermissionDenied), ExitCode::Config),
            (io_kind(io::ErrorKind::ReadOnlyFilesystem), ExitCode::Config),
            (io_kind(io::ErrorKind::StorageFull), ExitCode::IoError),
        ];
        for (err, code) in cases {
            let kind = err.kind();
            let e = ConfigDirError::write(path, err);
            assert_eq!(e.exit_code(), code, "{kind:?}");
            assert_eq!(
                e.to_string(),
                "cannot write /etc/es/elasticsearch.yml: refused by the test"
            );
            let source = e.source().and_then(|s| s.downcast_ref::<io::Error>());
            assert_eq!(source.map(io::Error::kind), Some(kind));
        }
        let changed = io::Error::other(crate::fsutil::ChangedSinceRead {
            path: path.to_path_buf(),
        });
        let e = ConfigDirError::write(path, changed);
        assert!(
            matches!(e, ConfigDirError::ChangedMeanwhile { .. }),
            "{e:?}"
        );
        assert_eq!(e.exit_code(), ExitCode::TempFail);
    }

    #[test]
    fn a_commit_failure_says_what_was_replaced_and_keeps_the_directorys_error() {
        let replaced = vec![
            PathBuf::from("/a/elasticsearch.yml"),
            PathBuf::from("/a/elasticsearch.keystore"),
        ];
        let cause = || {
            ConfigDirError::write(
                Path::new("/b/elasticsearch.yml"),
                io_kind(io::ErrorKind::StorageFull),
            )
        };
        let partly = CommitError::PartlyReplaced {
            source: Box::new(cause()),
            replaced: replaced.clone(),
        };
        assert_eq!(partly.replaced(), replaced.as_slice());
        assert_eq!(partly.exit_code(), ExitCode::IoError);
        assert_eq!(
            partly.to_string(),
            "cannot write /b/elasticsearch.yml: refused by the test; already replaced: /a/elasticsearch.yml, /a/elasticsearch.keystore; run the command again to finish the others"
        );
        // The directory's own error stays typed (`cause`) and is the next link of the chain.
        assert!(matches!(partly.cause(), ConfigDirError::WriteFailed { .. }));
        assert_eq!(
            partly.source().map(|s| s.to_string()),
            Some(cause().to_string())
        );
        let nothing = CommitError::NothingChanged {
            source: Box::new(cause()),
        };
        assert!(nothing.replaced().is_empty());
        assert!(nothing
            .to_string()
            .ends_with("; nothing was changed in any config directory"));
        let durable = CommitError::NotDurable {
            source: Box::new(cause()),
            replaced,
        };
        assert!(durable
            .to_string()
            .contains("every file was replaced (/a/elasticsearch.yml, /a/elasticsearch.keystore)"));
    }

    #[test]
    fn a_password_failure_passes_through_with_the_code_its_source_chose() {
        #[derive(Debug, thiserror::Error)]
        #[error("no terminal to ask the keystore password on")]
        struct NoTerminal;
        let e = ConfigDirError::from(PasswordFailure::new(ExitCode::Usage, NoTerminal));
        assert_eq!(e.exit_code(), ExitCode::Usage);
        assert_eq!(e.to_string(), "no terminal to ask the keystore password on");
        match &e {
            ConfigDirError::Password(p) => assert!(p.inner().is::<NoTerminal>()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn misplaced_settings_are_refused_in_elasticsearchs_words() {
        let one = ConfigDirError::misplaced(
            Path::new("/etc/es"),
            vec!["a.client_id".to_string()],
            MOVE_MISPLACED_REMEDY,
        );
        assert_eq!(
            one.to_string(),
            "/etc/es/elasticsearch.keystore: Setting [a.client_id] is a non-secure setting and must be stored inside elasticsearch.yml, but was found inside the Elasticsearch keystore; run `msgraph-keystore setup --move-misplaced-settings` to move it to elasticsearch.yml, or remove it with `msgraph-keystore keystore remove a.client_id`"
        );
        assert_eq!(one.exit_code(), ExitCode::Config);
        let three = ConfigDirError::misplaced(
            Path::new("/etc/es"),
            vec!["a".to_string(), "b".to_string(), "c".to_string()],
            MOVE_MISPLACED_REMEDY,
        );
        assert!(
            three
                .to_string()
                .contains("keystore (and 2 more: [b], [c]);"),
            "{three}"
        );
    }
}

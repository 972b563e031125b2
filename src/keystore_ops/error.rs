//! What can go wrong in a keystore command's operation, one variant per failure a user can
//! tell apart, each with its exit code (the messages are the ones `elasticsearch-keystore`
//! users and our CLI tests know).

use std::io;
use std::path::PathBuf;

use crate::exit::{ExitCode, UserFacing};
use crate::keystore::{FormatVersion, KeystoreError};
use crate::secret_file::SecretOutputError;

#[derive(Debug, thiserror::Error)]
pub enum KeystoreOpsError {
    #[error("no Elasticsearch config directory given: pass --config DIR or set ES_PATH_CONF")]
    NoConfigDir,
    #[error("the config directory must not be empty: pass --config DIR or set ES_PATH_CONF")]
    EmptyConfigDir,
    #[error("cannot resolve the config directory [{}]: {source}", dir.display())]
    UnresolvableConfigDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the config directory [{}] does not exist or is not a directory: pass --config DIR or set ES_PATH_CONF to Elasticsearch's config directory", dir.display())]
    NoSuchConfigDir { dir: PathBuf },
    /// Elasticsearch refuses to start with one of the realm's yml-only settings in the keystore.
    #[error("Setting [{name}] is a non-secure setting and belongs in elasticsearch.yml, not in the keystore: Elasticsearch would refuse to start with it in the keystore; nothing was saved")]
    NonSecureSetting { name: String },
    /// An `add-file` setting name that is not even UTF-8 (shown lossily).
    #[error(
        "Setting name [{name}] does not match the allowed setting name pattern [[A-Za-z0-9_\\-.]+]"
    )]
    NameNotUtf8 { name: String },
    #[error("invalid --format-version [{given}]: format {version} (Elasticsearch 6.3-6.7) can be read but not written; choose 4 (Elasticsearch 6.8/7.x), 5 (8.0-8.13) or 6 (8.14 and later)")]
    FormatNotWritable {
        given: String,
        version: FormatVersion,
    },
    /// A format-3 keystore is kept as it is rather than rewritten in a format its node may
    /// not read.
    #[error("the keystore [{}] is in format version {}, which this tool reads but does not write; run 'keystore upgrade --format-version 4' first if every node reading it runs Elasticsearch 6.8 or later", path.display(), version.number())]
    KeptInOldFormat {
        path: PathBuf,
        version: FormatVersion,
    },
    #[error("Setting [{name}] does not exist in the keystore.")]
    MissingSetting { name: String },
    #[error("File [{}] does not exist", path.display())]
    ValueFileMissing {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read file [{}]: {source}", path.display())]
    ValueFileUnreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `show -o FILE`: the file would hold a secret, so an existing one is never overwritten.
    #[error(transparent)]
    Output(#[from] SecretOutputError),
    #[error("cannot write the value of [{name}] to [{}]: {source}", path.display())]
    OutputUnwritable {
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
}

impl UserFacing for KeystoreOpsError {
    fn exit_code(&self) -> ExitCode {
        use KeystoreOpsError::*;
        match self {
            NoConfigDir | EmptyConfigDir | FormatNotWritable { .. } => ExitCode::Usage,
            NoSuchConfigDir { .. } | KeptInOldFormat { .. } | MissingSetting { .. } => {
                ExitCode::Config
            }
            NonSecureSetting { .. } | NameNotUtf8 { .. } => ExitCode::DataError,
            UnresolvableConfigDir { .. }
            | ValueFileMissing { .. }
            | ValueFileUnreadable { .. }
            | OutputUnwritable { .. } => ExitCode::IoError,
            Output(e) => e.exit_code(),
            Keystore(e) => e.exit_code(),
        }
    }
}

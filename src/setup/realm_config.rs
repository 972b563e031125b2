//! The realm's connection settings as one config directory's `elasticsearch.yml` holds them:
//! what `verify` and `role-mapping --config` need to sign in exactly as the realm will.

use std::path::{Path, PathBuf};

use crate::cloud::{DEFAULT_ACCESS_TOKEN_HOST, DEFAULT_GRAPH_HOST};
use crate::esconfig::{self, EsYml, RealmYml};
use crate::exit::{ExitCode, UserFacing};
use crate::net::{check_endpoint, NetError};

use super::error::ConfigDirError;

/// The realm's connection settings could not be read from a config directory.
#[derive(Debug, thiserror::Error)]
pub enum RealmConfigError {
    /// A setting the realm cannot do without is missing from `elasticsearch.yml`.
    #[error("{}: [{key}] is not set; run `setup` or add it to elasticsearch.yml", yml.display())]
    NotSet { yml: PathBuf, key: String },
    #[error(transparent)]
    ConfigDir(#[from] ConfigDirError),
    #[error(transparent)]
    EsConfig(#[from] esconfig::EsConfigError),
    /// A host the realm would call is not acceptable.
    #[error(transparent)]
    Endpoint(#[from] NetError),
}

impl UserFacing for RealmConfigError {
    fn exit_code(&self) -> ExitCode {
        match self {
            RealmConfigError::NotSet { .. } => ExitCode::Config,
            RealmConfigError::ConfigDir(e) => e.exit_code(),
            RealmConfigError::EsConfig(e) => e.exit_code(),
            RealmConfigError::Endpoint(e) => e.exit_code(),
        }
    }
}

/// The IDs and hosts the realm will use, with the defaults it applies, checked.
pub struct RealmConnection {
    /// The `elasticsearch.yml` they were read from (for messages).
    pub yml_path: PathBuf,
    pub client_id: String,
    pub tenant_id: String,
    pub access_token_host: String,
    pub graph_host: String,
    /// Everything the yml says about the realm (timeouts, order, …).
    pub settings: RealmYml,
}

/// Read `realm`'s settings from `dir`: a missing `client_id`/`tenant_id` is a config error
/// naming the setting, and a host that is not HTTPS (loopback aside) is refused.
pub fn read_realm_connection(dir: &Path, realm: &str) -> Result<RealmConnection, RealmConfigError> {
    super::local::check_config_dir(dir)?;
    let yml = EsYml::load(dir)?;
    yml.check_realm(realm)?;
    let settings = yml.realm(realm)?;
    let required = |value: &Option<String>, setting: &str| {
        value.clone().ok_or_else(|| RealmConfigError::NotSet {
            yml: yml.path().to_path_buf(),
            key: esconfig::realm_setting_key(realm, setting),
        })
    };
    let client_id = required(&settings.client_id, "client_id")?;
    let tenant_id = required(&settings.tenant_id, "tenant_id")?;
    let access_token_host = settings
        .access_token_host
        .clone()
        .unwrap_or_else(|| DEFAULT_ACCESS_TOKEN_HOST.to_string());
    let graph_host = settings
        .graph_host
        .clone()
        .unwrap_or_else(|| DEFAULT_GRAPH_HOST.to_string());
    for (setting, value) in [
        ("access_token_host", &access_token_host),
        ("graph_host", &graph_host),
    ] {
        check_endpoint(&esconfig::realm_setting_key(realm, setting), value)?;
    }
    Ok(RealmConnection {
        yml_path: yml.path().to_path_buf(),
        client_id,
        tenant_id,
        access_token_host,
        graph_host,
        settings,
    })
}

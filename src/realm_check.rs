//! What the realm commands (`verify`, `role-mapping --config`) decide from a config dir,
//! as the realm itself would: which config dirs, the realm's client secret in the keystore
//! (refused when the keystore also holds the realm's non-secure settings, with which
//! Elasticsearch would not start), the realm's timeouts, a Graph client signed in as the
//! realm, how a verification failure reads when its inputs came from `elasticsearch.yml`,
//! and which principals the realm's lookup will not find. The command line only parses the
//! flags, asks for a keystore password when told to, and prints.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::{AuthError, ClientSecretSource};
use crate::esconfig;
use crate::exit::{ExitCode, UserFacing};
use crate::graph::{GraphClient, GraphError};
use crate::keystore::{self, Keystore, KeystoreError};
use crate::keystore_ops::KeystoreOpsError;
use crate::net::{HttpOptions, NetError};
use crate::secret::SecretString;
use crate::setup::realm_config::RealmConnection;
use crate::setup::verify::{RealmTimeouts, VerifyError, VerifyReport, REALM_SCOPE};

/// What the remedy for misplaced non-secure settings says in `verify`/`role-mapping`: the
/// same as `setup`'s.
const MISPLACED_REMEDY: &str = crate::setup::error::MOVE_MISPLACED_REMEDY;

#[derive(Debug, thiserror::Error)]
pub enum RealmCheckError {
    #[error("no Elasticsearch config directory given: pass --config DIR or set ES_PATH_CONF")]
    NoConfigDir,
    /// The same directory twice would be locked twice by this process and wait for itself.
    #[error("config directory {} is given more than once with --config", dir.display())]
    RepeatedConfigDir { dir: PathBuf },
    #[error("{} does not exist; run `setup` to create it with the realm's client secret", path.display())]
    NoKeystore { path: PathBuf },
    #[error("{} holds no [{key}]; run `setup` (or `keystore add {key}`)", path.display())]
    NoClientSecret { path: PathBuf, key: String },
    /// The keystore holds the realm's non-secure settings: Elasticsearch would not start.
    /// The same refusal `setup` gives (one text, one code), with this command's remedy.
    #[error(transparent)]
    MisplacedSettings(Box<crate::setup::error::ConfigDirError>),
    #[error("{}: [{}] / [{}]: {reason}", yml_path.display(), esconfig::realm_setting_key(realm, "http_request_timeout"), esconfig::realm_setting_key(realm, "execution_timeout"))]
    Timeouts {
        yml_path: PathBuf,
        realm: String,
        reason: String,
    },
    /// The tenant came from `elasticsearch.yml`, not from the caller's environment, so the
    /// remedy names the realm's settings.
    #[error("tenant not found: {detail}; check [{}] in {} (and that [{}] matches the tenant's cloud)", esconfig::realm_setting_key(realm, "tenant_id"), yml_path.display(), esconfig::realm_setting_key(realm, "access_token_host"))]
    TenantNotFound {
        detail: String,
        realm: String,
        yml_path: PathBuf,
        #[source]
        source: Box<VerifyError>,
    },
    /// Principals Microsoft Graph does not know: what the realm will do with them and why
    /// that usually happens.
    #[error("Microsoft Graph does not know {}: the realm [{realm}]'s lookup of such a user fails and the user gets no roles from this realm; the likely cause is the name the authenticating realm hands over (a SAML NameID or claim in another format than the userPrincipalName or object id): make that realm pass the UPN or object id", bracketed(principals))]
    PrincipalsNotFound {
        realm: String,
        principals: Vec<String>,
    },
    #[error(transparent)]
    Verify(Box<VerifyError>),
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    #[error(transparent)]
    KeystoreOps(#[from] KeystoreOpsError),
    #[error(transparent)]
    Auth(Box<AuthError>),
    #[error(transparent)]
    Graph(Box<GraphError>),
    #[error(transparent)]
    Net(#[from] NetError),
}

// The large errors are boxed so every `Result` of this module stays small.
impl From<VerifyError> for RealmCheckError {
    fn from(e: VerifyError) -> Self {
        RealmCheckError::Verify(Box::new(e))
    }
}

impl From<AuthError> for RealmCheckError {
    fn from(e: AuthError) -> Self {
        RealmCheckError::Auth(Box::new(e))
    }
}

impl From<GraphError> for RealmCheckError {
    fn from(e: GraphError) -> Self {
        RealmCheckError::Graph(Box::new(e))
    }
}

fn bracketed(items: &[String]) -> String {
    items
        .iter()
        .map(|p| format!("[{p}]"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl UserFacing for RealmCheckError {
    fn exit_code(&self) -> ExitCode {
        use RealmCheckError::*;
        match self {
            NoConfigDir | RepeatedConfigDir { .. } => ExitCode::Usage,
            NoKeystore { .. } | NoClientSecret { .. } | Timeouts { .. } | TenantNotFound { .. } => {
                ExitCode::Config
            }
            MisplacedSettings(e) => e.exit_code(),
            PrincipalsNotFound { .. } => ExitCode::PrincipalNotFound,
            Verify(e) => e.exit_code(),
            Keystore(e) => e.exit_code(),
            KeystoreOps(e) => e.exit_code(),
            Auth(e) => e.exit_code(),
            Graph(e) => e.exit_code(),
            Net(e) => e.exit_code(),
        }
    }
}

/// The config directories: the `--config` values (each directory once), else `ES_PATH_CONF`
/// (`env`; empty counts as unset).
pub fn config_dirs(
    flags: &[PathBuf],
    env: Option<std::ffi::OsString>,
) -> Result<Vec<PathBuf>, RealmCheckError> {
    if !flags.is_empty() {
        refuse_repeated_dirs(flags)?;
        return Ok(flags.to_vec());
    }
    match env {
        Some(dir) if !dir.is_empty() => Ok(vec![PathBuf::from(dir)]),
        _ => Err(RealmCheckError::NoConfigDir),
    }
}

/// One config directory (`verify`): `--config`, else `ES_PATH_CONF`.
pub fn config_dir(
    flag: Option<&Path>,
    env: Option<std::ffi::OsString>,
) -> Result<PathBuf, RealmCheckError> {
    // `config_dirs` with at most one flag: one rule for where a config directory comes from.
    let flags: Vec<PathBuf> = flag.map(Path::to_path_buf).into_iter().collect();
    config_dirs(&flags, env)?
        .into_iter()
        .next()
        .ok_or(RealmCheckError::NoConfigDir)
}

/// The same directory given twice, in any spelling, is refused.
fn refuse_repeated_dirs(dirs: &[PathBuf]) -> Result<(), RealmCheckError> {
    let mut seen: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        // A directory that cannot be resolved is reported when it is opened.
        let Ok(canonical) = std::fs::canonicalize(dir) else {
            continue;
        };
        if seen.contains(&canonical) {
            return Err(RealmCheckError::RepeatedConfigDir { dir: dir.clone() });
        }
        seen.push(canonical);
    }
    Ok(())
}

/// The realm's client secret from `dir`'s keystore (`None`: there is none), as the realm
/// will read it. A keystore holding the realm's non-secure settings is refused:
/// Elasticsearch would not start with it, so the realm could never use the secret.
pub fn realm_client_secret(
    dir: &Path,
    realm: &str,
    ks: Option<&Keystore>,
) -> Result<SecretString, RealmCheckError> {
    let path = keystore::keystore_path(dir);
    let Some(ks) = ks else {
        return Err(RealmCheckError::NoKeystore { path });
    };
    let misplaced = esconfig::non_secure_keys_in(&ks.names(), Some(realm));
    if !misplaced.is_empty() {
        return Err(RealmCheckError::MisplacedSettings(Box::new(
            crate::setup::local::misplaced_error(dir, &misplaced, MISPLACED_REMEDY),
        )));
    }
    let key = crate::setup::client_secret_key(realm);
    ks.get_string(&key)?
        .ok_or(RealmCheckError::NoClientSecret { path, key })
}

/// How long ago the keystore (and so the secret) was written: an old secret that is refused
/// is wrong, not replicating. `None` when the file's time cannot be read.
pub fn secret_age(dir: &Path) -> Option<Duration> {
    std::fs::metadata(keystore::keystore_path(dir))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
}

/// The realm's timeouts from its settings, as the realm parses them.
pub fn realm_timeouts(
    conn: &RealmConnection,
    realm: &str,
) -> Result<RealmTimeouts, RealmCheckError> {
    RealmTimeouts::from_settings(
        conn.settings.http_request_timeout.as_deref(),
        conn.settings.execution_timeout.as_deref(),
    )
    .map_err(|reason| RealmCheckError::Timeouts {
        yml_path: conn.yml_path.clone(),
        realm: realm.to_owned(),
        reason,
    })
}

/// A verification failure whose inputs came from `yml_path`: a tenant the login endpoint
/// does not know is a mistake in the realm's settings (exit 78), not in the environment.
pub fn from_realm_config(err: VerifyError, realm: &str, yml_path: &Path) -> RealmCheckError {
    let detail = match &err {
        VerifyError::Token(AuthError::TenantNotFound(f)) => f.to_string(),
        _ => return err.into(),
    };
    RealmCheckError::TenantNotFound {
        detail,
        realm: realm.to_owned(),
        yml_path: yml_path.to_path_buf(),
        source: Box::new(err),
    }
}

/// The principals of a finished verification that Graph did not know (and did not refuse),
/// as the error the run ends with; `None` when the report does not end with exit code 6.
pub fn unknown_principals(report: &VerifyReport, realm: &str) -> Option<RealmCheckError> {
    if report.exit_code() != ExitCode::PrincipalNotFound {
        return None;
    }
    Some(RealmCheckError::PrincipalsNotFound {
        realm: realm.to_owned(),
        principals: report
            .principals
            .iter()
            .filter(|p| !p.found && p.refused.is_none())
            .map(|p| p.principal.clone())
            .collect(),
    })
}

/// A Graph client that signs in as the realm does: client id, tenant and hosts from the
/// realm's settings, its scope, and the client secret from the keystore.
pub fn realm_graph(
    conn: &RealmConnection,
    secret: SecretString,
    ca_cert: Option<PathBuf>,
    deadline: Instant,
    request_timeout: Duration,
) -> Result<GraphClient, RealmCheckError> {
    let http = crate::net::build_client(&HttpOptions {
        ca_cert,
        ..HttpOptions::default()
    })?;
    let source = ClientSecretSource::new(
        http.clone(),
        conn.access_token_host.trim_end_matches('/'),
        &conn.tenant_id,
        &conn.client_id,
        secret,
    )?;
    let graph = GraphClient::new(
        http,
        Arc::new(source),
        conn.graph_host.trim_end_matches('/'),
        REALM_SCOPE,
        deadline,
    )?
    .with_request_timeout(request_timeout);
    Ok(graph)
}

//! Flags and helpers shared by the realm commands (`setup`, `rotate`, `verify`, `status`):
//! which config directories and realm, which application, how to reach Graph.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::auth::{self, AuthArgs};
use crate::cli::terminal::{self, Terminal};
use crate::cloud::Endpoints;
use crate::exit::{CliError, ExitCode};
use crate::graph::{EndpointArgs, GraphClient};
use crate::provision::{self, ConsentMode, PermissionSet, ProvisionOptions};
use crate::secret::SecretString;

/// The realm name Elastic's documentation uses in its examples.
pub const DEFAULT_REALM: &str = "microsoft_graph1";

/// Which config directories and which realm.
#[derive(Debug, Clone, clap::Args)]
pub struct RealmDirsArgs {
    /// Elasticsearch config directory; repeat it for several nodes [default: $ES_PATH_CONF].
    #[arg(long = "config", value_name = "DIR")]
    pub config: Vec<PathBuf>,
    /// Name of the microsoft_graph realm (xpack.security.authc.realms.microsoft_graph.NAME).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_REALM)]
    pub realm: String,
    /// File holding the keystore password, for password-protected keystores (KEYSTORE_PASSWORD and KEYSTORE_PASSWORD_FILE work too; else a prompt or the first stdin line).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl RealmDirsArgs {
    /// The config directories: `--config` values, else `$ES_PATH_CONF`.
    pub fn dirs(&self) -> Result<Vec<PathBuf>, CliError> {
        if !self.config.is_empty() {
            refuse_repeated_dirs(&self.config)?;
            return Ok(self.config.clone());
        }
        match std::env::var_os("ES_PATH_CONF") {
            Some(dir) if !dir.is_empty() => Ok(vec![PathBuf::from(dir)]),
            _ => Err(CliError::usage(
                "no Elasticsearch config directory given: pass --config DIR or set ES_PATH_CONF",
            )),
        }
    }

    /// The dirs when given explicitly or through `$ES_PATH_CONF`, else none (for `status`).
    pub fn dirs_if_any(&self) -> Vec<PathBuf> {
        self.dirs().unwrap_or_default()
    }
}

/// The same directory given twice (in any spelling) would be locked twice by this process
/// and wait for itself; it is also surely a mistake.
fn refuse_repeated_dirs(dirs: &[PathBuf]) -> Result<(), CliError> {
    let mut seen: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        // A directory that cannot be resolved is reported when it is opened.
        let Ok(canonical) = std::fs::canonicalize(dir) else {
            continue;
        };
        if seen.contains(&canonical) {
            return Err(CliError::usage(format!(
                "config directory {} is given more than once with --config",
                dir.display()
            )));
        }
        seen.push(canonical);
    }
    Ok(())
}

/// Which application and how it is configured.
#[derive(Debug, Clone, clap::Args)]
pub struct AppArgs {
    /// Display name of the Entra ID application.
    #[arg(long, value_name = "NAME", default_value = provision::DEFAULT_APP_NAME)]
    pub app_name: String,
    /// Use this existing application (client) ID; never create another.
    #[arg(long, value_name = "APP_ID")]
    pub app_id: Option<String>,
    /// Microsoft Graph application permissions to request and grant.
    #[arg(long, value_enum, default_value_t = PermissionSet::Default)]
    pub permissions: PermissionSet,
    /// Lifetime of a new client secret, in days (e.g. 180 or 180d).
    #[arg(long, value_name = "DAYS", default_value = "180", value_parser = parse_days)]
    pub secret_lifetime: u32,
    /// Do not grant admin consent (an administrator grants it later).
    #[arg(long)]
    pub no_consent: bool,
    /// Cluster name used in the client secret's display name [default: cluster.name from elasticsearch.yml, else "elasticsearch"].
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,
}

impl AppArgs {
    /// Provisioning options for these flags; `label` names the cluster and realm the secret is for.
    pub fn provision_options(&self, endpoints: &Endpoints, label: &str) -> ProvisionOptions {
        let mut opts = ProvisionOptions::for_endpoints(endpoints).with_app_name(&self.app_name);
        opts.app_id = self.app_id.clone();
        opts.permissions = self.permissions;
        opts.secret_lifetime_days = self.secret_lifetime;
        opts.credential_name = provision::secret_display_name(label);
        opts.consent = if self.no_consent {
            ConsentMode::Skip
        } else {
            ConsentMode::Grant
        };
        opts
    }

    /// `<cluster>/<realm>`: the label in the secret's display name, which `rotate` uses to
    /// find the secrets this tool made for the realm.
    pub fn secret_label(&self, first_dir: Option<&Path>, realm: &str) -> String {
        let cluster = self
            .cluster_name
            .clone()
            .or_else(|| {
                first_dir
                    .and_then(|d| crate::esconfig::EsYml::load(d).ok())
                    // As Elasticsearch reads it; as written when a placeholder does not resolve here.
                    .and_then(|yml| {
                        yml.get_resolved("cluster.name")
                            .unwrap_or_else(|_| yml.get("cluster.name"))
                    })
            })
            .unwrap_or_else(|| "elasticsearch".to_string());
        format!("{cluster}/{realm}")
    }
}

/// Parse `180` or `180d` into days (1..=3650).
pub fn parse_days(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t.strip_suffix('d').unwrap_or(t);
    match digits.parse::<u32>() {
        Ok(n) if (1..=3650).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a number of days between 1 and 3650 (e.g. 180 or 180d)"
        )),
    }
}

/// A Graph client and what it was built from.
pub struct Connection {
    pub http: reqwest::Client,
    pub endpoints: Endpoints,
    pub graph: GraphClient,
}

/// Resolve endpoints, build the HTTP client, pick the token source, and say which one.
pub fn connect(
    auth_args: &AuthArgs,
    endpoint_args: &EndpointArgs,
    announce: bool,
) -> Result<Connection, CliError> {
    let (endpoints, http_options, deadline) = endpoint_args.resolve()?;
    let http = crate::net::build_client(&http_options)?;
    let source = auth::select(auth_args, &endpoints, http.clone())?;
    if announce {
        eprintln!("Authenticating with {}", source.describe());
    }
    let graph = GraphClient::new(
        http.clone(),
        Arc::from(source),
        &endpoints.graph_host,
        &endpoints.scope,
        deadline,
    )?
    .with_request_timeout(endpoint_args.request_timeout);
    Ok(Connection {
        http,
        endpoints,
        graph,
    })
}

/// A keystore password source for several config directories: asks once (file, env,
/// prompt or stdin, in the keystore commands' order) and reuses the answer.
pub fn password_source(
    term: &mut Terminal,
    password_file: Option<PathBuf>,
) -> impl FnMut(&Path) -> Result<SecretString, CliError> + '_ {
    let mut cached: Option<SecretString> = None;
    move |_dir: &Path| {
        if let Some(pw) = &cached {
            return Ok(pw.clone());
        }
        let pw = terminal::read_keystore_password(term, password_file.as_deref())?;
        cached = Some(pw.clone());
        Ok(pw)
    }
}

/// A config directory's keystore opened for reading (`verify`, `status`), asking `password`
/// only when it is protected; `None` when the directory has no keystore.
pub fn open_keystore_read_only(
    dir: &Path,
    password: &mut dyn FnMut(&Path) -> Result<SecretString, CliError>,
) -> Result<Option<crate::keystore::Keystore>, CliError> {
    let Some(header) = crate::keystore::read_header(dir)? else {
        return Ok(None);
    };
    let pw = if header.has_password {
        password(dir)?
    } else {
        SecretString::from(String::new())
    };
    Ok(Some(crate::keystore::load_read_only(dir, &pw)?))
}

/// Output format of the realm commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable summary.
    Text,
    /// One JSON document on stdout (never holds a secret).
    Json,
}

/// Print `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| {
        CliError::new(
            ExitCode::Software,
            format!("cannot encode JSON output: {e}"),
        )
    })?;
    println!("{text}");
    Ok(())
}

/// The realm's client secret from `dir`'s keystore, as the realm will read it (`verify`,
/// `role-mapping --config`). A keystore holding the realm's non-secure settings is refused:
/// Elasticsearch would not start with it, so the realm could never use the secret.
pub fn realm_client_secret(
    dir: &Path,
    realm: &str,
    password_file: Option<PathBuf>,
    global: &super::GlobalOpts,
) -> Result<SecretString, CliError> {
    let key = crate::setup::client_secret_key(realm);
    let path = crate::keystore::keystore_path(dir);
    let mut term = Terminal::stdio(global.verbosity());
    let mut password = password_source(&mut term, password_file);
    let ks = open_keystore_read_only(dir, &mut password)?.ok_or_else(|| {
        CliError::new(
            ExitCode::Config,
            format!(
                "{} does not exist; run `setup` to create it with the realm's client secret",
                path.display()
            ),
        )
    })?;
    let misplaced = crate::esconfig::non_secure_keys_in(&ks.names(), Some(realm));
    if !misplaced.is_empty() {
        return Err(crate::setup::local::misplaced_error(
            dir,
            &misplaced,
            "run `msgraph-keystore setup --move-misplaced-settings` to move it to elasticsearch.yml",
        )
        .into());
    }
    ks.get_string(&key)?.ok_or_else(|| {
        CliError::new(
            ExitCode::Config,
            format!(
                "{} holds no [{key}]; run `setup` (or `keystore add {key}`)",
                path.display()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_accept_plain_and_suffixed_numbers() {
        assert_eq!(parse_days("180"), Ok(180));
        assert_eq!(parse_days("30d"), Ok(30));
        assert!(parse_days("0").is_err());
        assert!(parse_days("5000").is_err());
        assert!(parse_days("six months").is_err());
    }
}

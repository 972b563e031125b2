//! `verify`: read the realm's settings from a config directory and prove they work.

use std::path::PathBuf;
use std::time::Duration;

use super::realm_args::{self, OutputFormat};
use super::terminal::Terminal;
use super::{GlobalOpts, Verbosity};
use crate::cloud::{DEFAULT_ACCESS_TOKEN_HOST, DEFAULT_GRAPH_HOST};
use crate::esconfig::{self, EsYml};
use crate::exit::{CliError, ExitCode};
use crate::graph::parse_duration;
use crate::keystore;
use crate::net::{check_endpoint, HttpOptions};
use crate::provision::{NoProgress, PermissionSet, Progress, StderrProgress};
use crate::secret::SecretString;
use crate::setup::verify::{self, VerifyInput, VerifyReport};

/// Prove the realm's credentials work, exactly as the realm will use them, before a restart.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  msgraph-keystore verify --config /etc/elasticsearch --realm microsoft_graph1\n\nExit codes: 0 ok, 4 credentials rejected, 5 permissions missing (admin consent), 69 unreachable, 65/78 local configuration, 70 a password-protected keystore and no password given (--password-file, KEYSTORE_PASSWORD, KEYSTORE_PASSWORD_FILE); all codes: docs/exit-codes.md."
)]
pub struct VerifyArgs {
    /// Elasticsearch config directory [default: $ES_PATH_CONF].
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Name of the microsoft_graph realm.
    #[arg(long, value_name = "NAME", default_value = realm_args::DEFAULT_REALM)]
    pub realm: String,
    /// File holding the keystore password, for a password-protected keystore.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// The permission set the realm should have.
    #[arg(long, value_enum, default_value_t = PermissionSet::Default)]
    pub permissions: PermissionSet,
    /// How long to keep retrying while a brand-new secret replicates.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub wait: Duration,
    /// Extra PEM CA bundle to trust (SSL_CERT_FILE is honoured too).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

pub async fn run(args: VerifyArgs, global: &GlobalOpts) -> Result<ExitCode, CliError> {
    crate::setup::check_realm_name(&args.realm)?;
    let dir = match &args.config {
        Some(d) => d.clone(),
        None => realm_args::RealmDirsArgs {
            config: vec![],
            realm: args.realm.clone(),
            password_file: None,
        }
        .dirs()?
        .remove(0),
    };
    crate::setup::local::check_config_dir(&dir)?;
    let yml = EsYml::load(&dir)?;
    yml.check_realm(&args.realm)?;
    let realm = yml.realm(&args.realm)?;
    let missing = |setting: &str| {
        CliError::new(
            ExitCode::Config,
            format!(
                "{}: [{}] is not set; run `setup` or add it to elasticsearch.yml",
                yml.path().display(),
                esconfig::realm_setting_key(&args.realm, setting)
            ),
        )
    };
    let client_id = realm
        .client_id
        .clone()
        .ok_or_else(|| missing("client_id"))?;
    let tenant_id = realm
        .tenant_id
        .clone()
        .ok_or_else(|| missing("tenant_id"))?;
    let access_token_host = realm
        .access_token_host
        .clone()
        .unwrap_or_else(|| DEFAULT_ACCESS_TOKEN_HOST.to_string());
    let graph_host = realm
        .graph_host
        .clone()
        .unwrap_or_else(|| DEFAULT_GRAPH_HOST.to_string());
    check_endpoint(
        &esconfig::realm_setting_key(&args.realm, "access_token_host"),
        &access_token_host,
    )?;
    check_endpoint(
        &esconfig::realm_setting_key(&args.realm, "graph_host"),
        &graph_host,
    )?;

    let secret = read_secret(&dir, &args.realm, args.password_file.clone(), global)?;
    let http = crate::net::build_client(&HttpOptions {
        ca_cert: args.ca_cert.clone(),
        ..HttpOptions::default()
    })?;
    let progress: Box<dyn Progress> = if global.verbosity() == Verbosity::Silent {
        Box::new(NoProgress)
    } else {
        Box::new(StderrProgress::new())
    };
    let report = verify::verify(
        &http,
        &VerifyInput {
            access_token_host: access_token_host.trim_end_matches('/'),
            graph_host: graph_host.trim_end_matches('/'),
            tenant_id: &tenant_id,
            client_id: &client_id,
            client_secret: &secret,
            required_roles: args.permissions.role_values(),
            replication_wait: args.wait,
            retry_interval: Duration::from_secs(3),
            progress: progress.as_ref(),
        },
    )
    .await?;
    match args.output {
        OutputFormat::Json => realm_args::print_json(&report)?,
        OutputFormat::Text if global.verbosity() > Verbosity::Silent => {
            print!("{}", render_report(&report));
            if !report.missing_roles().is_empty() {
                let mut endpoints = crate::cloud::Cloud::Global.endpoints();
                endpoints.access_token_host = access_token_host.clone();
                println!(
                    "{}",
                    crate::provision::admin_consent_instructions(
                        &tenant_id, &client_id, &endpoints
                    )
                );
            }
        }
        OutputFormat::Text => {}
    }
    Ok(report.exit_code())
}

/// The realm's client secret from the keystore of `dir`.
fn read_secret(
    dir: &std::path::Path,
    realm: &str,
    password_file: Option<PathBuf>,
    global: &GlobalOpts,
) -> Result<SecretString, CliError> {
    let key = crate::setup::client_secret_key(realm);
    let mut term = Terminal::stdio(global.verbosity());
    let mut password = realm_args::password_source(&mut term, password_file);
    let ks = realm_args::open_keystore_read_only(dir, &mut password)?.ok_or_else(|| {
        CliError::new(
            ExitCode::Config,
            format!(
                "{} does not exist; run `setup` to create it with the realm's client secret",
                keystore::keystore_path(dir).display()
            ),
        )
    })?;
    // Elasticsearch would not even start with these: the realm could never use the secret.
    let misplaced = esconfig::non_secure_keys_in(&ks.names(), Some(realm));
    if !misplaced.is_empty() {
        return Err(crate::setup::local::misplaced_error(
            dir,
            &misplaced,
            "run `msgraph-keystore setup --move-misplaced-settings` to move it to elasticsearch.yml",
        ));
    }
    ks.get_string(&key)?.ok_or_else(|| {
        CliError::new(
            ExitCode::Config,
            format!(
                "{} holds no [{key}]; run `setup` (or `keystore add {key}`)",
                keystore::keystore_path(dir).display()
            ),
        )
    })
}

/// A human-readable verification report.
pub fn render_report(report: &VerifyReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "  verify: token issued to the realm's credentials{}\n",
        if report.token_attempts > 1 {
            format!(
                " (after {} attempts while the new secret replicated)",
                report.token_attempts
            )
        } else {
            String::new()
        }
    ));
    for role in &report.roles {
        out.push_str(&format!(
            "  verify: permission {} {}\n",
            role.permission,
            if role.granted { "granted" } else { "MISSING" }
        ));
    }
    for call in &report.calls {
        out.push_str(&format!(
            "  verify: {} {} ({})\n",
            call.call,
            if call.ok { "ok" } else { "FAILED" },
            call.detail
        ));
    }
    out.push_str(match report.exit_code() {
        ExitCode::Ok => "  verify: the realm's credentials work\n",
        _ => "  verify: the realm's application lacks permissions: grant admin consent\n",
    });
    out
}

//! `verify`: read the realm's settings from a config directory and prove they work.

use std::path::PathBuf;
use std::time::Duration;

use super::realm_args::{self, OutputFormat};
use super::{GlobalOpts, Verbosity};
use crate::exit::{CliError, ExitCode, UserFacing};
use crate::graph::parse_duration;
use crate::net::HttpOptions;
use crate::provision::{NoProgress, PermissionSet, Progress, StderrProgress};
use crate::realm_check;
use crate::setup::realm_config::{read_realm_connection, RealmConnection};
use crate::setup::verify::{self, VerifyInput, VerifyReport};

/// Longest principal accepted: Entra UPNs are at most 113 characters; a NameID may be longer,
/// but nothing sensible is longer than this.
const MAX_PRINCIPAL_LEN: usize = 1024;

/// Prove the realm's credentials work, exactly as the realm will use them, before a restart.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  msgraph-keystore verify --config /etc/elasticsearch --realm microsoft_graph1\n  msgraph-keystore verify --config /etc/elasticsearch --principal ada@contoso.com --output json\n\nWith --principal, verify makes the realm's own two Graph calls for that user (all pages) and prints the groups the realm would hand to role mapping. Without it, it checks the token's permissions with a probe that is not the realm's lookup.\n\nExit codes: 0 ok, 4 credentials rejected, 5 permissions missing (admin consent), 6 a principal Graph does not know, 69 unreachable, 75 execution_timeout ran out, 65/78 local configuration, 70 a password-protected keystore and no password given (--password-file, KEYSTORE_PASSWORD, KEYSTORE_PASSWORD_FILE); all codes: docs/exit-codes.md."
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
    /// Look this user up exactly as the realm will (the name the authenticating realm hands
    /// over: UPN or object id). Repeatable.
    #[arg(long = "principal", value_name = "USER")]
    pub principals: Vec<String>,
    /// The permission set the realm should have [default: the set the token shows the app
    /// was given].
    #[arg(long, value_enum)]
    pub permissions: Option<PermissionSet>,
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
    let dir = realm_check::config_dir(args.config.as_deref(), std::env::var_os("ES_PATH_CONF"))?;
    let conn = read_realm_connection(&dir, &args.realm)?;

    if let Some(bad) = args
        .principals
        .iter()
        .find(|p| p.trim().is_empty() || p.len() > MAX_PRINCIPAL_LEN)
    {
        return Err(CliError::usage(format!(
            "--principal `{}` is not a user name: give the UPN or object id the authenticating realm hands over (at most {MAX_PRINCIPAL_LEN} characters)",
            bad.chars().take(80).collect::<String>()
        )));
    }
    let timeouts = realm_check::realm_timeouts(&conn, &args.realm)?;

    let secret =
        realm_args::realm_client_secret(&dir, &args.realm, args.password_file.clone(), global)?;
    let secret_age = realm_check::secret_age(&dir);
    let RealmConnection {
        yml_path,
        client_id,
        tenant_id,
        access_token_host,
        graph_host,
        settings: _,
    } = conn;
    let http = crate::net::build_client(&HttpOptions {
        ca_cert: args.ca_cert.clone(),
        // The realm's per-call timeout covers its token request too.
        request_timeout: timeouts.per_request(),
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
            required_roles: args.permissions.map(PermissionSet::role_values),
            replication_wait: args.wait,
            retry_interval: Duration::from_secs(3),
            progress: progress.as_ref(),
            secret_age,
            granted_this_run: false,
            principals: &args.principals,
            timeouts,
        },
    )
    .await
    .map_err(|e| realm_check::from_realm_config(e, &args.realm, &yml_path))?;
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
    // The report is printed in full first; the ERROR line for unknown principals follows it.
    if let Some(unknown) = realm_check::unknown_principals(&report, &args.realm) {
        eprintln!(
            "ERROR: {unknown}, with exit code {}",
            unknown.exit_code().code()
        );
    }
    Ok(report.exit_code())
}

/// A human-readable verification report.
pub fn render_report(report: &VerifyReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "  verify: token issued to the realm's credentials{}\n",
        if report.token_attempts > 1 {
            format!(
                " (after {} attempts while new credentials or grants replicated)",
                report.token_attempts
            )
        } else {
            String::new()
        }
    ));
    out.push_str(&format!(
        "  verify: permission set {} (from {})\n",
        match report.permission_set {
            PermissionSet::Default => "default",
            PermissionSet::LeastPrivilege => "least-privilege",
        },
        if report.permission_source == "token" {
            "the roles in the realm's token"
        } else {
            "--permissions"
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
            "  verify: permission probe (not the realm's lookup) {} {} ({})\n",
            call.call,
            if call.ok { "ok" } else { "FAILED" },
            call.detail
        ));
    }
    for p in &report.principals {
        render_principal(&mut out, p);
    }
    out.push_str(match report.exit_code() {
        ExitCode::Ok if report.principals.is_empty() => {
            "  verify: the realm's credentials work (name users with --principal to run the realm's own lookup)\n"
        }
        ExitCode::Ok => "  verify: the realm's credentials work and its lookup finds every principal\n",
        ExitCode::PrincipalNotFound => {
            "  verify: the realm's credentials work, but Graph does not know every principal\n"
        }
        _ => "  verify: the realm's application lacks permissions: grant admin consent\n",
    });
    out
}

fn render_principal(out: &mut String, p: &verify::PrincipalReport) {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    if let Some(why) = &p.refused {
        out.push_str(&format!(
            "  principal {}: Graph REFUSED the realm's lookup ({why})\n",
            p.principal
        ));
        return;
    }
    if !p.found {
        out.push_str(&format!(
            "  principal {}: NOT FOUND (Graph answered 404 Request_ResourceNotFound): the realm's lookup fails and the user gets no roles from this realm; likely cause: the authenticating realm hands over a name that is neither the UPN nor the object id (SAML NameID format)\n",
            p.principal
        ));
        return;
    }
    out.push_str(&format!(
        "  principal {}: found, id {}, displayName {}, mail {}, userPrincipalName {}\n",
        p.principal,
        show(&p.id),
        show(&p.display_name),
        show(&p.mail),
        show(&p.user_principal_name)
    ));
    out.push_str(&format!(
        "    the realm's lookup: {} request(s), {} group(s) over {} page(s) handed to role mapping as `groups`\n",
        p.realm_requests.len(),
        p.groups.len(),
        p.group_pages
    ));
    for g in &p.groups {
        out.push_str(&format!(
            "    group {} {}\n",
            g.id,
            g.display_name
                .as_deref()
                .map(|n| format!("({n})"))
                .unwrap_or_else(|| "(name not readable with the realm's permissions)".to_string())
        ));
    }
}

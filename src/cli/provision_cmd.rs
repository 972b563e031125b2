//! `provision` and `deprovision`: the realm's Entra ID application, without touching any
//! Elasticsearch file. `provision` hands a new client secret on only through
//! `--secret-file` (created 0600, never overwritten); `setup` is the command that puts it
//! in the keystore.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::realm_args::{connect, print_json, AppArgs, OutputFormat, DEFAULT_REALM};
use super::terminal::Terminal;
use super::{GlobalOpts, Verbosity};
use crate::auth::AuthArgs;
use crate::esconfig::validate_realm_name;
use crate::exit::{CliError, ExitCode};
use crate::graph::EndpointArgs;
use crate::provision::outcome::{self, ConsentNotice};
use crate::provision::{
    self, deprovision, AddSecret, ConsentOutcome, NoProgress, Progress, ProvisionOptions,
    Provisioned, StderrProgress,
};

/// Create or update the realm's application: find it (or create it), declare and grant the
/// Microsoft Graph permissions, and add a client secret when one can be handed on.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  msgraph-keystore provision --app-name elasticsearch-graph-authz --secret-file ./graph-secret --output json\n  msgraph-keystore provision --dry-run"
)]
pub struct ProvisionArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// Elasticsearch config directory: a client_id already set there for --realm picks the application.
    #[arg(long, value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Name of the microsoft_graph realm (for the configured client_id and the secret's display name).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_REALM)]
    pub realm: String,
    /// Write a new client secret to PATH (created with mode 0600; an existing file is never overwritten). Without it no secret is added.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// Add a new client secret even if the application already has one (needs --secret-file).
    #[arg(long)]
    pub new_secret: bool,
    /// Only read: print what would change.
    #[arg(long)]
    pub dry_run: bool,
    /// Application template to instantiate [default: the cloud's non-gallery template].
    #[arg(long, value_name = "ID")]
    pub template_id: Option<String>,
    /// Output format: a text summary, or the JSON record (never holds the secret).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

/// Delete the realm's application and its service principal (found as `provision` finds it).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  msgraph-keystore deprovision --app-name elasticsearch-graph-authz --yes"
)]
pub struct DeprovisionArgs {
    /// Display name of the Entra ID application.
    #[arg(long, value_name = "NAME", default_value = provision::DEFAULT_APP_NAME)]
    pub app_name: String,
    /// Delete the application with this application (client) ID.
    #[arg(long, value_name = "APP_ID")]
    pub app_id: Option<String>,
    /// Elasticsearch config directory: a client_id set there for --realm picks the application.
    #[arg(long, value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Name of the microsoft_graph realm (for the configured client_id).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_REALM)]
    pub realm: String,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Only show what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

pub async fn run_provision(args: ProvisionArgs, global: &GlobalOpts) -> Result<ExitCode, CliError> {
    let verbosity = global.verbosity();
    check_app_id(args.app.app_id.as_deref())?;
    validate_realm_name(&args.realm)?;
    if args.new_secret && args.secret_file.is_none() {
        return Err(CliError::usage(
            "--new-secret needs --secret-file PATH: provision hands a new client secret out only through a file (setup writes it into the keystore instead)",
        ));
    }
    if let (Some(path), false) = (&args.secret_file, args.dry_run) {
        super::secret_output::check_new("--secret-file", path)?;
    }
    let configured = outcome::configured_client_id(args.config.as_deref(), &args.realm)?;

    let conn = connect(&args.auth, &args.endpoints, verbosity > Verbosity::Silent)?;
    let label = args.app.secret_label(args.config.as_deref(), &args.realm);
    let mut opts = args.app.provision_options(&conn.endpoints, &label);
    outcome::apply_configured_client_id(&mut opts, configured);
    opts.add_secret = match (&args.secret_file, args.new_secret) {
        (None, _) => AddSecret::Never,
        (Some(_), true) => AddSecret::Always,
        (Some(_), false) => AddSecret::IfNone,
    };
    opts.dry_run = args.dry_run;
    if let Some(template) = &args.template_id {
        opts.template_id = template.clone();
    }

    let progress = progress_for(verbosity);
    let record = provision::provision(&conn.graph, &opts, progress.as_ref()).await?;

    let written = match (&record.new_secret, &args.secret_file) {
        (Some(secret), Some(path)) => {
            outcome::store_secret(&conn.graph, &record, secret, path).await?;
            Some(path.as_path())
        }
        _ => None,
    };
    match args.output {
        OutputFormat::Json => print_json(&ProvisionOutput {
            record: &record,
            secret_file: written,
        })?,
        OutputFormat::Text => print_summary(&record, &opts, written),
    }
    let notice = outcome::consent_notice(&record, &conn.endpoints);
    print_consent_notice(&notice, verbosity);
    Ok(notice.exit_code())
}

/// The JSON document: the record, plus where the secret went.
#[derive(Serialize)]
struct ProvisionOutput<'a> {
    #[serde(flatten)]
    record: &'a Provisioned,
    secret_file: Option<&'a Path>,
}

fn progress_for(verbosity: Verbosity) -> Box<dyn Progress> {
    if verbosity == Verbosity::Silent {
        Box::new(NoProgress)
    } else {
        Box::new(StderrProgress::new())
    }
}

fn check_app_id(app_id: Option<&str>) -> Result<(), CliError> {
    match app_id {
        Some(id) if uuid::Uuid::parse_str(id).is_err() => Err(CliError::usage(format!(
            "--app-id must be an application (client) ID, a GUID such as 00000000-0000-0000-0000-000000000000; got `{id}`"
        ))),
        _ => Ok(()),
    }
}

/// The consent notice goes to stderr (stdout holds the summary or JSON); the `--no-consent`
/// note is hidden by `-s`, the "still required" one is not.
fn print_consent_notice(notice: &ConsentNotice, verbosity: Verbosity) {
    match notice {
        ConsentNotice::Required {
            missing,
            instructions,
        } => eprintln!(
            "Admin consent is still required: the signed-in identity may not grant it ({}).\n{instructions}",
            missing.join(", ")
        ),
        ConsentNotice::Skipped {
            missing,
            instructions,
        } if verbosity > Verbosity::Silent => eprintln!(
            "Admin consent was not granted (--no-consent); still missing: {}.\n{instructions}",
            missing.join(", ")
        ),
        ConsentNotice::Skipped { .. } | ConsentNotice::None => {}
    }
}

fn print_summary(record: &Provisioned, opts: &ProvisionOptions, secret_file: Option<&Path>) {
    let unknown = "(to be created)";
    let mut out = String::new();
    if record.dry_run {
        out.push_str("Dry run: nothing was changed.\n");
    }
    let line = |out: &mut String, label: &str, value: &str| {
        out.push_str(&format!("{label:<19} {value}\n"));
    };
    line(&mut out, "Application:", &record.display_name);
    line(
        &mut out,
        "Client ID:",
        record.app_id.as_deref().unwrap_or(unknown),
    );
    line(&mut out, "Tenant ID:", &record.tenant_id);
    line(
        &mut out,
        "Object ID:",
        record.app_object_id.as_deref().unwrap_or(unknown),
    );
    line(
        &mut out,
        "Service principal:",
        record.sp_id.as_deref().unwrap_or(unknown),
    );
    line(&mut out, "Marker tag:", &opts.marker_tag);
    let consent = match &record.consent {
        ConsentOutcome::Granted => "granted by this run".to_string(),
        ConsentOutcome::AlreadyGranted => "already granted".to_string(),
        ConsentOutcome::Forbidden { .. } => {
            "NOT granted: an administrator must grant it (see below)".to_string()
        }
        ConsentOutcome::Skipped => "skipped (--no-consent)".to_string(),
        ConsentOutcome::Planned => "would be granted".to_string(),
    };
    line(&mut out, "Admin consent:", &consent);
    line(
        &mut out,
        "Granted:",
        &list_or_none(&record.granted_permissions),
    );
    line(
        &mut out,
        "Missing:",
        &list_or_none(&record.missing_permissions),
    );
    if record.secrets.is_empty() {
        line(&mut out, "Client secrets:", "none");
    }
    for (i, s) in record.secrets.iter().enumerate() {
        let label = if i == 0 { "Client secrets:" } else { "" };
        let expires = s
            .end_date_time
            .map(|t| format!("expires {}", t.format("%Y-%m-%d")))
            .unwrap_or_else(|| "no expiry listed".to_string());
        line(
            &mut out,
            label,
            &format!(
                "{}  {}  {expires}",
                s.key_id,
                s.display_name.as_deref().unwrap_or("(no name)")
            ),
        );
    }
    let new_secret = match (&record.new_secret, secret_file) {
        (Some(s), Some(path)) => format!(
            "keyId {} written to {} (mode 0600)",
            s.key_id,
            path.display()
        ),
        _ if record.dry_run => "none added (dry run)".to_string(),
        _ if opts.add_secret == AddSecret::Never => {
            "none added (pass --secret-file PATH to receive one)".to_string()
        }
        _ => "none added (the application already has one; --new-secret adds another)".to_string(),
    };
    line(&mut out, "New secret:", &new_secret);
    let heading = if record.dry_run {
        "Planned changes:"
    } else {
        "Changes:"
    };
    if record.changes.is_empty() {
        line(&mut out, heading, "none (already up to date)");
    } else {
        out.push_str(heading);
        out.push('\n');
        for c in &record.changes {
            out.push_str(&format!("  - {}\n", c.detail));
        }
    }
    print!("{out}");
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// What `deprovision --output json` prints.
#[derive(Serialize)]
struct DeprovisionOutput {
    dry_run: bool,
    /// Whether an application was found (and, unless a dry run, deleted).
    found: bool,
    application: Option<provision::Deprovisioned>,
}

pub async fn run_deprovision(
    args: DeprovisionArgs,
    global: &GlobalOpts,
) -> Result<ExitCode, CliError> {
    let verbosity = global.verbosity();
    check_app_id(args.app_id.as_deref())?;
    validate_realm_name(&args.realm)?;
    let interactive = std::io::stdin().is_terminal();
    if !args.yes && !args.dry_run && !interactive {
        return Err(CliError::usage(
            "deprovision deletes the application and its service principal; pass --yes to confirm (there is no terminal to ask on)",
        ));
    }
    let configured = outcome::configured_client_id(args.config.as_deref(), &args.realm)?;
    let conn = connect(&args.auth, &args.endpoints, verbosity > Verbosity::Silent)?;
    let mut opts = ProvisionOptions::for_endpoints(&conn.endpoints).with_app_name(&args.app_name);
    opts.app_id = args.app_id.clone();
    outcome::apply_configured_client_id(&mut opts, configured);
    let Some(found) = outcome::find_app_to_delete(&conn.graph, &opts).await? else {
        if verbosity > Verbosity::Silent {
            eprintln!(
                "No application found for '{}': nothing to delete.",
                args.app_id.as_deref().unwrap_or(&args.app_name)
            );
        }
        if args.output == OutputFormat::Json {
            print_json(&DeprovisionOutput {
                dry_run: args.dry_run,
                found: false,
                application: None,
            })?;
        }
        return Ok(ExitCode::Ok);
    };
    if !args.yes && !args.dry_run {
        let mut term = Terminal::stdio(verbosity);
        let question = format!(
            "Delete the application '{}' (client ID {}) and its service principal?",
            found.app.display_name.as_deref().unwrap_or(&found.app.id),
            found.app.app_id
        );
        if !term.prompt_yes_no(&question)? {
            eprintln!("Nothing was deleted.");
            return Ok(ExitCode::Ok);
        }
    }
    let progress = progress_for(verbosity);
    let done = deprovision(&conn.graph, &found, args.dry_run, progress.as_ref()).await?;
    match args.output {
        OutputFormat::Json => print_json(&DeprovisionOutput {
            dry_run: args.dry_run,
            found: true,
            application: Some(done),
        })?,
        OutputFormat::Text if args.dry_run => println!(
            "Dry run: would delete the application {} (client ID {}) and its service principal.",
            done.app_object_id, done.app_id
        ),
        OutputFormat::Text => println!(
            "Deleted the application {} (client ID {}){}. Entra ID keeps deleted applications restorable for 30 days.",
            done.app_object_id,
            done.app_id,
            if done.sp_id.is_some() {
                " and its service principal"
            } else {
                ""
            }
        ),
    }
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_must_be_guids() {
        assert!(check_app_id(None).is_ok());
        assert!(check_app_id(Some("0b7e4a52-7a3f-4c59-9d8e-7d1c6f6c1111")).is_ok());
        let err = check_app_id(Some("my-app")).unwrap_err();
        assert_eq!(err.code, ExitCode::Usage);
        assert!(err.message.contains("--app-id"));
    }
}

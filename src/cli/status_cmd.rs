//! `status`: the realm's application, its permissions, its secrets' expiry, and whether config
//! directories match it. Read-only; `--fail-under DAYS` makes it a monitoring check.

use chrono::Utc;

use super::realm_args::{self, AppArgs, OutputFormat, RealmDirsArgs};
use super::terminal::Terminal;
use super::{GlobalOpts, Verbosity};
use crate::auth::AuthArgs;
use crate::exit::{CliError, ExitCode};
use crate::graph::EndpointArgs;
use crate::setup::status::{self, StatusReport, WARN_DAYS};
use crate::setup::PasswordFailure;

/// Show the realm's application, permissions and secret expiry; compare config directories.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  msgraph-keystore status --config /etc/elasticsearch\n  msgraph-keystore status --app-name elasticsearch-graph-authz --fail-under 14 --output json"
)]
pub struct StatusArgs {
    #[command(flatten)]
    pub dirs: RealmDirsArgs,
    #[command(flatten)]
    pub app: AppArgs,
    /// Exit 1 when the secret in use (or, without --config, the longest-lived one) expires in fewer than DAYS days.
    #[arg(long, value_name = "DAYS")]
    pub fail_under: Option<i64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

pub async fn run(args: StatusArgs, global: &GlobalOpts) -> Result<ExitCode, CliError> {
    crate::setup::check_realm_name(&args.dirs.realm)?;
    let dirs = args.dirs.dirs_if_any();
    let mut local = Vec::new();
    let mut term = Terminal::stdio(global.verbosity());
    let mut ask = realm_args::password_source(&mut term, args.dirs.password_file.clone());
    // The prompt's own failure passes through the setup layer with its exit code.
    let mut passwords =
        |dir: &std::path::Path| ask(dir).map_err(|e| PasswordFailure::new(e.code, e));
    for dir in &dirs {
        local.push(status::read_local(dir, &args.dirs.realm, &mut passwords)?);
    }

    let conn = realm_args::connect(
        &args.auth,
        &args.endpoints,
        global.verbosity() > Verbosity::Silent,
    )?;
    let label = args
        .app
        .secret_label(dirs.first().map(|d| d.as_path()), &args.dirs.realm);
    let mut opts = args.app.provision_options(&conn.endpoints, &label);
    opts.configured_client_id = local.iter().find_map(|l| l.client_id.clone());
    let report =
        status::status(&conn.graph, &opts, args.app.permissions, &local, Utc::now()).await?;

    match args.output {
        OutputFormat::Json => realm_args::print_json(&report)?,
        OutputFormat::Text if global.verbosity() > Verbosity::Silent => {
            print!("{}", render(&report))
        }
        OutputFormat::Text => {}
    }
    let verdict = report.verdict(args.fail_under);
    if let Some(line) = verdict.failure_line() {
        eprintln!("ERROR: {line}");
    }
    Ok(verdict.exit_code())
}

/// A human-readable status report.
pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Application: {} (client ID {}, object ID {})\n",
        report.display_name.as_deref().unwrap_or("<no name>"),
        report.client_id,
        report.app_object_id
    ));
    out.push_str(&format!(
        "Tenant: {}\nService principal: {}\n",
        report.tenant_id.as_deref().unwrap_or("<unknown>"),
        report
            .service_principal_id
            .as_deref()
            .unwrap_or("MISSING (run setup)")
    ));
    out.push_str("Permissions:\n");
    for p in &report.permissions {
        out.push_str(&format!(
            "  {:<26} {}\n",
            p.permission,
            if p.granted {
                "granted"
            } else {
                "NOT GRANTED (admin consent needed)"
            }
        ));
    }
    out.push_str("Client secrets:\n");
    if report.secrets.is_empty() {
        out.push_str("  none\n");
    }
    for s in &report.secrets {
        out.push_str(&format!(
            "  {} {:<45} expires {}{}{}\n",
            s.key_id,
            s.display_name.as_deref().unwrap_or("<no name>"),
            s.end_date_time
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "never".to_string()),
            s.days_left
                .map(|d| format!(" ({d} days)"))
                .unwrap_or_default(),
            if s.in_use { " [in use]" } else { "" },
        ));
        if let Some(w) = &s.warning {
            out.push_str(&format!(
                "    WARNING: {w} (warned under {WARN_DAYS} days)\n"
            ));
        }
    }
    if !report.tool_secrets.is_empty() {
        // Labels collide between clusters left without cluster.name: a secret not held here
        // may be another deployment's, so it is only listed (see `rotate --remove-secret-id`).
        out.push_str(
            "Secrets made by msgraph-keystore (label, keyId, age, held by a given config dir):\n",
        );
        for t in &report.tool_secrets {
            out.push_str(&format!(
                "  {:<32} {} {:>5} {}\n",
                t.label,
                t.key_id,
                t.age_days
                    .map(|d| format!("{d}d"))
                    .unwrap_or_else(|| "?".to_string()),
                if t.in_use { "yes" } else { "no" },
            ));
        }
        if report.tool_secrets.iter().any(|t| !t.in_use) {
            out.push_str("  A secret no given config dir holds may be another deployment's (labels collide without cluster.name): `rotate --remove-secret-id KEYID --config DIR` removes one once nothing uses it.\n");
        }
    }
    for c in &report.config {
        if c.problems.is_empty() {
            out.push_str(&format!(
                "Config {}: matches the application\n",
                c.config_dir
            ));
        } else {
            for p in &c.problems {
                out.push_str(&format!("Config {}: {p}\n", c.config_dir));
            }
        }
    }
    out
}

//! Command-line front end: clap definitions, logging set-up, and the mapping from errors to
//! `ERROR: <message>, with exit code <N>` lines and process exit codes. Each command family
//! lives in its own module; this file only dispatches.

use clap::{ArgAction, Parser, Subcommand};

use crate::exit::{CliError, ExitCode};

#[cfg(feature = "demo")]
pub mod demo_cmd;
pub mod docs_cmd;
#[cfg(feature = "demo")]
pub mod fake_tenant_cmd;
pub mod keystore_cmd;
pub mod provision_cmd;
pub mod realm_args;
pub mod role_mapping_cmd;
pub mod secret_output;
pub mod setup_cmd;
pub mod status_cmd;
pub mod terminal;
pub mod verify_cmd;

/// Options every command understands.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOpts {
    /// Show more (repeat for more detail: -v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short = 'v', long = "verbose", global = true, action = ArgAction::Count, conflicts_with = "silent")]
    pub verbose: u8,
    /// Show only errors and the requested output.
    #[arg(short = 's', long = "silent", global = true)]
    pub silent: bool,
}

impl GlobalOpts {
    pub fn verbosity(&self) -> Verbosity {
        if self.silent {
            Verbosity::Silent
        } else if self.verbose > 0 {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

/// Elasticsearch's three terminal verbosity levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Silent,
    Normal,
    Verbose,
}

#[derive(Debug, Parser)]
#[command(
    name = "msgraph-keystore",
    version,
    about = "Provision Elasticsearch's microsoft_graph realm in Entra ID and write elasticsearch.keystore without Java",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run setup, verify and keystore list against a built-in simulated tenant (no Azure account needed).
    #[cfg(feature = "demo")]
    Demo(demo_cmd::DemoArgs),
    /// Provision the realm's app and write its secret to elasticsearch.keystore and its IDs to elasticsearch.yml.
    Setup(setup_cmd::SetupArgs),
    /// Prove the realm's credentials work, as the realm will use them, before restarting a node.
    Verify(verify_cmd::VerifyArgs),
    /// Replace the realm's client secret in every config dir, verify it, remove the old one.
    Rotate(setup_cmd::RotateArgs),
    /// Show the realm's app, permissions and secret expiry; compare config dirs with it.
    Status(status_cmd::StatusArgs),
    /// Print the Elasticsearch role mapping (PUT /_security/role_mapping) for Entra groups by name or ID.
    RoleMapping(role_mapping_cmd::RoleMappingArgs),
    /// Manage elasticsearch.keystore (a drop-in for bin/elasticsearch-keystore).
    Keystore(keystore_cmd::KeystoreArgs),
    /// Create or update the realm's Entra ID application through Microsoft Graph.
    Provision(provision_cmd::ProvisionArgs),
    /// Delete the realm's Entra ID application and its service principal.
    Deprovision(provision_cmd::DeprovisionArgs),
    /// Run the built-in simulated Entra ID tenant (login + Graph) for trying the tool.
    #[cfg(feature = "demo")]
    FakeTenant(fake_tenant_cmd::FakeTenantArgs),
    /// Print a shell completion script.
    Completions(docs_cmd::CompletionsArgs),
    /// Print the man page.
    Man(docs_cmd::ManArgs),
}

/// Parse the command line, run the command, print any error, return the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    0
                }
                _ => {
                    report(&CliError::usage(usage_error_line(&e.render().to_string())));
                    ExitCode::Usage.code()
                }
            };
        }
    };
    init_logging(&cli.global);
    match dispatch(cli) {
        Ok(code) => code.code(),
        Err(err) => {
            report(&err);
            err.code.code()
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode, CliError> {
    let global = cli.global;
    match cli.command {
        Command::Keystore(args) => keystore_cmd::run(args, &global),
        Command::Provision(args) => block_on(provision_cmd::run_provision(args, &global)),
        Command::Deprovision(args) => block_on(provision_cmd::run_deprovision(args, &global)),
        #[cfg(feature = "demo")]
        Command::FakeTenant(args) => block_on(fake_tenant_cmd::run(args, &global)),
        #[cfg(feature = "demo")]
        Command::Demo(args) => block_on(demo_cmd::run(args, &global)),
        Command::Setup(args) => block_on(setup_cmd::run_setup(args, &global)),
        Command::Verify(args) => block_on(verify_cmd::run(args, &global)),
        Command::Rotate(args) => block_on(setup_cmd::run_rotate(args, &global)),
        Command::Status(args) => block_on(status_cmd::run(args, &global)),
        Command::RoleMapping(args) => block_on(role_mapping_cmd::run(args, &global)),
        Command::Completions(args) => docs_cmd::completions(args),
        Command::Man(args) => docs_cmd::man(args),
    }
}

/// Run an async command on a small multi-threaded runtime (the machine this usually runs on
/// is a node or a build container: two workers are plenty for a handful of HTTP calls).
pub fn block_on<F>(fut: F) -> Result<ExitCode, CliError>
where
    F: std::future::Future<Output = Result<ExitCode, CliError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            CliError::new(
                ExitCode::Software,
                format!("cannot start the async runtime: {e}"),
            )
        })?;
    runtime.block_on(fut)
}

/// clap's several-line usage error as one message, so that every error is one
/// `ERROR: …, with exit code 64` line: the error, its tips in brackets, the usage line.
///
/// `error: unexpected argument '--con' found\n\n  tip: a similar argument exists: '--config'\n\n
/// Usage: msgraph-keystore setup --config <DIR>\n\nFor more information, try '--help'.` becomes
/// `unexpected argument '--con' found (tip: a similar argument exists: '--config'); usage:
/// msgraph-keystore setup --config <DIR>; more with --help`.
pub fn usage_error_line(rendered: &str) -> String {
    let mut message = String::new();
    let mut tips = Vec::new();
    let mut usage = None;
    let mut in_error = false;
    for line in rendered.lines() {
        let trimmed = line.trim();
        if let Some(first) = line.strip_prefix("error: ") {
            message.push_str(first.trim_end());
            in_error = true;
        } else if let Some(tip) = trimmed.strip_prefix("tip: ") {
            tips.push(tip.to_owned());
            in_error = false;
        } else if let Some(u) = line.strip_prefix("Usage: ") {
            usage = Some(u.trim().to_owned());
            in_error = false;
        } else if trimmed.is_empty() {
            in_error = false;
        } else if in_error {
            // The indented list under "the following required arguments were not provided:".
            message.push(' ');
            message.push_str(trimmed);
        }
    }
    if message.is_empty() {
        message = "invalid command line".to_owned();
    }
    let message = message.trim_end_matches(':');
    let mut line = message.to_owned();
    if !tips.is_empty() {
        line.push_str(&format!(" (tip: {})", tips.join("; ")));
    }
    if let Some(usage) = usage {
        line.push_str(&format!("; usage: {usage}"));
    }
    line.push_str("; more with --help");
    line
}

/// Print an error the way Elasticsearch's CLI does.
pub fn report(err: &CliError) {
    eprintln!("ERROR: {}, with exit code {}", err.message, err.code.code());
}

/// Logs go to stderr. `RUST_LOG` wins when set; otherwise `-v` raises the level. Secrets
/// never reach a log line: they are held in `secret` types whose Debug is redacted.
fn init_logging(global: &GlobalOpts) {
    use tracing_subscriber::EnvFilter;
    let default = match global.verbose {
        0 => "warn",
        1 => "msgraph_keystore=info",
        2 => "msgraph_keystore=debug",
        _ => "msgraph_keystore=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .with_target(false)
        .try_init();
}

//! `completions` and `man`: shell completion scripts and a man page, generated from the same
//! clap definitions the program parses with, so they never drift from the real flags.

use clap::CommandFactory;

use super::Cli;
use crate::exit::{CliError, ExitCode};

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  msgraph-keystore completions bash > /etc/bash_completion.d/msgraph-keystore"
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print the man page (roff).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  msgraph-keystore man > /usr/local/share/man/man1/msgraph-keystore.1"
)]
pub struct ManArgs {}

pub fn completions(args: CompletionsArgs) -> Result<ExitCode, CliError> {
    let mut cmd = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut cmd,
        "msgraph-keystore",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::Ok)
}

pub fn man(_args: ManArgs) -> Result<ExitCode, CliError> {
    let cmd = Cli::command();
    clap_mangen::Man::new(cmd)
        .render(&mut std::io::stdout())
        .map_err(|e| CliError::new(ExitCode::IoError, format!("cannot write the man page: {e}")))?;
    Ok(ExitCode::Ok)
}

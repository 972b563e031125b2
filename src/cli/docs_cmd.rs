//! `completions` and `man`: shell completion scripts and man pages, generated from the same
//! clap definitions the program parses with, so they never drift from the real flags.
//!
//! Both print to stdout and stop quietly when the reader goes away (`… | head`), as other
//! Unix tools do: a closed pipe is the reader's choice, not an error.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::Cli;
use crate::exit::{CliError, ExitCode};

/// The program name the scripts complete and the pages are named after.
const BIN_NAME: &str = "msgraph-keystore";

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

/// Print the man page (roff), or write one page per command into a directory.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  msgraph-keystore man --dir /usr/local/share/man/man1\n  msgraph-keystore man | man -l -"
)]
pub struct ManArgs {
    /// Write msgraph-keystore.1 and one page per subcommand (msgraph-keystore-setup.1, …) into DIR, which must exist; pages of the same name are replaced.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs) -> Result<ExitCode, CliError> {
    write_stdout(&completion_script(args.shell)?, "the completion script")
}

/// The completion script for `shell`, with the bash generator's naming bug repaired.
pub fn completion_script(shell: clap_complete::Shell) -> Result<Vec<u8>, CliError> {
    use clap_complete::Generator;
    let mut cmd = Cli::command();
    cmd.set_bin_name(BIN_NAME);
    cmd.build();
    let mut script = Vec::new();
    shell.try_generate(&cmd, &mut script).map_err(|e| {
        CliError::new(
            ExitCode::Software,
            format!("cannot generate the {shell} completion script: {e}"),
        )
    })?;
    if shell == clap_complete::Shell::Bash {
        script = repair_bash_states(&script)?;
    }
    Ok(script)
}

/// clap_complete's bash generator (4.6, clap-rs/clap#6421) spells a subcommand's state two
/// ways when the program name has a hyphen: the word loop enters `msgraph__keystore__subcmd__x`
/// but the case arms read `msgraph__subcmd__keystore__subcmd__x`, so nothing below the top
/// level ever completes. The arms are rewritten to the loop's spelling; every other line is
/// left as generated.
fn repair_bash_states(script: &[u8]) -> Result<Vec<u8>, CliError> {
    let text = std::str::from_utf8(script).map_err(|e| {
        CliError::new(
            ExitCode::Software,
            format!("the generated bash completion script is not UTF-8: {e}"),
        )
    })?;
    let wrong = format!("{}__subcmd__", BIN_NAME.replace('-', "__subcmd__"));
    let right = format!("{}__subcmd__", BIN_NAME.replace('-', "__"));
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let body = &line[indent..];
        if body.starts_with(&wrong) && body.trim_end().ends_with(')') {
            out.push_str(&line[..indent]);
            out.push_str(&right);
            out.push_str(&body[wrong.len()..]);
        } else {
            out.push_str(line);
        }
    }
    Ok(out.into_bytes())
}

pub fn man(args: ManArgs) -> Result<ExitCode, CliError> {
    match args.dir {
        Some(dir) => write_pages(&dir),
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(man_command())
                .render(&mut page)
                .map_err(|e| {
                    CliError::new(
                        ExitCode::Software,
                        format!("cannot render the man page: {e}"),
                    )
                })?;
            write_stdout(&page, "the man page")
        }
    }
}

/// The command tree the pages describe: without clap's `help` subcommand, which has no page
/// (the main page's SUBCOMMANDS section would otherwise name a `msgraph-keystore-help(1)`).
fn man_command() -> clap::Command {
    let mut cmd = Cli::command()
        .bin_name(BIN_NAME)
        .disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// One page per command, so every page the SUBCOMMANDS sections name exists.
fn write_pages(dir: &Path) -> Result<ExitCode, CliError> {
    if !dir.is_dir() {
        return Err(CliError::new(
            ExitCode::IoError,
            format!(
                "cannot write the man pages: [{}] is not a directory; create it first (e.g. mkdir -p {})",
                dir.display(),
                dir.display()
            ),
        ));
    }
    clap_mangen::generate_to(man_command(), dir).map_err(|e| {
        CliError::new(
            ExitCode::IoError,
            format!("cannot write the man pages into [{}]: {e}", dir.display()),
        )
    })?;
    Ok(ExitCode::Ok)
}

/// Write `bytes` to stdout; a reader that closed the pipe ends the command quietly.
fn write_stdout(bytes: &[u8], what: &str) -> Result<ExitCode, CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitCode::Ok),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::Ok),
        Err(e) => Err(CliError::new(
            ExitCode::IoError,
            format!("cannot write {what} to standard output: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_arms_are_renamed_and_nothing_else() {
        let generated = b"        msgraph__subcmd__keystore__subcmd__setup)\n            opts=\"msgraph__subcmd__keystore__subcmd__x\"\n        msgraph__keystore)\n";
        let fixed = String::from_utf8(repair_bash_states(generated).unwrap()).unwrap();
        assert_eq!(
            fixed,
            "        msgraph__keystore__subcmd__setup)\n            opts=\"msgraph__subcmd__keystore__subcmd__x\"\n        msgraph__keystore)\n"
        );
    }
}

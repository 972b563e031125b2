//! placeholder: replaced by the keystore CLI owner
use super::GlobalOpts;
use crate::exit::{CliError, ExitCode};
#[derive(Debug, clap::Args)]
pub struct KeystoreArgs {}
pub fn run(_args: KeystoreArgs, _g: &GlobalOpts) -> Result<ExitCode, CliError> {
    Err(CliError::new(ExitCode::Software, "placeholder"))
}

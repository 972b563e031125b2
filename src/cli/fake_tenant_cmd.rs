//! placeholder: replaced by the fake tenant owner
use super::GlobalOpts;
use crate::exit::{CliError, ExitCode};
#[derive(Debug, clap::Args)]
pub struct FakeTenantArgs {}
pub async fn run(_args: FakeTenantArgs, _g: &GlobalOpts) -> Result<ExitCode, CliError> {
    Err(CliError::new(ExitCode::Software, "placeholder"))
}

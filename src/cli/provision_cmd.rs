//! placeholder: replaced by the provisioning owner
use super::GlobalOpts;
use crate::exit::{CliError, ExitCode};
#[derive(Debug, clap::Args)]
pub struct ProvisionArgs {}
#[derive(Debug, clap::Args)]
pub struct DeprovisionArgs {}
pub async fn run_provision(_args: ProvisionArgs, _g: &GlobalOpts) -> Result<ExitCode, CliError> {
    Err(CliError::new(ExitCode::Software, "placeholder"))
}
pub async fn run_deprovision(
    _args: DeprovisionArgs,
    _g: &GlobalOpts,
) -> Result<ExitCode, CliError> {
    Err(CliError::new(ExitCode::Software, "placeholder"))
}

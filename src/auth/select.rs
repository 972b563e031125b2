//! Choosing how to get a token: the `--auth` flag family every Graph-calling command shares,
//! and the `auto` rule that picks from what the environment offers.

use std::path::PathBuf;

use clap::ValueEnum;
use tracing::info;

use super::azure_cli::{find_on_path, AzureCliSource};
use super::client_secret::ClientSecretSource;
use super::device_code::{DeviceCodeSource, ANY_ORGANIZATION, AZURE_CLI_CLIENT_ID};
use super::env::{Env, ProcessEnv};
use super::files::{read_credential_file, Trim};
use super::managed_identity::{ManagedIdentitySource, IMDS_ENDPOINT_VAR};
use super::static_token::StaticTokenSource;
use super::workload_identity::WorkloadIdentitySource;
use super::{AuthError, TokenSource};
use crate::cloud::{Cloud, Endpoints};
use crate::net::check_endpoint;
use crate::secret::SecretString;

/// How to get a token for Microsoft Graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AuthMode {
    /// Pick from what the environment offers: token file, client secret, workload identity,
    /// managed identity (App Service), Azure CLI, device code (on a terminal).
    #[default]
    Auto,
    /// App-only: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_SECRET_FILE.
    ClientSecret,
    /// App-only with a federated token: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE.
    WorkloadIdentity,
    /// The Azure host's managed identity (IDENTITY_ENDPOINT, else the VM's metadata service).
    ManagedIdentity,
    /// The account signed in with `az login`.
    AzureCli,
    /// Sign in as a person in a browser with a code shown here.
    DeviceCode,
    /// A ready access token read from --access-token-file.
    Token,
}

impl AuthMode {
    /// The name as typed after `--auth`.
    pub fn name(self) -> &'static str {
        match self {
            AuthMode::Auto => "auto",
            AuthMode::ClientSecret => "client-secret",
            AuthMode::WorkloadIdentity => "workload-identity",
            AuthMode::ManagedIdentity => "managed-identity",
            AuthMode::AzureCli => "azure-cli",
            AuthMode::DeviceCode => "device-code",
            AuthMode::Token => "token",
        }
    }
}

impl std::fmt::Display for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How this program signs in to Microsoft Graph. No flag takes a secret: secrets come from
/// environment variables or files.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthArgs {
    /// How to get a Graph token (see docs/auth.md).
    #[arg(long = "auth", value_enum, value_name = "MODE", default_value_t = AuthMode::Auto)]
    pub auth: AuthMode,
    /// Tenant (directory) ID or domain this program signs in to.
    #[arg(long = "tenant-id", env = "AZURE_TENANT_ID", value_name = "TENANT")]
    pub tenant_id: Option<String>,
    /// Client (application) ID this program signs in as: the caller's app, not the realm's.
    #[arg(long = "client-id", env = "AZURE_CLIENT_ID", value_name = "APP_ID")]
    pub client_id: Option<String>,
    /// Read a ready Microsoft Graph access token from FILE (re-read for every request).
    #[arg(long = "access-token-file", value_name = "FILE")]
    pub access_token_file: Option<PathBuf>,
}

/// Build the token source `args` ask for, looking at the process environment.
pub fn select(
    args: &AuthArgs,
    endpoints: &Endpoints,
    http: reqwest::Client,
) -> Result<Box<dyn TokenSource>, AuthError> {
    select_with_env(args, endpoints, http, &ProcessEnv)
}

/// [`select`] with the environment given explicitly.
pub fn select_with_env(
    args: &AuthArgs,
    endpoints: &Endpoints,
    http: reqwest::Client,
    env: &dyn Env,
) -> Result<Box<dyn TokenSource>, AuthError> {
    let ctx = Context {
        args,
        endpoints,
        env,
    };
    if args.access_token_file.is_some() && !matches!(args.auth, AuthMode::Auto | AuthMode::Token) {
        return Err(AuthError::invalid(
            "--access-token-file",
            format!(
                "only applies with --auth token or --auth auto, not --auth {}",
                args.auth
            ),
        ));
    }
    let mode = match args.auth {
        AuthMode::Auto => {
            let picked = ctx.pick_auto()?;
            info!("--auth auto picked {picked}");
            picked
        }
        explicit => explicit,
    };
    match mode {
        AuthMode::ClientSecret => ctx.client_secret(http),
        AuthMode::WorkloadIdentity => ctx.workload_identity(http),
        AuthMode::ManagedIdentity => ctx.managed_identity(http),
        AuthMode::AzureCli => ctx.azure_cli(),
        AuthMode::DeviceCode => ctx.device_code(http),
        AuthMode::Token => ctx.token_file(),
        AuthMode::Auto => Err(AuthError::Other(
            "auto selection picked no mode".to_string(),
        )),
    }
}

struct Context<'a> {
    args: &'a AuthArgs,
    endpoints: &'a Endpoints,
    env: &'a dyn Env,
}

impl Context<'_> {
    /// First match in a fixed order, from the most explicit to the most interactive. Managed
    /// identity on a VM (IMDS) is not probed: on a laptop that would stall every run until a
    /// connect timeout, so it needs `--auth managed-identity` (or IDENTITY_ENDPOINT / the IMDS
    /// override variable being set).
    fn pick_auto(&self) -> Result<AuthMode, AuthError> {
        let env = self.env;
        if self.args.access_token_file.is_some() {
            return Ok(AuthMode::Token);
        }
        if env.var("AZURE_CLIENT_SECRET").is_some() || env.var("AZURE_CLIENT_SECRET_FILE").is_some()
        {
            return Ok(AuthMode::ClientSecret);
        }
        if env.var("AZURE_FEDERATED_TOKEN_FILE").is_some() {
            return Ok(AuthMode::WorkloadIdentity);
        }
        if env.var("IDENTITY_ENDPOINT").is_some() || env.var(IMDS_ENDPOINT_VAR).is_some() {
            return Ok(AuthMode::ManagedIdentity);
        }
        if self.az_path().is_some() {
            return Ok(AuthMode::AzureCli);
        }
        if env.stderr_is_terminal() {
            return Ok(AuthMode::DeviceCode);
        }
        Err(AuthError::NoCredentials)
    }

    fn tenant(&self) -> Option<String> {
        non_empty(self.args.tenant_id.as_deref()).or_else(|| self.env.var("AZURE_TENANT_ID"))
    }

    fn client_id(&self) -> Option<String> {
        non_empty(self.args.client_id.as_deref()).or_else(|| self.env.var("AZURE_CLIENT_ID"))
    }

    fn require_tenant(&self, mode: AuthMode) -> Result<String, AuthError> {
        self.tenant().ok_or_else(|| {
            AuthError::missing(
                format!("--auth {mode} needs the tenant ID"),
                "set AZURE_TENANT_ID or pass --tenant-id",
            )
        })
    }

    fn require_client_id(&self, mode: AuthMode) -> Result<String, AuthError> {
        self.client_id().ok_or_else(|| {
            AuthError::missing(
                format!("--auth {mode} needs the client (application) ID"),
                "set AZURE_CLIENT_ID or pass --client-id",
            )
        })
    }

    fn client_secret(&self, http: reqwest::Client) -> Result<Box<dyn TokenSource>, AuthError> {
        let mode = AuthMode::ClientSecret;
        let tenant = self.require_tenant(mode)?;
        let client_id = self.require_client_id(mode)?;
        let secret = match (
            self.env.secret_var("AZURE_CLIENT_SECRET"),
            self.env.var("AZURE_CLIENT_SECRET_FILE"),
        ) {
            (Some(_), Some(_)) => {
                return Err(AuthError::invalid(
                    "AZURE_CLIENT_SECRET and AZURE_CLIENT_SECRET_FILE",
                    "are both set: keep only one",
                ))
            }
            (Some(s), None) => s,
            (None, Some(path)) => {
                let value = read_credential_file(
                    "AZURE_CLIENT_SECRET_FILE",
                    &PathBuf::from(path),
                    Trim::OneTrailingNewline,
                    "write the client secret's value into it",
                )?;
                SecretString::from(value.as_str())
            }
            (None, None) => {
                return Err(AuthError::missing(
                    "--auth client-secret needs the client secret",
                    "set AZURE_CLIENT_SECRET or AZURE_CLIENT_SECRET_FILE (a secret is never accepted as a command-line flag)",
                ))
            }
        };
        let source = ClientSecretSource::new(
            http,
            &self.endpoints.access_token_host,
            &tenant,
            &client_id,
            secret,
        )?;
        Ok(Box::new(source))
    }

    fn workload_identity(&self, http: reqwest::Client) -> Result<Box<dyn TokenSource>, AuthError> {
        let mode = AuthMode::WorkloadIdentity;
        let token_file = self.env.var("AZURE_FEDERATED_TOKEN_FILE").ok_or_else(|| {
            AuthError::missing(
                "--auth workload-identity needs the federated token",
                "set AZURE_FEDERATED_TOKEN_FILE to the projected service account token's path",
            )
        })?;
        let tenant = self.require_tenant(mode)?;
        let client_id = self.require_client_id(mode)?;
        let host = self.workload_authority_host()?;
        let source = WorkloadIdentitySource::new(
            http,
            &host,
            &tenant,
            &client_id,
            PathBuf::from(token_file),
        )?;
        Ok(Box::new(source))
    }

    /// `--access-token-host` when the user set one; otherwise `AZURE_AUTHORITY_HOST` (the AKS
    /// workload identity webhook sets it), otherwise the cloud's login host. "Set one" is read
    /// as "not one of the built-in cloud login hosts", since `Endpoints` does not record
    /// whether the value came from a preset or a flag.
    fn workload_authority_host(&self) -> Result<String, AuthError> {
        let configured = self.endpoints.access_token_host.trim_end_matches('/');
        let is_preset = Cloud::value_variants()
            .iter()
            .any(|c| c.endpoints().access_token_host == configured);
        match self.env.var("AZURE_AUTHORITY_HOST") {
            Some(host) if is_preset => {
                check_endpoint("AZURE_AUTHORITY_HOST", host.trim().trim_end_matches('/'))?;
                Ok(host)
            }
            _ => Ok(configured.to_string()),
        }
    }

    fn managed_identity(&self, http: reqwest::Client) -> Result<Box<dyn TokenSource>, AuthError> {
        let client_id = self.client_id();
        let source = match self.env.var("IDENTITY_ENDPOINT") {
            Some(endpoint) => {
                let header = self.env.secret_var("IDENTITY_HEADER").ok_or_else(|| {
                    AuthError::missing(
                        "IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not",
                        "the hosting platform sets both; unset IDENTITY_ENDPOINT to use the VM's metadata service instead",
                    )
                })?;
                ManagedIdentitySource::app_service(http, &endpoint, header, client_id.as_deref())?
            }
            None => {
                let base = self.env.var(IMDS_ENDPOINT_VAR);
                ManagedIdentitySource::imds(http, base.as_deref(), client_id.as_deref())?
            }
        };
        Ok(Box::new(source))
    }

    fn az_path(&self) -> Option<PathBuf> {
        self.env.var("PATH").and_then(|p| find_on_path(&p))
    }

    fn azure_cli(&self) -> Result<Box<dyn TokenSource>, AuthError> {
        let az = self.az_path().ok_or(AuthError::AzureCliNotFound)?;
        Ok(Box::new(AzureCliSource::new(az, self.tenant().as_deref())?))
    }

    fn device_code(&self, http: reqwest::Client) -> Result<Box<dyn TokenSource>, AuthError> {
        let tenant = self
            .tenant()
            .unwrap_or_else(|| ANY_ORGANIZATION.to_string());
        let client_id = self
            .client_id()
            .unwrap_or_else(|| AZURE_CLI_CLIENT_ID.to_string());
        let source =
            DeviceCodeSource::new(http, &self.endpoints.access_token_host, &tenant, &client_id)?;
        Ok(Box::new(source))
    }

    fn token_file(&self) -> Result<Box<dyn TokenSource>, AuthError> {
        let path = self.args.access_token_file.clone().ok_or_else(|| {
            AuthError::missing(
                "--auth token needs a token",
                "pass --access-token-file FILE with a Microsoft Graph access token in it",
            )
        })?;
        Ok(Box::new(StaticTokenSource::new(path)))
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_match_clap() {
        for mode in AuthMode::value_variants() {
            let pv = mode.to_possible_value().unwrap();
            assert_eq!(pv.get_name(), mode.name());
        }
        assert_eq!(AuthMode::value_variants().len(), 7);
    }

    #[test]
    fn flags_parse() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            auth: AuthArgs,
        }
        let cli = Cli::try_parse_from([
            "x",
            "--auth",
            "workload-identity",
            "--tenant-id",
            "t",
            "--client-id",
            "c",
        ])
        .unwrap();
        assert_eq!(cli.auth.auth, AuthMode::WorkloadIdentity);
        assert_eq!(cli.auth.tenant_id.as_deref(), Some("t"));
        assert!(Cli::try_parse_from(["x", "--auth", "password"]).is_err());
        assert!(Cli::try_parse_from(["x", "--client-secret", "s"]).is_err());
    }
}

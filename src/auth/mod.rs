//! Getting an access token for Microsoft Graph: one trait, several sources.
//!
//! * [`ClientSecretSource`]: client-credentials grant with a secret (`AZURE_CLIENT_SECRET`).
//! * [`WorkloadIdentitySource`]: the same grant with a federated token as client assertion.
//! * [`ManagedIdentitySource`]: App Service's `IDENTITY_ENDPOINT`, or a VM's metadata service.
//! * [`AzureCliSource`]: `az account get-access-token`.
//! * [`DeviceCodeSource`]: a person signs in in a browser with a code shown on the terminal.
//! * [`StaticTokenSource`]: a ready token from `--access-token-file`.
//!
//! [`select`] turns the shared `--auth` flags ([`AuthArgs`]) into one of these.
//! [`client_credentials_token`] is the realm's own token request, for `verify`.
//!
//! The requests are hand-written small form POSTs rather than `azure_identity` calls: that
//! crate refuses http authorities (our loopback test servers) and has no device-code flow
//! (`docs/auth.md`).

use std::time::SystemTime;

use crate::secret::SecretString;

mod azure_cli;
mod cache;
mod client_secret;
mod device_code;
mod env;
mod error;
mod files;
mod http;
pub mod jwt;
mod managed_identity;
mod oauth;
mod select;
mod static_token;
mod workload_identity;

/// Pacing of token requests; the rules live in [`crate::retry`], shared with Graph.
pub use crate::retry::TokenRetryPolicy as RetryPolicy;
pub use azure_cli::{find_on_path, parse_az_output, AzureCliSource};
pub use cache::REFRESH_MARGIN;
pub use client_secret::{
    client_credentials_token, client_credentials_token_with, ClientSecretSource,
};
pub use device_code::{
    parse_device_code_answer, DeviceCode, DeviceCodeSource, Prompt, ANY_ORGANIZATION,
    AZURE_CLI_CLIENT_ID, DEVICE_CODE_GRANT, SLOW_DOWN_STEP,
};
pub use env::{Env, MapEnv, ProcessEnv};
pub use error::{AuthError, OAuthFailure};
pub use managed_identity::{ManagedIdentitySource, IMDS_DEFAULT_BASE, IMDS_ENDPOINT_VAR};
pub use oauth::parse_token_response;
pub use select::{select, select_with_env, AuthArgs, AuthMode};
pub use static_token::StaticTokenSource;
pub use workload_identity::{WorkloadIdentitySource, JWT_BEARER_ASSERTION};

/// A bearer token and when it stops being valid.
pub struct AccessToken {
    pub token: SecretString,
    pub expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Anything that can hand out Graph access tokens.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    /// What this source is, for the "authenticating with …" line (never a secret).
    fn describe(&self) -> String;
    /// A token valid for `scope` (e.g. `https://graph.microsoft.com/.default`).
    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError>;
}

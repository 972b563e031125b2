//! Workload identity federation: the client-credentials grant with a federated token (from
//! Kubernetes, GitHub Actions, …) as the client assertion instead of a secret.

use std::path::PathBuf;

use url::Url;

use super::cache::TokenCache;
use super::files::{read_credential_file, Trim};
use super::http::{Field, TokenRequest};
use super::oauth::{authority_url, check_client_id, check_tenant, fetch_token};
use super::RetryPolicy;
use super::{AccessToken, AuthError, TokenSource};

/// OAuth's name for "the client assertion is a JWT".
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A [`TokenSource`] for `AZURE_FEDERATED_TOKEN_FILE`.
pub struct WorkloadIdentitySource {
    http: reqwest::Client,
    token_url: Url,
    tenant_id: String,
    client_id: String,
    token_file: PathBuf,
    policy: RetryPolicy,
    cache: TokenCache,
}

impl WorkloadIdentitySource {
    /// `authority_host` is `--access-token-host`, or `AZURE_AUTHORITY_HOST` when that flag was
    /// not given (the caller decides; see `select`).
    pub fn new(
        http: reqwest::Client,
        authority_host: &str,
        tenant_id: &str,
        client_id: &str,
        token_file: PathBuf,
    ) -> Result<Self, AuthError> {
        check_tenant("AZURE_TENANT_ID (--tenant-id)", tenant_id)?;
        check_client_id("AZURE_CLIENT_ID (--client-id)", client_id)?;
        let token_url = authority_url("--access-token-host", authority_host, tenant_id, "token")?;
        Ok(WorkloadIdentitySource {
            http,
            token_url,
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            token_file,
            policy: RetryPolicy::default(),
            cache: TokenCache::default(),
        })
    }

    /// Use `policy` for throttling and server-error retries.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    async fn fetch(&self, scope: &str) -> Result<AccessToken, AuthError> {
        // Read for every token request: Kubernetes rotates the projected token (hourly by
        // default) and an old one is refused with AADSTS700024.
        let assertion = read_credential_file(
            "AZURE_FEDERATED_TOKEN_FILE",
            &self.token_file,
            Trim::Whitespace,
            "the federated token has not been written yet; check the service account token projection",
        )?;
        let req = TokenRequest::post(
            self.token_url.clone(),
            vec![
                Field::plain("grant_type", "client_credentials"),
                Field::plain("client_id", &self.client_id),
                Field::plain("client_assertion_type", JWT_BEARER_ASSERTION),
                Field::secret("client_assertion", &assertion),
                Field::plain("scope", scope),
            ],
        );
        fetch_token(&self.http, &req, &self.policy).await
    }
}

#[async_trait::async_trait]
impl TokenSource for WorkloadIdentitySource {
    fn describe(&self) -> String {
        format!(
            "workload identity of app {} in tenant {} (federated token file {})",
            self.client_id,
            self.tenant_id,
            self.token_file.display()
        )
    }

    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError> {
        self.cache.get_or_fetch(scope, || self.fetch(scope)).await
    }
}

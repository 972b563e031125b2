//! App-only tokens with a client secret: the OAuth client-credentials grant, the same request
//! the Elasticsearch realm sends with the secret it finds in its keystore.

use url::Url;

use super::cache::TokenCache;
use super::http::{Field, TokenRequest};
use super::oauth::{authority_url, check_client_id, check_tenant, fetch_token};
use super::RetryPolicy;
use super::{AccessToken, AuthError, TokenSource};
use crate::secret::{ExposeSecret, SecretString};

/// The form of a client-credentials request with a secret.
fn secret_request(
    token_url: &Url,
    client_id: &str,
    secret: &SecretString,
    scope: &str,
) -> TokenRequest {
    TokenRequest::post(
        token_url.clone(),
        vec![
            Field::plain("grant_type", "client_credentials"),
            Field::plain("client_id", client_id),
            Field::secret("client_secret", secret.expose_secret()),
            Field::plain("scope", scope),
        ],
    )
}

/// One client-credentials token request: `POST {access_token_host}/{tenant_id}/oauth2/v2.0/token`
/// with `grant_type=client_credentials`, `client_id`, `client_secret`, `scope`. Throttling and
/// server errors are retried for up to a minute; a rejected secret is returned at once (see
/// [`AuthError::is_secret_not_yet_replicated`] for when retrying makes sense).
pub async fn client_credentials_token(
    http: &reqwest::Client,
    access_token_host: &str,
    tenant_id: &str,
    client_id: &str,
    client_secret: &SecretString,
    scope: &str,
) -> Result<AccessToken, AuthError> {
    client_credentials_token_with(
        http,
        access_token_host,
        tenant_id,
        client_id,
        client_secret,
        scope,
        &RetryPolicy::default(),
    )
    .await
}

/// [`client_credentials_token`] with an explicit retry policy.
pub async fn client_credentials_token_with(
    http: &reqwest::Client,
    access_token_host: &str,
    tenant_id: &str,
    client_id: &str,
    client_secret: &SecretString,
    scope: &str,
    policy: &RetryPolicy,
) -> Result<AccessToken, AuthError> {
    check_tenant("tenant_id", tenant_id)?;
    check_client_id("client_id", client_id)?;
    let url = authority_url("access_token_host", access_token_host, tenant_id, "token")?;
    let req = secret_request(&url, client_id, client_secret, scope);
    fetch_token(http, &req, policy).await
}

/// A [`TokenSource`] for an app with a client secret (`AZURE_CLIENT_SECRET`).
pub struct ClientSecretSource {
    http: reqwest::Client,
    token_url: Url,
    tenant_id: String,
    client_id: String,
    secret: SecretString,
    policy: RetryPolicy,
    cache: TokenCache,
}

impl ClientSecretSource {
    /// Check the IDs and the host now, so a typo fails before any request.
    pub fn new(
        http: reqwest::Client,
        access_token_host: &str,
        tenant_id: &str,
        client_id: &str,
        secret: SecretString,
    ) -> Result<Self, AuthError> {
        check_tenant("AZURE_TENANT_ID (--tenant-id)", tenant_id)?;
        check_client_id("AZURE_CLIENT_ID (--client-id)", client_id)?;
        if secret.expose_secret().trim().is_empty() {
            return Err(AuthError::missing(
                "the client secret is empty",
                "set AZURE_CLIENT_SECRET or AZURE_CLIENT_SECRET_FILE to the secret's value",
            ));
        }
        let token_url =
            authority_url("--access-token-host", access_token_host, tenant_id, "token")?;
        Ok(ClientSecretSource {
            http,
            token_url,
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            secret,
            policy: RetryPolicy::default(),
            cache: TokenCache::default(),
        })
    }

    /// Use `policy` for throttling and server-error retries.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }
}

#[async_trait::async_trait]
impl TokenSource for ClientSecretSource {
    fn describe(&self) -> String {
        format!(
            "client secret of app {} in tenant {}",
            self.client_id, self.tenant_id
        )
    }

    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError> {
        self.cache
            .get_or_fetch(scope, || async {
                let req = secret_request(&self.token_url, &self.client_id, &self.secret, scope);
                fetch_token(&self.http, &req, &self.policy).await
            })
            .await
    }
}

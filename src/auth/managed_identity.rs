//! Managed identity: the token comes from a local endpoint the Azure host provides, no secret
//! involved. App Service, Container Apps and Functions set `IDENTITY_ENDPOINT` +
//! `IDENTITY_HEADER`; a VM or VM scale set answers on the instance metadata service (IMDS).

use url::Url;

use super::cache::TokenCache;
use super::http::{Field, TokenRequest};
use super::oauth::{check_client_id, fetch_token, resource_of};
use super::RetryPolicy;
use super::{AccessToken, AuthError, TokenSource};
use crate::net::check_endpoint;
use crate::secret::{ExposeSecret, SecretString};

/// Where IMDS answers on every Azure VM (link-local, plain http by design).
pub const IMDS_DEFAULT_BASE: &str = "http://169.254.169.254";
/// Replaces [`IMDS_DEFAULT_BASE`] (tests, or a proxy in front of IMDS). Must be https or loopback.
pub const IMDS_ENDPOINT_VAR: &str = "MSGRAPH_KEYSTORE_IMDS_ENDPOINT";
const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
/// IMDS answers 404 while an identity is still being attached and 410 while it restarts;
/// Microsoft's SDKs retry both.
const IMDS_EXTRA_RETRIES: &[u16] = &[404, 410];

enum Endpoint {
    AppService { url: Url, header: SecretString },
    Imds { base: Url },
}

/// A [`TokenSource`] for a managed identity.
pub struct ManagedIdentitySource {
    http: reqwest::Client,
    endpoint: Endpoint,
    /// A user-assigned identity's client ID; `None` for the system-assigned one.
    client_id: Option<String>,
    policy: RetryPolicy,
    cache: TokenCache,
}

impl ManagedIdentitySource {
    /// App Service / Container Apps style: `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…`
    /// with header `X-IDENTITY-HEADER`.
    pub fn app_service(
        http: reqwest::Client,
        identity_endpoint: &str,
        identity_header: SecretString,
        client_id: Option<&str>,
    ) -> Result<Self, AuthError> {
        let url = check_endpoint("IDENTITY_ENDPOINT", identity_endpoint.trim())?;
        if identity_header.expose_secret().is_empty() {
            return Err(AuthError::missing(
                "IDENTITY_ENDPOINT is set but IDENTITY_HEADER is empty",
                "the hosting platform sets both; run inside the App Service / Container App, or choose another --auth mode",
            ));
        }
        Self::build(
            http,
            Endpoint::AppService {
                url,
                header: identity_header,
            },
            client_id,
        )
    }

    /// Instance metadata service: `GET {base}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
    /// with header `Metadata: true`. `base` is [`IMDS_DEFAULT_BASE`] unless overridden.
    pub fn imds(
        http: reqwest::Client,
        base_override: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<Self, AuthError> {
        let base = match base_override {
            Some(b) => check_endpoint(IMDS_ENDPOINT_VAR, b.trim())?,
            None => Url::parse(IMDS_DEFAULT_BASE)
                .map_err(|e| AuthError::Other(format!("built-in IMDS address: {e}")))?,
        };
        Self::build(http, Endpoint::Imds { base }, client_id)
    }

    fn build(
        http: reqwest::Client,
        endpoint: Endpoint,
        client_id: Option<&str>,
    ) -> Result<Self, AuthError> {
        if let Some(id) = client_id {
            check_client_id("AZURE_CLIENT_ID (--client-id)", id)?;
        }
        Ok(ManagedIdentitySource {
            http,
            endpoint,
            client_id: client_id.map(str::to_string),
            policy: RetryPolicy::default(),
            cache: TokenCache::default(),
        })
    }

    /// Use `policy` for throttling and server-error retries.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn request(&self, scope: &str) -> TokenRequest {
        let resource = resource_of(scope);
        match &self.endpoint {
            Endpoint::AppService { url, header } => {
                let mut url = url.clone();
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("api-version", APP_SERVICE_API_VERSION);
                    q.append_pair("resource", resource);
                    if let Some(id) = &self.client_id {
                        q.append_pair("client_id", id);
                    }
                }
                TokenRequest::get(
                    url,
                    vec![Field::secret("x-identity-header", header.expose_secret())],
                )
            }
            Endpoint::Imds { base } => {
                let mut url = base.clone();
                let path = format!("{}{IMDS_PATH}", base.path().trim_end_matches('/'));
                url.set_path(&path);
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("api-version", IMDS_API_VERSION);
                    q.append_pair("resource", resource);
                    if let Some(id) = &self.client_id {
                        q.append_pair("client_id", id);
                    }
                }
                let mut req = TokenRequest::get(url, vec![Field::plain("metadata", "true")]);
                req.extra_retry_statuses = IMDS_EXTRA_RETRIES;
                req
            }
        }
    }
}

#[async_trait::async_trait]
impl TokenSource for ManagedIdentitySource {
    fn describe(&self) -> String {
        let which = match &self.client_id {
            Some(id) => format!("user-assigned managed identity {id}"),
            None => "system-assigned managed identity".to_string(),
        };
        match &self.endpoint {
            Endpoint::AppService { url, .. } => format!("{which} (IDENTITY_ENDPOINT {url})"),
            Endpoint::Imds { base } => format!("{which} (instance metadata service {base})"),
        }
    }

    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError> {
        self.cache
            .get_or_fetch(scope, || async {
                let req = self.request(scope);
                fetch_token(&self.http, &req, &self.policy).await
            })
            .await
    }
}

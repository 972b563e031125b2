//! Signing in as a person at a terminal with the OAuth device authorization grant (RFC 8628):
//! ask for a code, show it, poll the token endpoint until the person has signed in in a
//! browser, on this machine or any other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use super::cache::TokenCache;
use super::http::{exchange, parse_failure, Field, TokenRequest};
use super::oauth::{
    authority_url, check_client_id, check_tenant, refusal, token_from_answer, LooseNumber,
};
use super::RetryPolicy;
use super::{AccessToken, AuthError, TokenSource};
use crate::secret::Zeroizing;

/// The Azure CLI's first-party public client, pre-authorized for Microsoft Graph in every
/// tenant: the default when no `--client-id` / `AZURE_CLIENT_ID` is given.
pub const AZURE_CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/// Authority segment for "any work or school account" when no tenant is given.
pub const ANY_ORGANIZATION: &str = "organizations";
/// OAuth's grant type for polling with a device code.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 §3.5: on `slow_down` the interval grows by five seconds.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// RFC 8628 §3.2: the interval when the server names none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Used when the server gives no lifetime for the code (Entra gives 900 s).
const DEFAULT_CODE_LIFETIME: Duration = Duration::from_secs(900);
/// Longest code lifetime believed: nobody waits at a terminal longer, and it bounds the
/// polling loop whatever the server says.
pub const MAX_CODE_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest polling interval believed (Entra asks for 5 s); a longer one is this.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// Where the sign-in instructions go (stderr unless replaced).
pub type Prompt = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Deserialize)]
struct DeviceCodeAnswer {
    device_code: Option<String>,
    user_code: Option<String>,
    verification_uri: Option<String>,
    expires_in: Option<LooseNumber>,
    interval: Option<LooseNumber>,
    message: Option<String>,
}

/// A [`TokenSource`] that signs a person in with a device code.
pub struct DeviceCodeSource {
    http: reqwest::Client,
    devicecode_url: Url,
    token_url: Url,
    tenant: String,
    client_id: String,
    policy: RetryPolicy,
    slow_down_step: Duration,
    prompt: Prompt,
    cache: TokenCache,
}

impl DeviceCodeSource {
    /// `tenant` is a tenant ID or domain, or [`ANY_ORGANIZATION`]; `client_id` a public-client
    /// app (e.g. [`AZURE_CLI_CLIENT_ID`]).
    pub fn new(
        http: reqwest::Client,
        access_token_host: &str,
        tenant: &str,
        client_id: &str,
    ) -> Result<Self, AuthError> {
        check_tenant("AZURE_TENANT_ID (--tenant-id)", tenant)?;
        check_client_id("AZURE_CLIENT_ID (--client-id)", client_id)?;
        let devicecode_url = authority_url(
            "--access-token-host",
            access_token_host,
            tenant,
            "devicecode",
        )?;
        let token_url = authority_url("--access-token-host", access_token_host, tenant, "token")?;
        Ok(DeviceCodeSource {
            http,
            devicecode_url,
            token_url,
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            policy: RetryPolicy::default(),
            slow_down_step: SLOW_DOWN_STEP,
            prompt: Arc::new(|text: &str| eprintln!("{text}")),
            cache: TokenCache::default(),
        })
    }

    /// Show the sign-in instructions through `prompt` instead of stderr.
    pub fn with_prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = prompt;
        self
    }

    /// How much `slow_down` adds to the polling interval (5 s per RFC 8628; tests shorten it).
    pub fn with_slow_down_step(mut self, step: Duration) -> Self {
        self.slow_down_step = step;
        self
    }

    /// Use `policy` for throttling and server-error retries of each request.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    async fn sign_in(&self, scope: &str) -> Result<AccessToken, AuthError> {
        let ask = TokenRequest::post(
            self.devicecode_url.clone(),
            vec![
                Field::plain("client_id", &self.client_id),
                Field::plain("scope", scope),
            ],
        );
        let answer = exchange(&self.http, &ask, &self.policy).await?;
        if !(200..300).contains(&answer.status) {
            return Err(refusal(&ask, &answer));
        }
        let code = parse_device_code_answer(&ask.endpoint(), &answer.body)?;
        (self.prompt)(&code.instructions);
        let DeviceCode {
            device_code,
            lifetime,
            mut interval,
            ..
        } = code;
        let started = Instant::now();
        loop {
            // A poll that would come after the code expired cannot succeed: stop now.
            if interval > lifetime.saturating_sub(started.elapsed()) {
                return Err(AuthError::DeviceCodeExpired);
            }
            tokio::time::sleep(interval).await;
            if started.elapsed() > lifetime {
                return Err(AuthError::DeviceCodeExpired);
            }
            let poll = TokenRequest::post(
                self.token_url.clone(),
                vec![
                    Field::plain("grant_type", DEVICE_CODE_GRANT),
                    Field::plain("client_id", &self.client_id),
                    Field::secret("device_code", &device_code),
                ],
            );
            let answer = exchange(&self.http, &poll, &self.policy).await?;
            if (200..300).contains(&answer.status) {
                return token_from_answer(&poll, &answer);
            }
            let error = parse_failure(
                &poll.endpoint(),
                answer.status,
                &answer.body,
                &poll.secrets(),
            )
            .map(|f| f.error)
            .unwrap_or_default();
            match error.as_str() {
                "authorization_pending" => {}
                "slow_down" => {
                    interval = interval
                        .saturating_add(self.slow_down_step)
                        .min(MAX_POLL_INTERVAL)
                }
                "expired_token" | "code_expired" => return Err(AuthError::DeviceCodeExpired),
                "authorization_declined" | "access_denied" => {
                    return Err(AuthError::DeviceCodeDeclined)
                }
                _ => return Err(refusal(&poll, &answer)),
            }
        }
    }
}

/// A device code answer, read and bounded.
pub struct DeviceCode {
    /// The secret polling code (wiped when dropped).
    pub device_code: Zeroizing<String>,
    /// What to show the person: the server's `message`, or one made from the user code and URI.
    pub instructions: String,
    /// How often to poll: `interval`, at most [`MAX_POLL_INTERVAL`] (5 s when absent).
    pub interval: Duration,
    /// How long the code lives: `expires_in`, at most [`MAX_CODE_LIFETIME`] (900 s when absent).
    pub lifetime: Duration,
}

impl std::fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCode")
            .field("device_code", &"[REDACTED]")
            .field("instructions", &self.instructions)
            .field("interval", &self.interval)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// Read a `devicecode` endpoint's success body. A negative or non-numeric `interval` or
/// `expires_in` is ignored (the RFC 8628 default is used); a huge one is bounded.
pub fn parse_device_code_answer(endpoint: &str, body: &[u8]) -> Result<DeviceCode, AuthError> {
    let code: DeviceCodeAnswer =
        serde_json::from_slice(body).map_err(|_| AuthError::BadResponse {
            endpoint: endpoint.to_string(),
            reason: "the body is not a device code answer".to_string(),
        })?;
    let missing = |field: &str| AuthError::BadResponse {
        endpoint: endpoint.to_string(),
        reason: format!("no {field} in the device code answer"),
    };
    let device_code = Zeroizing::new(
        code.device_code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| missing("device_code"))?,
    );
    let instructions = match (code.message, code.user_code, code.verification_uri) {
        (Some(m), _, _) if !m.trim().is_empty() => m,
        (_, Some(user_code), Some(uri)) => {
            format!("To sign in, open {uri} in a browser and enter the code {user_code}")
        }
        _ => return Err(missing("user_code / verification_uri")),
    };
    let lifetime = code
        .expires_in
        .as_ref()
        .and_then(|n| n.duration(MAX_CODE_LIFETIME))
        .unwrap_or(DEFAULT_CODE_LIFETIME);
    let interval = code
        .interval
        .as_ref()
        .and_then(|n| n.duration(MAX_POLL_INTERVAL))
        .unwrap_or(DEFAULT_INTERVAL);
    Ok(DeviceCode {
        device_code,
        instructions,
        interval,
        lifetime,
    })
}

#[async_trait::async_trait]
impl TokenSource for DeviceCodeSource {
    fn describe(&self) -> String {
        let app = if self.client_id == AZURE_CLI_CLIENT_ID {
            format!("the Azure CLI's public client {}", self.client_id)
        } else {
            format!("public client app {}", self.client_id)
        };
        format!("device code sign-in with {app} in tenant {}", self.tenant)
    }

    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError> {
        self.cache.get_or_fetch(scope, || self.sign_in(scope)).await
    }
}

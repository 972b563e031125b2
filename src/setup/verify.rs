//! `verify`: prove that the realm's credentials work, the way the realm itself will use them,
//! before anyone restarts a node.
//!
//! The realm (`MicrosoftGraphAuthzRealm`) asks `{access_token_host}/{tenant_id}/oauth2/v2.0/token`
//! for a client-credentials token with the scope `https://graph.microsoft.com/.default`
//! (hard-coded in the realm, whatever `graph_host` says), then for each user it looks up the
//! user and their transitive group memberships. We do the same: token (retrying while a
//! brand-new secret replicates), the `roles` claim against the permissions the realm needs,
//! then `GET /users?$top=1&$select=id` and that user's
//! `transitiveMemberOf/microsoft.graph.group?$select=id`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::auth::{self, AccessToken, AuthError, TokenSource};
use crate::exit::{ExitCode, UserFacing};
use crate::graph::{GraphClient, GraphError};
use crate::provision::Progress;
use crate::secret::SecretString;

/// The scope the realm requests (hard-coded in the realm's source).
pub const REALM_SCOPE: &str = "https://graph.microsoft.com/.default";

/// What to verify.
pub struct VerifyInput<'a> {
    pub access_token_host: &'a str,
    pub graph_host: &'a str,
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a SecretString,
    /// The application permissions the realm needs (role values, e.g. `User.Read.All`).
    pub required_roles: &'a [&'a str],
    /// How long to keep retrying a token request that fails as "secret not replicated yet".
    pub replication_wait: Duration,
    /// Pause between those retries.
    pub retry_interval: Duration,
    /// Told when the token is refused and the wait for replication starts, so a person does
    /// not stare at a silent terminal for two minutes.
    pub progress: &'a dyn Progress,
}

/// One permission and whether the token carries it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoleCheck {
    pub permission: String,
    pub granted: bool,
}

/// One of the realm's Graph calls.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CallCheck {
    pub call: String,
    pub ok: bool,
    pub detail: String,
}

/// The overall verdict, most severe first.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Token issued, every permission granted, both calls succeeded.
    Ok,
    /// Token issued but permissions are missing or Graph refused a call (consent missing).
    PermissionsMissing,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub verdict: Verdict,
    /// How many token requests it took (more than one while a new secret replicates).
    pub token_attempts: u32,
    pub roles: Vec<RoleCheck>,
    pub calls: Vec<CallCheck>,
}

impl VerifyReport {
    pub fn missing_roles(&self) -> Vec<&str> {
        self.roles
            .iter()
            .filter(|r| !r.granted)
            .map(|r| r.permission.as_str())
            .collect()
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.verdict {
            Verdict::Ok => ExitCode::Ok,
            Verdict::PermissionsMissing => ExitCode::PermissionsMissing,
        }
    }
}

/// Why verification could not even get a verdict.
#[derive(Debug)]
pub enum VerifyError {
    /// The token request failed: credentials refused (also after waiting for replication),
    /// or the login host could not be reached.
    Token(AuthError),
    /// Graph could not be reached or failed in a way that says nothing about the credentials.
    Graph(GraphError),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Only a refusal says something about the credentials; an unreachable host or a
            // throttled endpoint does not.
            VerifyError::Token(e) if e.exit_code() == ExitCode::CredentialsRejected => {
                write!(f, "the realm's credentials do not work: {e}")
            }
            VerifyError::Token(e) => write!(f, "the realm's token request failed: {e}"),
            VerifyError::Graph(e) => write!(f, "the realm's Graph calls failed: {e}"),
        }
    }
}

impl std::error::Error for VerifyError {}

impl UserFacing for VerifyError {
    fn exit_code(&self) -> ExitCode {
        match self {
            VerifyError::Token(e) => e.exit_code(),
            VerifyError::Graph(e) => e.exit_code(),
        }
    }
}

/// Run the realm's token request and Graph calls.
pub async fn verify(
    http: &reqwest::Client,
    input: &VerifyInput<'_>,
) -> Result<VerifyReport, VerifyError> {
    let (token, token_attempts) = realm_token(http, input).await?;
    let granted = auth::jwt::roles(expose(&token.token)).unwrap_or_default();
    let roles: Vec<RoleCheck> = input
        .required_roles
        .iter()
        .map(|role| RoleCheck {
            permission: role.to_string(),
            granted: granted.iter().any(|g| g == role),
        })
        .collect();

    let graph = GraphClient::new(
        http.clone(),
        Arc::new(FixedToken(token)),
        input.graph_host,
        REALM_SCOPE,
        Instant::now() + Duration::from_secs(60),
    )
    .map_err(|e| {
        VerifyError::Graph(GraphError::Auth {
            message: e.to_string(),
            code: ExitCode::Usage,
        })
    })?;

    let mut calls = Vec::new();
    let users_path = "/users?$top=1&$select=id";
    let first_user = match graph.get_json::<serde_json::Value>(users_path).await {
        Ok(body) => {
            let id = body["value"][0]["id"].as_str().map(str::to_string);
            calls.push(CallCheck {
                call: format!("GET {users_path}"),
                ok: true,
                detail: match &id {
                    Some(_) => "a user was read".to_string(),
                    None => "the tenant has no users to read".to_string(),
                },
            });
            id
        }
        Err(e) if is_refusal(&e) => {
            calls.push(refused(users_path, &e));
            None
        }
        Err(e) => return Err(VerifyError::Graph(e)),
    };
    if let Some(user) = first_user {
        let path = format!("/users/{user}/transitiveMemberOf/microsoft.graph.group?$select=id");
        match graph.get_json::<serde_json::Value>(&path).await {
            Ok(body) => {
                let groups = body["value"].as_array().map_or(0, Vec::len);
                calls.push(CallCheck {
                    call: "GET /users/{id}/transitiveMemberOf/microsoft.graph.group?$select=id"
                        .to_string(),
                    ok: true,
                    detail: format!("{groups} group(s) on the first page"),
                });
            }
            Err(e) if is_refusal(&e) => calls.push(refused(
                "/users/{id}/transitiveMemberOf/microsoft.graph.group?$select=id",
                &e,
            )),
            Err(e) => return Err(VerifyError::Graph(e)),
        }
    }

    let all_roles = roles.iter().all(|r| r.granted);
    let all_calls = calls.iter().all(|c| c.ok);
    Ok(VerifyReport {
        verdict: if all_roles && all_calls {
            Verdict::Ok
        } else {
            Verdict::PermissionsMissing
        },
        token_attempts,
        roles,
        calls,
    })
}

/// The realm's token request, retried while the error looks like replication of a new secret.
pub(crate) async fn realm_token(
    http: &reqwest::Client,
    input: &VerifyInput<'_>,
) -> Result<(AccessToken, u32), VerifyError> {
    let give_up = Instant::now() + input.replication_wait;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match auth::client_credentials_token(
            http,
            input.access_token_host,
            input.tenant_id,
            input.client_id,
            input.client_secret,
            REALM_SCOPE,
        )
        .await
        {
            Ok(token) => {
                if attempts > 1 {
                    input.progress.done_waiting();
                }
                return Ok((token, attempts));
            }
            Err(e)
                if e.is_secret_not_yet_replicated()
                    && Instant::now() + input.retry_interval < give_up =>
            {
                tracing::info!(
                    attempt = attempts,
                    "token refused, waiting for the new secret to replicate"
                );
                if attempts == 1 {
                    input.progress.step(&format!(
                        "The token endpoint refuses the secret (AADSTS{}); a new secret can take a minute or two to be accepted everywhere: retrying for up to {}s",
                        e.aadsts().unwrap_or_default(),
                        input.replication_wait.as_secs()
                    ));
                }
                input
                    .progress
                    .waiting("waiting for the secret to replicate");
                tokio::time::sleep(input.retry_interval).await;
            }
            Err(e) => {
                if attempts > 1 {
                    input.progress.done_waiting();
                }
                return Err(VerifyError::Token(e));
            }
        }
    }
}

/// A 401/403 from Graph: the token is not allowed to make the call (consent missing).
fn is_refusal(e: &GraphError) -> bool {
    e.api().is_some_and(|a| a.status == 401 || a.status == 403)
}

fn refused(call: &str, e: &GraphError) -> CallCheck {
    CallCheck {
        call: format!("GET {call}"),
        ok: false,
        detail: e.to_string(),
    }
}

fn expose(s: &SecretString) -> &str {
    use crate::secret::ExposeSecret;
    s.expose_secret()
}

/// A token we already hold, handed to the Graph client.
struct FixedToken(AccessToken);

#[async_trait::async_trait]
impl TokenSource for FixedToken {
    fn describe(&self) -> String {
        "the realm's client credentials".to_string()
    }

    async fn token(&self, _scope: &str) -> Result<AccessToken, AuthError> {
        Ok(AccessToken {
            token: self.0.token.clone(),
            expires_at: self.0.expires_at,
        })
    }
}

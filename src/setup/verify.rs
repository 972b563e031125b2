//! `verify`: prove that the realm's credentials work, the way the realm itself will use them,
//! before anyone restarts a node.
//!
//! The realm (`MicrosoftGraphAuthzRealm`) asks `{access_token_host}/{tenant_id}/oauth2/v2.0/token`
//! for a client-credentials token with the scope `https://graph.microsoft.com/.default`
//! (hard-coded in the realm, whatever `graph_host` says), then looks each user up with two
//! Graph calls (see [`lookup`]). We do the same: the token (retrying while a brand-new secret
//! or service principal replicates), the token's `roles` against the permission set the app
//! was given, then either the realm's own lookup of named principals (`--principal`) or, with
//! none named, a permission probe that is *not* the realm's lookup.

pub mod lookup;
pub mod timeouts;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::auth::{self, AccessToken, AuthError, TokenSource};
use crate::exit::{ExitCode, UserFacing};
use crate::graph::{GraphClient, GraphError};
use crate::provision::{PermissionSet, Progress};
use crate::secret::SecretString;

pub use lookup::{GroupInfo, PrincipalReport};
pub use timeouts::RealmTimeouts;

/// The scope the realm requests (hard-coded in the realm's source).
pub const REALM_SCOPE: &str = "https://graph.microsoft.com/.default";

/// How long a new secret, app or service principal may take to be accepted everywhere.
/// Microsoft documents "a few minutes" of replication; ten covers the slow cases we have
/// seen. A keystore written longer ago than this holds a secret that is not going to start
/// working by waiting.
pub const REPLICATION_WINDOW: Duration = Duration::from_secs(600);

/// How long, right after this run granted admin consent, a token without the new roles or
/// a Graph 403 is taken for the grant still replicating.
pub const GRANT_REPLICATION_WAIT: Duration = Duration::from_secs(120);

/// What to verify.
pub struct VerifyInput<'a> {
    pub access_token_host: &'a str,
    pub graph_host: &'a str,
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a SecretString,
    /// The application permissions the realm must hold (role values, e.g. `User.Read.All`);
    /// `None`: the permission set the token shows the app was given.
    pub required_roles: Option<&'a [&'a str]>,
    /// How long to keep retrying a token request that fails as "not replicated yet".
    pub replication_wait: Duration,
    /// Pause between those retries.
    pub retry_interval: Duration,
    /// Told when the token is refused and the wait for replication starts, so a person does
    /// not stare at a silent terminal for two minutes.
    pub progress: &'a dyn Progress,
    /// How long ago the secret was stored (the keystore's age); `None` when it was created
    /// by this run. Past [`REPLICATION_WINDOW`] a refused secret is not retried.
    pub secret_age: Option<Duration>,
    /// This run granted the app's roles moments ago: a token without them, or a Graph 403,
    /// is retried for [`GRANT_REPLICATION_WAIT`] (bounded by `replication_wait`).
    pub granted_this_run: bool,
    /// Users to look up exactly as the realm would (`--principal`).
    pub principals: &'a [String],
    /// The realm's `http_request_timeout` and `execution_timeout`.
    pub timeouts: RealmTimeouts,
}

/// One permission and whether the token carries it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoleCheck {
    pub permission: String,
    pub granted: bool,
}

/// One Graph call of the permission probe.
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
    /// Token issued, every permission granted, every call succeeded, every principal found.
    Ok,
    /// Token issued but permissions are missing or Graph refused a call (consent missing).
    PermissionsMissing,
    /// Graph does not know a principal: the realm's lookup of that user fails.
    PrincipalNotFound,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub verdict: Verdict,
    /// How many token requests it took (more than one while a new secret replicates).
    pub token_attempts: u32,
    /// The permission set checked (`default`, `least-privilege`).
    pub permission_set: PermissionSet,
    /// Where it came from: `token` (the roles the app was granted) or `--permissions`.
    pub permission_source: &'static str,
    pub roles: Vec<RoleCheck>,
    /// The permission probe's calls (only without principals: not the realm's lookup).
    pub calls: Vec<CallCheck>,
    /// The realm's lookup of each `--principal`.
    pub principals: Vec<PrincipalReport>,
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
            Verdict::PrincipalNotFound => ExitCode::PrincipalNotFound,
        }
    }
}

/// Why verification could not even get a verdict.
#[derive(Debug)]
pub enum VerifyError {
    /// The token request failed: credentials refused (also after waiting for replication),
    /// or the login host could not be reached.
    Token(AuthError),
    /// The secret is refused and was stored longer ago than replication takes: waiting
    /// will not make it work.
    StaleSecret { error: AuthError, age: Duration },
    /// Graph could not be reached or failed in a way that says nothing about the credentials.
    Graph(GraphError),
    /// The realm's `execution_timeout` ran out during the lookup of `principal`.
    Timeout {
        principal: String,
        timeout: Duration,
    },
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
            VerifyError::StaleSecret { error, age } => write!(
                f,
                "the realm's credentials do not work: {error}; the keystore holding the secret was last written {} minute(s) ago, longer than the {} minutes a new secret needs to replicate, so waiting will not help: add a new secret with `msgraph-keystore rotate`",
                age.as_secs() / 60,
                REPLICATION_WINDOW.as_secs() / 60
            ),
            VerifyError::Graph(e) => write!(f, "the realm's Graph calls failed: {e}"),
            VerifyError::Timeout { principal, timeout } => write!(
                f,
                "the lookup of [{principal}] took longer than the realm's execution_timeout ({}s): the realm would give up on this user too; check the network to graph_host or raise execution_timeout",
                timeout.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VerifyError::Token(e) | VerifyError::StaleSecret { error: e, .. } => Some(e),
            VerifyError::Graph(e) => Some(e),
            VerifyError::Timeout { .. } => None,
        }
    }
}

impl UserFacing for VerifyError {
    fn exit_code(&self) -> ExitCode {
        match self {
            VerifyError::Token(e) | VerifyError::StaleSecret { error: e, .. } => e.exit_code(),
            VerifyError::Graph(e) => e.exit_code(),
            VerifyError::Timeout { .. } => ExitCode::TempFail,
        }
    }
}

/// Run the realm's token request and Graph calls.
pub async fn verify(
    http: &reqwest::Client,
    input: &VerifyInput<'_>,
) -> Result<VerifyReport, VerifyError> {
    let started = Instant::now();
    // A grant this run made may take a while to show; nothing else is worth waiting for.
    let grant_deadline = started + input.replication_wait.min(GRANT_REPLICATION_WAIT);
    let (mut token, mut token_attempts) = realm_token(http, input).await?;
    let mut grant_waits = 0u32;
    let permission_set = loop {
        let granted = token_roles(&token);
        let chosen = match input.required_roles {
            Some(_) => None,
            None => Some(infer_permission_set(&granted)),
        };
        let required = input
            .required_roles
            .unwrap_or_else(|| chosen.unwrap_or_default().role_values());
        let complete = required.iter().all(|r| granted.iter().any(|g| g == r));
        if complete
            || !input.granted_this_run
            || Instant::now() + input.retry_interval > grant_deadline
        {
            break chosen;
        }
        wait_for_grant(input, &mut grant_waits).await;
        let (t, n) = realm_token(http, input).await?;
        token = t;
        token_attempts += n;
    };

    loop {
        let granted = token_roles(&token);
        let required = input
            .required_roles
            .unwrap_or_else(|| permission_set.unwrap_or_default().role_values());
        let roles: Vec<RoleCheck> = required
            .iter()
            .map(|role| RoleCheck {
                permission: role.to_string(),
                granted: granted.iter().any(|g| g == role),
            })
            .collect();
        let graph = realm_graph_client(http, input, token.clone_token())?;
        let (calls, principals) = if input.principals.is_empty() {
            (permission_probe(&graph).await?, Vec::new())
        } else {
            let mut reports = Vec::new();
            for principal in input.principals {
                reports.push(lookup_one(http, input, &token, principal).await?);
            }
            (Vec::new(), reports)
        };
        let refused = calls.iter().any(|c| !c.ok) || principals.iter().any(|p| p.refused.is_some());
        if refused
            && input.granted_this_run
            && Instant::now() + input.retry_interval <= grant_deadline
        {
            // Graph's authorization may lag the grant this run just made.
            wait_for_grant(input, &mut grant_waits).await;
            let (t, n) = realm_token(http, input).await?;
            token = t;
            token_attempts += n;
            continue;
        }
        if grant_waits > 0 {
            input.progress.done_waiting();
        }
        let all_roles = roles.iter().all(|r| r.granted);
        let verdict = if !all_roles || refused {
            Verdict::PermissionsMissing
        } else if principals.iter().any(|p| !p.found) {
            Verdict::PrincipalNotFound
        } else {
            Verdict::Ok
        };
        return Ok(VerifyReport {
            verdict,
            token_attempts,
            permission_set: permission_set.unwrap_or_else(|| set_named_by(required)),
            permission_source: if input.required_roles.is_some() {
                "--permissions"
            } else {
                "token"
            },
            roles,
            calls,
            principals,
        });
    }
}

/// Which known permission set the token's roles show: the one fully granted (the
/// documented default first), else the one most of whose roles are there (the default on a
/// tie, e.g. a token with no roles at all), so the report lists what is missing from it.
pub fn infer_permission_set(granted: &[String]) -> PermissionSet {
    let candidates = [PermissionSet::Default, PermissionSet::LeastPrivilege];
    let held = |set: PermissionSet| {
        set.role_values()
            .iter()
            .filter(|r| granted.iter().any(|g| g == *r))
            .count()
    };
    if let Some(full) = candidates
        .iter()
        .find(|s| held(**s) == s.role_values().len())
    {
        return *full;
    }
    let mut best = PermissionSet::Default;
    for set in candidates {
        if held(set) > held(best) {
            best = set;
        }
    }
    best
}

/// The set whose roles are exactly `roles` (for reports when `--permissions` chose them).
fn set_named_by(roles: &[&str]) -> PermissionSet {
    [PermissionSet::Default, PermissionSet::LeastPrivilege]
        .into_iter()
        .find(|s| s.role_values() == roles)
        .unwrap_or_default()
}

fn token_roles(token: &AccessToken) -> Vec<String> {
    auth::jwt::roles(expose(&token.token)).unwrap_or_default()
}

async fn wait_for_grant(input: &VerifyInput<'_>, waits: &mut u32) {
    *waits += 1;
    if *waits == 1 {
        input.progress.step(
            "The admin consent granted moments ago has not reached the token service or Graph yet: retrying",
        );
    }
    input
        .progress
        .waiting("waiting for the new grant to replicate");
    tokio::time::sleep(input.retry_interval).await;
}

fn realm_graph_client(
    http: &reqwest::Client,
    input: &VerifyInput<'_>,
    token: AccessToken,
) -> Result<GraphClient, VerifyError> {
    GraphClient::new(
        http.clone(),
        Arc::new(FixedToken(token)),
        input.graph_host,
        REALM_SCOPE,
        Instant::now() + input.timeouts.execution,
    )
    .map(|g| g.with_request_timeout(input.timeouts.per_request()))
    .map_err(|e| {
        VerifyError::Graph(GraphError::Auth {
            message: e.to_string(),
            code: ExitCode::Usage,
        })
    })
}

/// The realm's lookup of one principal, within the realm's `execution_timeout`.
async fn lookup_one(
    http: &reqwest::Client,
    input: &VerifyInput<'_>,
    token: &AccessToken,
    principal: &str,
) -> Result<PrincipalReport, VerifyError> {
    // A fresh deadline per principal, as the realm schedules one per lookup.
    let graph = realm_graph_client(http, input, token.clone_token())?;
    match tokio::time::timeout(input.timeouts.execution, lookup::lookup(&graph, principal)).await {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(lookup::LookupFailure::Graph(e))) => Err(VerifyError::Graph(e)),
        Err(_) => Err(VerifyError::Timeout {
            principal: principal.to_string(),
            timeout: input.timeouts.execution,
        }),
    }
}

/// Without principals: can the token read users and memberships at all? Not the realm's
/// lookup (the realm never lists users): it only shows the permissions work.
async fn permission_probe(graph: &GraphClient) -> Result<Vec<CallCheck>, VerifyError> {
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
        Err(e) if lookup::is_refusal(&e) => {
            calls.push(refused(users_path, &e));
            None
        }
        Err(e) => return Err(VerifyError::Graph(e)),
    };
    if let Some(user) = first_user {
        let shown = "/users/{id}/transitiveMemberOf/graph.group?$select=id&$top=999";
        let path = format!("/users/{user}/transitiveMemberOf/graph.group?$select=id&$top=999");
        match graph.get_json::<serde_json::Value>(&path).await {
            Ok(body) => {
                let groups = body["value"].as_array().map_or(0, Vec::len);
                calls.push(CallCheck {
                    call: format!("GET {shown}"),
                    ok: true,
                    detail: format!("{groups} group(s) on the first page"),
                });
            }
            Err(e) if lookup::is_refusal(&e) => calls.push(refused(shown, &e)),
            Err(e) => return Err(VerifyError::Graph(e)),
        }
    }
    Ok(calls)
}

/// The realm's token request, retried while the error looks like replication of a new
/// secret, app or service principal, and only while that is still plausible.
pub(crate) async fn realm_token(
    http: &reqwest::Client,
    input: &VerifyInput<'_>,
) -> Result<(AccessToken, u32), VerifyError> {
    // A secret stored N minutes ago can only still be replicating for the rest of the window.
    let window_left = match input.secret_age {
        Some(age) => REPLICATION_WINDOW.saturating_sub(age),
        None => input.replication_wait,
    };
    let give_up = Instant::now() + input.replication_wait.min(window_left);
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
                    "token refused, waiting for the new credentials to replicate"
                );
                if attempts == 1 {
                    input.progress.step(&format!(
                        "The token endpoint refuses the secret (AADSTS{}); a new secret or application can take a minute or two to be accepted everywhere: retrying for up to {}s",
                        e.aadsts().unwrap_or_default(),
                        give_up.saturating_duration_since(Instant::now()).as_secs()
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
                return Err(match input.secret_age {
                    Some(age) if age >= REPLICATION_WINDOW && e.is_secret_not_yet_replicated() => {
                        VerifyError::StaleSecret { error: e, age }
                    }
                    _ => VerifyError::Token(e),
                });
            }
        }
    }
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

trait CloneToken {
    fn clone_token(&self) -> AccessToken;
}

impl CloneToken for AccessToken {
    fn clone_token(&self) -> AccessToken {
        AccessToken {
            token: self.token.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// A token we already hold, handed to the Graph client.
struct FixedToken(AccessToken);

#[async_trait::async_trait]
impl TokenSource for FixedToken {
    fn describe(&self) -> String {
        "the realm's client credentials".to_string()
    }

    async fn token(&self, _scope: &str) -> Result<AccessToken, AuthError> {
        Ok(self.0.clone_token())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_permission_set_follows_the_token() {
        assert_eq!(
            infer_permission_set(&roles(&["User.Read.All", "GroupMember.Read.All"])),
            PermissionSet::LeastPrivilege
        );
        assert_eq!(
            infer_permission_set(&roles(&[
                "Directory.ReadWrite.All",
                "Group.ReadWrite.All",
                "User.Read.All"
            ])),
            PermissionSet::Default
        );
        assert_eq!(infer_permission_set(&[]), PermissionSet::Default);
        assert_eq!(
            infer_permission_set(&roles(&["GroupMember.Read.All"])),
            PermissionSet::LeastPrivilege,
            "closest set, so the missing User.Read.All is reported"
        );
    }
}

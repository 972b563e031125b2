//! Why no token could be had, split into the failures a user can tell apart and act on.
//!
//! Every message is one line, names the endpoint, file or variable involved, and says what to
//! do next. None ever contains a secret or a token: OAuth error descriptions are cut to their
//! first line and any secret value that was sent is redacted from them before they are kept.

use crate::exit::{ExitCode, UserFacing};
use crate::net::NetError;

/// AADSTS codes that mean "these credentials are not accepted".
///
/// * 7000215: invalid client secret (also what a secret created seconds ago gives while it
///   replicates).
/// * 7000222: the client secret has expired (also reported right after creation).
/// * 700016: no application with this client ID in the tenant (or not replicated yet).
/// * 700024 / 700027 / 70021: the federated token is expired, its signature is not trusted, or no
///   federated credential on the app matches it (workload identity).
/// * 7000218: the request carried no usable client credential.
const REJECTED_CODES: &[u32] = &[7000215, 7000222, 700016, 700024, 700027, 70021, 7000218];

/// AADSTS codes that mean "no such tenant" (90002: not found; 900023: not a valid tenant ID
/// or domain name).
const TENANT_CODES: &[u32] = &[90002, 900023];

/// AADSTS codes that right after a secret or an app was created can be replication lag
/// rather than bad credentials (graph-provisioning.md §4 and §7).
const REPLICATION_CODES: &[u32] = &[7000215, 7000222, 700016, 7000229];

/// OAuth `error` values that mean the credentials were refused.
const REJECTED_ERRORS: &[&str] = &["invalid_client", "unauthorized_client", "invalid_grant"];

/// What a token endpoint said when it refused a request, reduced to what is safe and useful
/// to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFailure {
    /// The endpoint, without its query string.
    pub endpoint: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// The OAuth `error` value (`invalid_client`, …), empty when the body had none.
    pub error: String,
    /// The Entra error code (`7000215` for AADSTS7000215), when one was given.
    pub aadsts: Option<u32>,
    /// First line of `error_description`, with any secret that was sent redacted.
    pub description: Option<String>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
}

impl OAuthFailure {
    /// The code as Entra prints it, e.g. `AADSTS7000215`.
    pub fn aadsts_code(&self) -> Option<String> {
        self.aadsts.map(|c| format!("AADSTS{c}"))
    }

    /// A next step that fits the code, for the credential-rejected message.
    fn credentials_hint(&self) -> &'static str {
        match self.aadsts {
            Some(7000215) => "the client secret is wrong: use the secret's Value, not its Secret ID (a secret created in the last minute or two may still be replicating)",
            Some(7000222) => "the client secret has expired: create a new one (a brand-new secret can briefly report this while it replicates)",
            Some(700016) => "no application with this client ID exists in this tenant: check the client ID and the tenant ID (a new app can take a minute or two to replicate)",
            Some(700024) => "the federated token has expired: check that AZURE_FEDERATED_TOKEN_FILE is being refreshed",
            Some(70021) | Some(700027) => "no federated credential on the app matches this token: check the app's federated credential (issuer, subject, audience)",
            _ => "check the client ID and its credential",
        }
    }
}

impl std::fmt::Display for OAuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} answered HTTP {}", self.endpoint, self.status)?;
        if !self.error.is_empty() {
            write!(f, " {}", self.error)?;
        }
        let code = self.aadsts_code();
        match (&self.description, &code) {
            (Some(d), Some(c)) if d.contains(c.as_str()) => write!(f, ": {d}")?,
            (Some(d), Some(c)) => write!(f, ": {c}: {d}")?,
            (Some(d), None) => write!(f, ": {d}")?,
            (None, Some(c)) => write!(f, ": {c}")?,
            (None, None) => {}
        }
        let mut ids = Vec::new();
        if let Some(t) = &self.trace_id {
            ids.push(format!("trace ID {t}"));
        }
        if let Some(c) = &self.correlation_id {
            ids.push(format!("correlation ID {c}"));
        }
        if !ids.is_empty() {
            write!(f, " ({})", ids.join(", "))?;
        }
        Ok(())
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A required piece of configuration is missing; `remedy` says which variable or flag to set.
    #[error("{what}: {remedy}")]
    MissingConfig { what: String, remedy: String },

    /// A setting has a value that cannot be right (bad tenant ID, flags that do not go together).
    #[error("{setting} {problem}")]
    InvalidSetting { setting: String, problem: String },

    /// An endpoint URL is not acceptable (not https, not a URL).
    #[error(transparent)]
    Endpoint(#[from] NetError),

    /// A file holding a credential could not be read.
    #[error("cannot read {what} {path}: {reason}")]
    CredentialFile {
        what: String,
        path: String,
        reason: String,
    },

    /// A file holding a credential is empty.
    #[error("{what} {path} is empty: {remedy}")]
    EmptyCredentialFile {
        what: String,
        path: String,
        remedy: String,
    },

    /// The token endpoint refused the credentials (bad or expired secret, unknown app).
    #[error("the credentials were rejected: {0}; {hint}", hint = .0.credentials_hint())]
    CredentialsRejected(Box<OAuthFailure>),

    /// The tenant does not exist (in this cloud).
    #[error("tenant not found: {0}; check the tenant ID (AZURE_TENANT_ID / --tenant-id) and that --cloud / --access-token-host match the tenant's cloud")]
    TenantNotFound(Box<OAuthFailure>),

    /// The token endpoint refused the request for another reason (bad scope, bad request).
    #[error("the token request was refused: {0}")]
    Refused(Box<OAuthFailure>),

    /// Still throttled (429) or told to come back later (503/504), and the next wait would
    /// pass the token request's deadline (`next` says which wait, and what was left).
    #[error("{endpoint} was still answering HTTP {status} (throttled or temporarily unavailable) after {waited_secs} s of retrying, and {next}; try again in a few minutes")]
    Throttled {
        endpoint: String,
        status: u16,
        waited_secs: u64,
        next: String,
    },

    /// No connection, a timeout, or a TLS failure.
    #[error("cannot reach {endpoint}: {reason}; check the network, proxy and --ca-cert")]
    Unreachable { endpoint: String, reason: String },

    /// A server error that outlasted the retries.
    #[error("{endpoint} answered HTTP {status}{detail}; try again later")]
    ServerError {
        endpoint: String,
        status: u16,
        detail: String,
    },

    /// A success answer that does not hold what it should.
    #[error("unexpected answer from {endpoint}: {reason}")]
    BadResponse { endpoint: String, reason: String },

    /// `az` is not installed (or not on PATH).
    #[error("the Azure CLI (`az`) was not found on PATH: install it and run `az login`, or choose another --auth mode")]
    AzureCliNotFound,

    /// `az` ran but has no signed-in account.
    #[error("the Azure CLI has no usable sign-in: `az` said: {first_line}; run `az login` (with --tenant if needed) and try again")]
    AzureCliNotLoggedIn { first_line: String },

    /// `az` failed for another reason.
    #[error("`az account get-access-token` failed: {reason}")]
    AzureCliFailed { reason: String },

    /// Nobody completed the device-code sign-in in time.
    #[error("the device code sign-in was not completed before the code expired; run the command again and finish signing in within the time shown")]
    DeviceCodeExpired,

    /// The person at the browser declined the sign-in.
    #[error("the device code sign-in was declined")]
    DeviceCodeDeclined,

    /// The access token given with --access-token-file has expired.
    #[error("the access token in {path} expired at {expired_at}; write a fresh token to the file")]
    TokenFileExpired { path: String, expired_at: String },

    /// `--auth auto` found nothing to authenticate with.
    #[error("no Azure credentials found: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_SECRET_FILE), or AZURE_FEDERATED_TOKEN_FILE; or run `az login`; or pass --access-token-file FILE; or choose --auth managed-identity or --auth device-code")]
    NoCredentials,

    /// A token that should be a JWT is not one (the token itself is never printed).
    #[error("the access token is not a JWT: {0}")]
    NotAJwt(String),

    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl AuthError {
    /// True for the rejections that, right after a secret or an app was created, usually mean
    /// "not replicated yet" rather than "wrong": AADSTS7000215, AADSTS700016, and
    /// AADSTS7000222 (reported for brand-new secrets too). `verify` retries these for a while.
    pub fn is_secret_not_yet_replicated(&self) -> bool {
        match self {
            AuthError::CredentialsRejected(f) => {
                f.aadsts.is_some_and(|c| REPLICATION_CODES.contains(&c))
            }
            _ => false,
        }
    }

    /// The AADSTS code behind this error, if the token endpoint gave one.
    pub fn aadsts(&self) -> Option<u32> {
        match self {
            AuthError::CredentialsRejected(f)
            | AuthError::TenantNotFound(f)
            | AuthError::Refused(f) => f.aadsts,
            _ => None,
        }
    }

    pub(crate) fn missing(what: impl Into<String>, remedy: impl Into<String>) -> Self {
        AuthError::MissingConfig {
            what: what.into(),
            remedy: remedy.into(),
        }
    }

    pub(crate) fn invalid(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        AuthError::InvalidSetting {
            setting: setting.into(),
            problem: problem.into(),
        }
    }
}

impl UserFacing for AuthError {
    fn exit_code(&self) -> ExitCode {
        match self {
            AuthError::MissingConfig { .. }
            | AuthError::InvalidSetting { .. }
            | AuthError::EmptyCredentialFile { .. }
            | AuthError::NoCredentials => ExitCode::Usage,
            AuthError::Endpoint(e) => e.exit_code(),
            AuthError::CredentialFile { .. } => ExitCode::IoError,
            AuthError::CredentialsRejected(_)
            | AuthError::AzureCliNotLoggedIn { .. }
            | AuthError::DeviceCodeDeclined
            | AuthError::TokenFileExpired { .. } => ExitCode::CredentialsRejected,
            // A wrong tenant ID is a configuration mistake, not a bad credential: the same
            // secret would work against the right tenant.
            AuthError::TenantNotFound(_) | AuthError::Refused(_) => ExitCode::Config,
            AuthError::Throttled { .. } | AuthError::DeviceCodeExpired => ExitCode::TempFail,
            AuthError::Unreachable { .. }
            | AuthError::ServerError { .. }
            | AuthError::BadResponse { .. }
            | AuthError::AzureCliNotFound
            | AuthError::AzureCliFailed { .. } => ExitCode::Unavailable,
            AuthError::NotAJwt(_) => ExitCode::DataError,
            AuthError::Other(_) => ExitCode::Software,
        }
    }
}

/// Turn a refusal from a token endpoint into the error the user sees.
pub(crate) fn classify(failure: OAuthFailure) -> AuthError {
    // Boxed: the failure is the largest payload and errors travel through every `Result`.
    let failure = Box::new(failure);
    if failure.aadsts.is_some_and(|c| TENANT_CODES.contains(&c)) {
        return AuthError::TenantNotFound(failure);
    }
    if failure.aadsts.is_some_and(|c| REJECTED_CODES.contains(&c))
        || REJECTED_ERRORS.contains(&failure.error.as_str())
    {
        return AuthError::CredentialsRejected(failure);
    }
    AuthError::Refused(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(error: &str, code: Option<u32>) -> OAuthFailure {
        OAuthFailure {
            endpoint: "https://login.example/t/oauth2/v2.0/token".into(),
            status: 401,
            error: error.into(),
            aadsts: code,
            description: code.map(|c| format!("AADSTS{c}: something happened.")),
            trace_id: Some("trace-1".into()),
            correlation_id: Some("corr-1".into()),
        }
    }

    #[test]
    fn classification_table() {
        let rows: &[(&str, Option<u32>, ExitCode)] = &[
            (
                "invalid_client",
                Some(7000215),
                ExitCode::CredentialsRejected,
            ),
            (
                "invalid_client",
                Some(7000222),
                ExitCode::CredentialsRejected,
            ),
            (
                "unauthorized_client",
                Some(700016),
                ExitCode::CredentialsRejected,
            ),
            ("invalid_client", None, ExitCode::CredentialsRejected),
            ("invalid_request", Some(90002), ExitCode::Config),
            ("invalid_request", Some(900023), ExitCode::Config),
            ("invalid_scope", Some(70011), ExitCode::Config),
        ];
        for (error, code, want) in rows {
            let e = classify(failure(error, *code));
            assert_eq!(e.exit_code(), *want, "{error} {code:?}: {e}");
        }
    }

    #[test]
    fn replication_codes() {
        assert!(classify(failure("invalid_client", Some(7000215))).is_secret_not_yet_replicated());
        assert!(
            classify(failure("unauthorized_client", Some(700016))).is_secret_not_yet_replicated()
        );
        assert!(!classify(failure("invalid_client", None)).is_secret_not_yet_replicated());
        assert!(!classify(failure("invalid_request", Some(90002))).is_secret_not_yet_replicated());
    }

    #[test]
    fn message_is_one_line_with_code_and_ids() {
        let msg = classify(failure("invalid_client", Some(7000215))).to_string();
        assert!(!msg.contains('\n'));
        assert!(msg.contains("AADSTS7000215"), "{msg}");
        assert!(msg.contains("trace ID trace-1"), "{msg}");
        assert!(msg.contains("correlation ID corr-1"), "{msg}");
        assert_eq!(msg.matches("AADSTS7000215").count(), 1, "{msg}");
    }
}

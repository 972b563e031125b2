//! Graph failures as values a user can act on: Graph's own `code`, `message`,
//! `request-id` and `client-request-id` (what Microsoft support asks for), and the exit
//! code each kind maps to.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::classify::{classify, ErrorClass};
use crate::exit::{ExitCode, UserFacing};
use crate::retry::WaitTooLong;

/// An error response from Microsoft Graph.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP method of the failed call.
    pub method: String,
    /// Path (and query) of the failed call below `--graph-host`.
    pub path: String,
    pub status: u16,
    /// Graph's `error.code` (empty when the body had none).
    pub code: String,
    /// Graph's `error.message`, on one line.
    pub message: String,
    /// `request-id`: from the response header, else from `innerError`.
    pub request_id: Option<String>,
    /// `client-request-id`: the one Graph echoed, else the one we sent.
    pub client_request_id: Option<String>,
    /// `innerError.date`, when present.
    pub date: Option<String>,
    /// Codes of `error.details[]` (e.g. `InvalidKeyEndDate`).
    pub detail_codes: Vec<String>,
}

impl ApiError {
    /// What this error means for a retry loop.
    pub fn class(&self) -> ErrorClass {
        classify(self.status, &self.code, &self.message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Microsoft Graph answered {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        write!(f, " to {} {}", self.method, self.path)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if !self.detail_codes.is_empty() {
            write!(f, " (details: {})", self.detail_codes.join(", "))?;
        }
        write!(
            f,
            " [request-id: {}, client-request-id: {}]",
            self.request_id.as_deref().unwrap_or("none"),
            self.client_request_id.as_deref().unwrap_or("none")
        )
    }
}

/// Everything that can go wrong talking to Microsoft Graph.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// No usable HTTP response (connection refused or reset, TLS failure, timeout).
    #[error("cannot reach Microsoft Graph for {method} {path}: {reason} [client-request-id: {client_request_id}]; check --graph-host, --ca-cert and the network")]
    Transport {
        method: String,
        path: String,
        reason: String,
        client_request_id: String,
        /// The request may have reached Graph (the connection broke after it was sent),
        /// so a create call may have taken effect.
        maybe_applied: bool,
    },
    /// Retrying (throttling, replication, network) would have run past the `--timeout`
    /// deadline. `refused` is the wait that was not started (`None`: the deadline passed).
    #[error("{}", deadline_message(*waited, refused.as_ref(), last))]
    Deadline {
        waited: Duration,
        refused: Option<WaitTooLong>,
        last: Box<GraphError>,
    },
    /// No access token could be had.
    #[error("{message}")]
    Auth { message: String, code: ExitCode },
    /// Graph answered 2xx with a body we cannot read.
    #[error("unexpected response from Microsoft Graph to {method} {path}: {reason} [request-id: {}]; is --graph-host a Microsoft Graph endpoint?", request_id.as_deref().unwrap_or("none"))]
    Decode {
        method: String,
        path: String,
        reason: String,
        request_id: Option<String>,
    },
    /// A `@odata.nextLink` pointed somewhere other than `--graph-host`: following it would
    /// send our bearer token to another host.
    #[error("Microsoft Graph returned a next-page link outside --graph-host ({origin}); refusing to send the access token there")]
    ForeignNextLink { origin: String },
}

/// "gave up after 0s: Microsoft Graph asked to wait more than 24 h (Retry-After) before trying
/// again, more than the 57 s left before the --timeout deadline; last error: …"
fn deadline_message(waited: Duration, refused: Option<&WaitTooLong>, last: &GraphError) -> String {
    match refused {
        Some(r) if !r.deadline_passed() => format!(
            "gave up after {}s: {}; last error: {last}",
            waited.as_secs(),
            r.describe("Microsoft Graph", "the --timeout deadline")
        ),
        _ => format!(
            "gave up after {}s, when the --timeout deadline passed; last error: {last}",
            waited.as_secs()
        ),
    }
}

impl GraphError {
    /// The Graph error response, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            GraphError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Classification for retry loops; non-API errors are permanent at this level (the
    /// client already retried what could be retried).
    pub fn class(&self) -> ErrorClass {
        match self {
            GraphError::Api(e) => e.class(),
            _ => ErrorClass::Permanent,
        }
    }

    /// True for a Graph 404 (the object does not exist, or not yet).
    pub fn is_not_found(&self) -> bool {
        self.api().is_some_and(|e| e.status == 404)
    }
}

impl UserFacing for GraphError {
    fn exit_code(&self) -> ExitCode {
        match self {
            GraphError::Api(e) => match e.status {
                401 => ExitCode::CredentialsRejected,
                403 => ExitCode::NoPermission,
                429 | 503 | 504 => ExitCode::TempFail,
                s if s >= 500 => ExitCode::Unavailable,
                _ => ExitCode::DataError,
            },
            GraphError::Transport { .. } => ExitCode::Unavailable,
            GraphError::Deadline { .. } => ExitCode::TempFail,
            GraphError::Auth { code, .. } => *code,
            GraphError::Decode { .. } | GraphError::ForeignNextLink { .. } => ExitCode::Unavailable,
        }
    }
}

impl From<crate::auth::AuthError> for GraphError {
    fn from(e: crate::auth::AuthError) -> Self {
        let code = crate::exit::UserFacing::exit_code(&e);
        GraphError::Auth {
            message: e.to_string(),
            code,
        }
    }
}

/// The fields of Graph's error envelope we read. Every field is optional and unknown
/// fields are ignored: the documented shape and the wire differ (`innerError` vs
/// `innererror`), and throttling responses add fields of their own.
#[derive(Debug, Default, Deserialize)]
struct Envelope {
    error: Option<ErrorBody>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    #[serde(alias = "innererror", alias = "InnerError", alias = "innerError")]
    inner_error: Option<InnerError>,
    #[serde(default)]
    details: Option<Vec<Detail>>,
}

#[derive(Debug, Default, Deserialize)]
struct InnerError {
    #[serde(rename = "request-id")]
    request_id: Option<String>,
    #[serde(rename = "client-request-id")]
    client_request_id: Option<String>,
    date: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Detail {
    code: Option<String>,
}

/// What an error body said, read leniently.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParsedErrorBody {
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
    pub date: Option<String>,
    pub detail_codes: Vec<String>,
}

/// Read Graph's error envelope. A body that is not the envelope (an HTML page from a
/// proxy, say) gives its first line, trimmed, as the message.
pub fn parse_error_body(body: &[u8]) -> ParsedErrorBody {
    if let Ok(Envelope { error: Some(e) }) = serde_json::from_slice::<Envelope>(body) {
        let inner = e.inner_error.unwrap_or_default();
        return ParsedErrorBody {
            code: e.code,
            message: e.message.map(|m| one_line(&m)),
            request_id: inner.request_id,
            client_request_id: inner.client_request_id,
            date: inner.date,
            detail_codes: e
                .details
                .unwrap_or_default()
                .into_iter()
                .filter_map(|d| d.code)
                .collect(),
        };
    }
    let text = String::from_utf8_lossy(body);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    ParsedErrorBody {
        message: first.map(one_line),
        ..ParsedErrorBody::default()
    }
}

/// Collapse whitespace and cut long text so an error stays one readable line.
fn one_line(text: &str) -> String {
    const MAX: usize = 400;
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/fixtures/graph-samples/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn reads_the_documented_envelope_with_inner_error() {
        let p = parse_error_body(&fixture("error-404-request-resource-not-found.json"));
        assert_eq!(p.code.as_deref(), Some("Request_ResourceNotFound"));
        assert!(p
            .message
            .as_deref()
            .unwrap_or("")
            .starts_with("Resource 'cec88ac3"));
        assert_eq!(
            p.request_id.as_deref(),
            Some("eac4b501-99e4-475d-83cd-194c67bda47e")
        );
        assert_eq!(p.date.as_deref(), Some("2022-05-16T17:27:25"));
    }

    #[test]
    fn reads_lowercase_innererror_and_ignores_unknown_fields() {
        let body = br#"{"error":{"code":"X","message":"m","extra":{"a":1},
            "innererror":{"request-id":"r1","client-request-id":"c1","status":"429","unknown":true}},
            "somethingElse":[1,2]}"#;
        let p = parse_error_body(body);
        assert_eq!(p.code.as_deref(), Some("X"));
        assert_eq!(p.request_id.as_deref(), Some("r1"));
        assert_eq!(p.client_request_id.as_deref(), Some("c1"));
    }

    #[test]
    fn reads_throttling_sample_with_extra_inner_fields() {
        let p = parse_error_body(&fixture("error-429-too-many-requests.json"));
        assert_eq!(p.code.as_deref(), Some("TooManyRequests"));
        assert_eq!(p.message.as_deref(), Some("Please retry again later."));
        assert_eq!(
            p.request_id.as_deref(),
            Some("94fb3b52-452a-4535-a601-69e0a90e3aa2")
        );
    }

    #[test]
    fn reads_detail_codes() {
        let p = parse_error_body(&fixture("error-400-credential-lifetime-policy.json"));
        assert_eq!(
            p.code.as_deref(),
            Some("CredentialInvalidLifetimeAsPerAppPolicy")
        );
        assert_eq!(p.detail_codes, vec!["InvalidKeyEndDate".to_string()]);
    }

    #[test]
    fn non_json_body_becomes_a_one_line_message() {
        let p = parse_error_body(b"\n  <html>\n<body>Bad   Gateway</body></html>");
        assert_eq!(p.code, None);
        assert_eq!(p.message.as_deref(), Some("<html>"));
        let long = "x".repeat(1000);
        let p = parse_error_body(long.as_bytes());
        assert!(p.message.unwrap_or_default().chars().count() <= 401);
    }

    #[test]
    fn display_names_code_message_and_both_ids() {
        let e = ApiError {
            method: "POST".into(),
            path: "/applications/1/addPassword".into(),
            status: 400,
            code: "CredentialInvalidLifetimeAsPerAppPolicy".into(),
            message: "Credential lifetime exceeds the max value.".into(),
            request_id: Some("req-1".into()),
            client_request_id: Some("cli-1".into()),
            date: None,
            detail_codes: vec!["InvalidKeyEndDate".into()],
        };
        let shown = GraphError::Api(Box::new(e)).to_string();
        for part in [
            "400",
            "CredentialInvalidLifetimeAsPerAppPolicy",
            "POST /applications/1/addPassword",
            "Credential lifetime exceeds",
            "InvalidKeyEndDate",
            "request-id: req-1",
            "client-request-id: cli-1",
        ] {
            assert!(shown.contains(part), "{part} missing from {shown}");
        }
    }

    #[test]
    fn exit_codes_follow_the_status() {
        let api = |status| {
            GraphError::Api(Box::new(ApiError {
                method: "GET".into(),
                path: "/x".into(),
                status,
                code: String::new(),
                message: String::new(),
                request_id: None,
                client_request_id: None,
                date: None,
                detail_codes: vec![],
            }))
        };
        assert_eq!(api(401).exit_code(), ExitCode::CredentialsRejected);
        assert_eq!(api(403).exit_code(), ExitCode::NoPermission);
        assert_eq!(api(429).exit_code(), ExitCode::TempFail);
        assert_eq!(api(500).exit_code(), ExitCode::Unavailable);
        assert_eq!(api(400).exit_code(), ExitCode::DataError);
        let deadline = GraphError::Deadline {
            waited: Duration::from_secs(300),
            refused: None,
            last: Box::new(api(429)),
        };
        assert_eq!(deadline.exit_code(), ExitCode::TempFail);
        assert!(deadline.to_string().contains("--timeout"));
    }
}

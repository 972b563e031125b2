//! Sending one token request, with retries, and reading the answer without leaking it.
//!
//! Every field and header is marked secret or not: secret values are sent as sensitive
//! headers, kept in zeroizing buffers, and cut out of any error text the server sends back.

use std::time::SystemTime;

use reqwest::header::{HeaderName, HeaderValue};
use tracing::debug;
use url::Url;

use super::error::{AuthError, OAuthFailure};
use super::RetryPolicy;
use crate::http_body::{read_body, BodyError, MAX_TOKEN_BODY};
use crate::retry::{is_retryable_token_status, parse_retry_after, Retries, WaitTooLong};
use crate::secret::Zeroizing;

/// A form field or header value.
pub(crate) struct Field {
    pub name: &'static str,
    pub value: Zeroizing<String>,
    pub secret: bool,
}

impl Field {
    pub fn plain(name: &'static str, value: &str) -> Field {
        Field {
            name,
            value: Zeroizing::new(value.to_string()),
            secret: false,
        }
    }

    pub fn secret(name: &'static str, value: &str) -> Field {
        Field {
            name,
            value: Zeroizing::new(value.to_string()),
            secret: true,
        }
    }
}

/// One request to a token endpoint: a form POST, or a GET (managed identity).
pub(crate) struct TokenRequest {
    pub url: Url,
    /// `Some` makes it a form POST; `None` a GET.
    pub form: Option<Vec<Field>>,
    pub headers: Vec<Field>,
    /// Statuses retried on top of the usual 429/5xx (IMDS answers 404/410 while an identity
    /// is still being attached).
    pub extra_retry_statuses: &'static [u16],
}

/// A final answer: status and body (the body may hold a token, hence zeroizing).
pub(crate) struct Answer {
    pub status: u16,
    pub body: Zeroizing<Vec<u8>>,
}

impl TokenRequest {
    pub fn post(url: Url, form: Vec<Field>) -> TokenRequest {
        TokenRequest {
            url,
            form: Some(form),
            headers: Vec::new(),
            extra_retry_statuses: &[],
        }
    }

    pub fn get(url: Url, headers: Vec<Field>) -> TokenRequest {
        TokenRequest {
            url,
            form: None,
            headers,
            extra_retry_statuses: &[],
        }
    }

    /// The endpoint as shown in messages: the URL without its query string.
    pub fn endpoint(&self) -> String {
        endpoint_label(&self.url)
    }

    /// The secret values sent with this request, for redaction.
    pub fn secrets(&self) -> Vec<&str> {
        self.form
            .iter()
            .flatten()
            .chain(self.headers.iter())
            .filter(|f| f.secret)
            .map(|f| f.value.as_str())
            .collect()
    }

    fn build(&self, http: &reqwest::Client) -> Result<reqwest::RequestBuilder, AuthError> {
        let mut rb = match &self.form {
            Some(fields) => {
                let pairs: Vec<(&str, &str)> =
                    fields.iter().map(|f| (f.name, f.value.as_str())).collect();
                http.post(self.url.clone()).form(&pairs)
            }
            None => http.get(self.url.clone()),
        };
        rb = rb.header(reqwest::header::ACCEPT, "application/json");
        for h in &self.headers {
            let name = HeaderName::from_static(h.name);
            let mut value = HeaderValue::from_str(&h.value).map_err(|_| {
                AuthError::invalid(
                    h.name,
                    "contains characters that cannot be sent in an HTTP header",
                )
            })?;
            value.set_sensitive(h.secret);
            rb = rb.header(name, value);
        }
        Ok(rb)
    }
}

/// `scheme://host[:port]/path`, no query, no credentials.
pub(crate) fn endpoint_label(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Replace every secret value in `text` by `[REDACTED]`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        // Very short values would turn ordinary words into redactions; a real secret,
        // token or header is far longer than this.
        if s.len() >= 4 {
            out = out.replace(s, "[REDACTED]");
        }
    }
    out
}

/// Describe a transport error with its causes (reqwest's own message hides them), e.g.
/// "error sending request: connection refused".
pub(crate) fn transport_reason(e: &reqwest::Error) -> String {
    // reqwest's own text repeats the URL (already in the message) and hides the cause.
    let first = if e.is_timeout() {
        "the request timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer could not be read"
    } else {
        "the request failed"
    };
    let mut parts = vec![first.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Send `req`, retrying throttling, server errors and dropped connections within `policy`.
/// Returns the first answer that is not worth retrying (success or a 4xx refusal).
pub(crate) async fn exchange(
    http: &reqwest::Client,
    req: &TokenRequest,
    policy: &RetryPolicy,
) -> Result<Answer, AuthError> {
    let mut retries = Retries::within(policy.deadline);
    let endpoint = req.endpoint();
    let mut attempt: u32 = 0;
    let mut network_failures: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        let sent = req.build(http)?.send().await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                if network_failures < policy.max_network_retries {
                    if let Ok(wait) = retries.next_wait(None, |n| policy.backoff(n)) {
                        network_failures += 1;
                        debug!(
                            "token request to {endpoint} failed ({}); retrying in {wait:?}",
                            transport_reason(&e)
                        );
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
                return Err(AuthError::Unreachable {
                    endpoint,
                    reason: transport_reason(&e),
                });
            }
        };
        let status = response.status().as_u16();
        let server_wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = match read_body(response, MAX_TOKEN_BODY).await {
            Ok(b) => b,
            Err(BodyError::Read(e)) => {
                return Err(AuthError::Unreachable {
                    endpoint,
                    reason: transport_reason(&e),
                })
            }
            // Too large is not worth retrying: the same server will send the same answer.
            Err(e) => {
                return Err(AuthError::BadResponse {
                    endpoint,
                    reason: e.to_string(),
                })
            }
        };
        debug!("token request to {endpoint}: HTTP {status} (attempt {attempt})");
        if is_retryable_token_status(status) || req.extra_retry_statuses.contains(&status) {
            match retries.next_wait(server_wait, |n| policy.backoff(n)) {
                Ok(wait) => {
                    debug!("{endpoint} answered HTTP {status}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(refused) => return Err(give_up(req, status, &body, &retries, refused)),
            }
        }
        return Ok(Answer { status, body });
    }
}

/// The error once retrying stops: `refused` is the wait that would have passed the deadline.
fn give_up(
    req: &TokenRequest,
    status: u16,
    body: &[u8],
    retries: &Retries,
    refused: WaitTooLong,
) -> AuthError {
    let endpoint = req.endpoint();
    if matches!(status, 429 | 503 | 504) {
        return AuthError::Throttled {
            endpoint,
            status,
            waited_secs: retries.elapsed().as_secs(),
            next: refused.describe("it", "the token request's deadline"),
        };
    }
    let detail = parse_failure(&endpoint, status, body, &req.secrets())
        .map(|f| {
            let mut parts = Vec::new();
            if !f.error.is_empty() {
                parts.push(f.error.clone());
            }
            if let Some(d) = &f.description {
                parts.push(d.clone());
            }
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(": "))
            }
        })
        .unwrap_or_default();
    AuthError::ServerError {
        endpoint,
        status,
        detail,
    }
}

/// Read an OAuth error body (`error`, `error_description`, `error_codes`, `trace_id`,
/// `correlation_id`). `None` when the body is not JSON at all.
pub(crate) fn parse_failure(
    endpoint: &str,
    status: u16,
    body: &[u8],
    secrets: &[&str],
) -> Option<OAuthFailure> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |key: &str| {
        v.get(key)
            .and_then(|x| x.as_str())
            .map(|s| redact(s.trim(), secrets))
            .filter(|s| !s.is_empty())
    };
    // App Service's identity endpoint puts its reason in `message` instead.
    let description = text("error_description")
        .or_else(|| text("message"))
        .map(|d| {
            d.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or_default()
                .to_string()
        });
    let aadsts = v
        .get("error_codes")
        .and_then(|c| c.as_array())
        .and_then(|a| a.first())
        .and_then(|c| c.as_u64())
        .and_then(|c| u32::try_from(c).ok())
        .or_else(|| description.as_deref().and_then(aadsts_in));
    Some(OAuthFailure {
        endpoint: endpoint.to_string(),
        status,
        error: text("error").unwrap_or_default(),
        aadsts,
        description,
        trace_id: text("trace_id"),
        correlation_id: text("correlation_id"),
    })
}

/// The number after the first `AADSTS` in `text`.
fn aadsts_in(text: &str) -> Option<u32> {
    let start = text.find("AADSTS")? + "AADSTS".len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_label_drops_query_and_userinfo() {
        let u =
            Url::parse("http://user:pw@127.0.0.1:9/metadata/token?resource=x&client_id=y").unwrap();
        assert_eq!(endpoint_label(&u), "http://127.0.0.1:9/metadata/token");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("bad secret s3cr3t-value given", &["s3cr3t-value"]),
            "bad secret [REDACTED] given"
        );
        assert_eq!(redact("a b", &["a"]), "a b");
    }

    #[test]
    fn failure_parsing_takes_first_line_and_code() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t\r\nCorrelation ID: c","error_codes":[7000215],"trace_id":"t","correlation_id":"c"}"#;
        let f = parse_failure("e", 401, body, &[]).unwrap();
        assert_eq!(f.aadsts, Some(7000215));
        assert_eq!(
            f.description.as_deref(),
            Some("AADSTS7000215: Invalid client secret provided.")
        );
        assert_eq!(f.trace_id.as_deref(), Some("t"));
        let body = br#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found."}"#;
        assert_eq!(
            parse_failure("e", 400, body, &[]).unwrap().aadsts,
            Some(90002)
        );
        assert!(parse_failure("e", 400, b"<html>", &[]).is_none());
    }
}

//! The pieces every OAuth token request shares: building the authority URLs, validating the
//! tenant and client IDs that go into them, and turning an answer into a token or an error.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use url::Url;

use super::error::{classify, AuthError};
use super::http::{exchange, parse_failure, Answer, TokenRequest};
use super::AccessToken;
use super::RetryPolicy;
use crate::net::check_endpoint;
use crate::retry;
use crate::secret::{ExposeSecret, SecretString};

/// `{host}/{tenant}/oauth2/v2.0/{leaf}` (leaf is `token` or `devicecode`), after checking that
/// the host is https (or http on loopback). `setting` names where the host came from.
pub(crate) fn authority_url(
    setting: &str,
    host: &str,
    tenant: &str,
    leaf: &str,
) -> Result<Url, AuthError> {
    let host = host.trim().trim_end_matches('/');
    check_endpoint(setting, host)?;
    let url = format!("{host}/{tenant}/oauth2/v2.0/{leaf}");
    Url::parse(&url)
        .map_err(|_| AuthError::invalid(setting, format!("gives an invalid token URL `{url}`")))
}

/// A tenant ID goes into the URL path, so only GUID / domain characters are allowed.
pub(crate) fn check_tenant(setting: &str, tenant: &str) -> Result<(), AuthError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 256
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(AuthError::invalid(
            setting,
            format!("`{tenant}` is not a tenant ID: use the directory (tenant) ID, a GUID, or the tenant's domain name"),
        ))
    }
}

/// A client ID must be non-empty and printable (it is shown in messages).
pub(crate) fn check_client_id(setting: &str, client_id: &str) -> Result<(), AuthError> {
    if client_id.is_empty()
        || client_id.len() > 256
        || client_id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(AuthError::invalid(
            setting,
            format!(
                "`{}` is not a client (application) ID",
                client_id.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// `https://graph.microsoft.com/.default` → `https://graph.microsoft.com` (managed identity
/// asks for a resource, not a scope).
pub(crate) fn resource_of(scope: &str) -> &str {
    scope.strip_suffix("/.default").unwrap_or(scope)
}

/// A number that some endpoints send as a JSON string (`"3599"`). Any other JSON value is
/// accepted too and reads as no number, so an odd lifetime field never costs the token.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum LooseNumber {
    Number(f64),
    Text(String),
    Other(serde::de::IgnoredAny),
}

impl LooseNumber {
    /// The value, if it is a number or a string holding one (possibly negative, NaN or
    /// huge: the callers bound it).
    pub fn value(&self) -> Option<f64> {
        match self {
            LooseNumber::Number(n) => Some(*n),
            LooseNumber::Text(s) => s.trim().parse::<f64>().ok(),
            LooseNumber::Other(_) => None,
        }
    }

    /// A lifetime in seconds (`expires_in`, `interval`), at most `max`; `None` when it is
    /// negative or not a number.
    pub fn duration(&self, max: Duration) -> Option<Duration> {
        self.value().and_then(|n| retry::seconds(n, max))
    }

    /// A Unix time in seconds (`expires_on`), bounded by [`retry::unix_time`].
    pub fn unix_time(&self) -> Option<SystemTime> {
        self.value().and_then(retry::unix_time)
    }
}

/// The fields of a token response we use; unknown fields are ignored.
#[derive(Deserialize)]
struct TokenBody {
    /// Read straight into the secret: no plain `String` copy is made on the way.
    #[serde(
        default,
        deserialize_with = "crate::secret::deserialize_optional_secret"
    )]
    access_token: Option<SecretString>,
    expires_in: Option<LooseNumber>,
    expires_on: Option<LooseNumber>,
}

/// Turn a successful answer into a token; anything else into the right error.
pub(crate) fn token_from_answer(
    req: &TokenRequest,
    answer: &Answer,
) -> Result<AccessToken, AuthError> {
    if !(200..300).contains(&answer.status) {
        return Err(refusal(req, answer));
    }
    parse_token_response(&req.endpoint(), &answer.body, SystemTime::now())
}

/// Read a token endpoint's success body (OAuth `access_token` + `expires_in`, or managed
/// identity's `expires_on`), received at `now`. Every lifetime is bounded: `expires_in` by
/// [`retry::MAX_TOKEN_LIFETIME`]; `expires_on` by [`retry::unix_time`] and the same longest
/// lifetime; a negative or
/// non-numeric one leaves the expiry unknown (the token is used, not cached). Errors never
/// quote the body, which holds the token.
pub fn parse_token_response(
    endpoint: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<AccessToken, AuthError> {
    let body: TokenBody = serde_json::from_slice(body).map_err(|e| AuthError::BadResponse {
        endpoint: endpoint.to_string(),
        reason: format!("the body is not a token response ({})", e.classify_name()),
    })?;
    let token = body
        .access_token
        .filter(|t| !t.expose_secret().is_empty())
        .ok_or_else(|| AuthError::BadResponse {
            endpoint: endpoint.to_string(),
            reason: "no access_token in the answer".to_string(),
        })?;
    let expires_at = body
        .expires_in
        .as_ref()
        .and_then(|n| n.duration(retry::MAX_TOKEN_LIFETIME))
        .map(|lifetime| retry::expiry_after(now, lifetime))
        .or_else(|| body.expires_on.as_ref().and_then(LooseNumber::unix_time))
        // An absolute `expires_on` is held to the same longest lifetime as `expires_in`.
        .map(|at| at.min(retry::expiry_after(now, retry::MAX_TOKEN_LIFETIME)));
    Ok(AccessToken { token, expires_at })
}

/// The error for a non-success answer: classified OAuth failure when the body is one,
/// otherwise the bare status.
pub(crate) fn refusal(req: &TokenRequest, answer: &Answer) -> AuthError {
    let endpoint = req.endpoint();
    match parse_failure(&endpoint, answer.status, &answer.body, &req.secrets()) {
        Some(f) if !f.error.is_empty() || f.aadsts.is_some() => classify(f),
        _ => AuthError::BadResponse {
            endpoint,
            reason: format!("HTTP {} without an OAuth error body", answer.status),
        },
    }
}

/// Send a token request with retries and read the token out of the answer.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    req: &TokenRequest,
    policy: &RetryPolicy,
) -> Result<AccessToken, AuthError> {
    let answer = exchange(http, req, policy).await?;
    token_from_answer(req, &answer)
}

/// serde_json's error category, without the offending text (which may be part of a token).
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "unexpected field types",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_urls() {
        let u = authority_url(
            "--access-token-host",
            "https://login.microsoftonline.com/",
            "contoso.onmicrosoft.com",
            "token",
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert!(authority_url(
            "--access-token-host",
            "http://login.example.com",
            "t",
            "token"
        )
        .is_err());
        assert!(authority_url(
            "--access-token-host",
            "http://127.0.0.1:1",
            "t",
            "devicecode"
        )
        .is_ok());
    }

    #[test]
    fn tenant_ids() {
        assert!(check_tenant("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
        assert!(check_tenant("AZURE_TENANT_ID", "organizations").is_ok());
        for bad in ["", "a/b", "../x", "t?x=1", "t#", "a b"] {
            let e = check_tenant("AZURE_TENANT_ID", bad).unwrap_err();
            assert!(e.to_string().contains("AZURE_TENANT_ID"), "{e}");
        }
    }

    #[test]
    fn resources() {
        assert_eq!(
            resource_of("https://graph.microsoft.com/.default"),
            "https://graph.microsoft.com"
        );
        assert_eq!(
            resource_of("https://graph.microsoft.com"),
            "https://graph.microsoft.com"
        );
    }

    #[test]
    fn loose_numbers() {
        let secs = |json: &str| {
            serde_json::from_str::<LooseNumber>(json)
                .expect(json)
                .duration(retry::MAX_TOKEN_LIFETIME)
        };
        assert_eq!(secs("\"85770\""), Some(Duration::from_secs(85770)));
        assert_eq!(secs("3599"), Some(Duration::from_secs(3599)));
        assert_eq!(secs("\"soon\""), None);
        assert_eq!(secs("-1"), None);
        assert_eq!(secs("true"), None);
        assert_eq!(secs("[1]"), None);
        assert_eq!(secs("1e19"), Some(retry::MAX_TOKEN_LIFETIME));
        assert_eq!(secs("\"1e400\""), Some(retry::MAX_TOKEN_LIFETIME));
    }

    #[test]
    fn token_lifetimes_are_bounded() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |body: &str| {
            parse_token_response("e", body.as_bytes(), now)
                .expect(body)
                .expires_at
        };
        assert_eq!(
            at(r#"{"access_token":"t","expires_in":3599}"#),
            Some(now + Duration::from_secs(3599))
        );
        assert_eq!(
            at(r#"{"access_token":"t","expires_in":1e300}"#),
            Some(now + retry::MAX_TOKEN_LIFETIME)
        );
        assert_eq!(at(r#"{"access_token":"t","expires_in":-5}"#), None);
        assert_eq!(
            at(r#"{"access_token":"t","expires_in":"x","expires_on":"1700000100"}"#),
            Some(now + Duration::from_secs(100))
        );
        assert_eq!(
            at(r#"{"access_token":"t","expires_on":18446744073709551615}"#),
            Some(now + retry::MAX_TOKEN_LIFETIME)
        );
        assert_eq!(
            at(r#"{"access_token":"t","expires_on":5}"#),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(5))
        );
        // serde_json refuses a number beyond f64 outright (docs/auth.md says so).
        assert!(
            parse_token_response("e", br#"{"access_token":"t","expires_in":1e400}"#, now).is_err()
        );
        let e = parse_token_response("e", br#"{"access_token":"s3cr3t-token""#, now)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("truncated") && !e.contains("s3cr3t"), "{e}");
    }
}

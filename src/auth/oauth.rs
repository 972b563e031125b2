//! The pieces every OAuth token request shares: building the authority URLs, validating the
//! tenant and client IDs that go into them, and turning an answer into a token or an error.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use url::Url;

use super::error::{classify, AuthError};
use super::http::{exchange, parse_failure, Answer, TokenRequest};
use super::retry::RetryPolicy;
use super::AccessToken;
use crate::net::check_endpoint;
use crate::secret::SecretString;

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

/// A number that some endpoints send as a JSON string (`"3599"`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum LooseNumber {
    Number(f64),
    Text(String),
}

impl LooseNumber {
    pub fn as_secs(&self) -> Option<u64> {
        match self {
            LooseNumber::Number(n) if n.is_finite() && *n >= 0.0 => Some(*n as u64),
            LooseNumber::Number(_) => None,
            LooseNumber::Text(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(|n| n as u64),
        }
    }
}

/// The fields of a token response we use; unknown fields are ignored.
#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<String>,
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
    let endpoint = req.endpoint();
    let body: TokenBody =
        serde_json::from_slice(&answer.body).map_err(|e| AuthError::BadResponse {
            endpoint: endpoint.clone(),
            reason: format!("the body is not a token response ({})", e.classify_name()),
        })?;
    let token =
        body.access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::BadResponse {
                endpoint: endpoint.clone(),
                reason: "no access_token in the answer".to_string(),
            })?;
    let now = SystemTime::now();
    let expires_at = body
        .expires_in
        .as_ref()
        .and_then(LooseNumber::as_secs)
        .map(|s| now + Duration::from_secs(s))
        .or_else(|| {
            body.expires_on
                .as_ref()
                .and_then(LooseNumber::as_secs)
                .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
        });
    Ok(AccessToken {
        token: SecretString::from(token),
        expires_at,
    })
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
        let n: LooseNumber = serde_json::from_str("\"85770\"").unwrap();
        assert_eq!(n.as_secs(), Some(85770));
        let n: LooseNumber = serde_json::from_str("3599").unwrap();
        assert_eq!(n.as_secs(), Some(3599));
        let n: LooseNumber = serde_json::from_str("\"soon\"").unwrap();
        assert_eq!(n.as_secs(), None);
    }
}

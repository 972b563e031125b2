//! Reading the claims of an access token (a JWT) without checking its signature.
//!
//! This is for reporting only: which tenant issued the token (`tid`), which app it was issued
//! to (`appid` / `azp`), which application permissions it carries (`roles`), when it expires.
//! Nothing here is ever used to decide whether to trust a token: the signature is not
//! verified, and Microsoft Graph is what accepts or refuses the token. Errors never quote
//! the token.

use std::time::SystemTime;

use base64::Engine;
use serde_json::Value;

use super::AuthError;

/// Tokens are a few kilobytes; anything far bigger is not one.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// The decoded payload (second part) of `token`, which must be a JSON object.
pub fn claims(token: &str) -> Result<Value, AuthError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::NotAJwt(format!(
            "it is {} bytes long, more than a token can be",
            token.len()
        )));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(AuthError::NotAJwt(format!(
            "it has {} dot-separated parts instead of 3",
            parts.len()
        )));
    }
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT
        .decode(parts[1])
        .map_err(|_| AuthError::NotAJwt("its payload is not base64url".to_string()))?;
    let value: Value = serde_json::from_slice(&payload)
        .map_err(|_| AuthError::NotAJwt("its payload is not JSON".to_string()))?;
    if !value.is_object() {
        return Err(AuthError::NotAJwt(
            "its payload is not a JSON object".to_string(),
        ));
    }
    Ok(value)
}

/// The application permissions (`roles` claim) in an app-only token; empty when there are none.
pub fn roles(token: &str) -> Result<Vec<String>, AuthError> {
    Ok(string_list(&claims(token)?, "roles"))
}

/// The delegated permissions (`scp` claim, space-separated) in a user token.
pub fn scopes(token: &str) -> Result<Vec<String>, AuthError> {
    let c = claims(token)?;
    Ok(c.get("scp")
        .and_then(Value::as_str)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default())
}

/// The issuing tenant (`tid` claim).
pub fn tenant_id(token: &str) -> Result<Option<String>, AuthError> {
    Ok(string_claim(&claims(token)?, "tid"))
}

/// The client the token was issued to (`appid` in v1 tokens, `azp` in v2 tokens).
pub fn app_id(token: &str) -> Result<Option<String>, AuthError> {
    let c = claims(token)?;
    Ok(string_claim(&c, "appid").or_else(|| string_claim(&c, "azp")))
}

/// When the token expires (`exp` claim, Unix seconds); bounded by
/// [`crate::retry::unix_time`], so any number gives a time every date format can show.
pub fn expires_at(token: &str) -> Result<Option<SystemTime>, AuthError> {
    Ok(claims(token)?
        .get("exp")
        .and_then(Value::as_f64)
        .and_then(crate::retry::unix_time))
}

fn string_claim(claims: &Value, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn string_list(claims: &Value, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{ExitCode, UserFacing};
    use std::time::Duration;

    fn jwt(payload: &str) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            e.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            e.encode(payload)
        )
    }

    #[test]
    fn reads_the_claims() {
        let t = jwt(
            r#"{"tid":"tenant-1","appid":"app-1","roles":["User.Read.All","Group.ReadWrite.All"],"exp":1893456000}"#,
        );
        assert_eq!(tenant_id(&t).unwrap().as_deref(), Some("tenant-1"));
        assert_eq!(app_id(&t).unwrap().as_deref(), Some("app-1"));
        assert_eq!(
            roles(&t).unwrap(),
            vec!["User.Read.All", "Group.ReadWrite.All"]
        );
        assert_eq!(
            expires_at(&t).unwrap(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1893456000))
        );
        let v2 = jwt(r#"{"azp":"app-2","scp":"Application.ReadWrite.All User.Read"}"#);
        assert_eq!(app_id(&v2).unwrap().as_deref(), Some("app-2"));
        assert_eq!(scopes(&v2).unwrap().len(), 2);
        assert!(roles(&v2).unwrap().is_empty());
        assert_eq!(tenant_id(&v2).unwrap(), None);
    }

    #[test]
    fn padded_payloads_are_accepted() {
        let e = base64::engine::general_purpose::URL_SAFE;
        let t = format!("h.{}.s", e.encode(r#"{"tid":"x"}"#));
        assert_eq!(tenant_id(&t).unwrap().as_deref(), Some("x"));
    }

    #[test]
    fn garbage_is_refused_without_quoting_it() {
        for bad in [
            "opaque-token-value",
            "a.b",
            "a.!!!.c",
            "a.bm90IGpzb24.c",
            "a.WzEsMl0.c", // [1,2]
        ] {
            let e = claims(bad).unwrap_err();
            assert_eq!(e.exit_code(), ExitCode::DataError);
            assert!(!e.to_string().contains(bad), "{e}");
        }
        assert!(claims(&"a".repeat(MAX_TOKEN_LEN + 1)).is_err());
    }
}

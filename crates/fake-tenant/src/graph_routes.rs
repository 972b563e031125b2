//! Microsoft Graph v1.0 as far as provisioning and the realm's lookups need it: bearer-token
//! checks and routing to one module per resource (`app_routes`, `sp_routes`, `grant_routes`,
//! `user_routes`, `group_routes`, `org_routes`). Each handler runs with the tenant locked and
//! returns a [`Reply`]; nothing here awaits.

use axum::http::{HeaderMap, Method};
use chrono::Utc;

use super::catalog::GRAPH_APP_ID;
use super::jwt::TokenRejection;
use super::odata::QueryOptions;
use super::reply::{GraphError, Reply};
pub(crate) use super::request::GraphCall;
use super::request::{Caller, Ctx};
use super::state::TenantState;
use super::{app_routes, group_routes, org_routes, sp_routes, user_routes};

/// Audiences a Graph access token may carry (the Graph resource in each cloud, or its appId).
pub(crate) const GRAPH_AUDIENCES: [&str; 5] = [
    "https://graph.microsoft.com",
    "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn",
    GRAPH_APP_ID,
];

/// Handle one Graph request against the locked tenant.
pub(crate) fn handle(st: &mut TenantState, call: &GraphCall) -> Reply {
    match route(st, call) {
        Ok(reply) => reply,
        Err(e) => Reply::Error(e),
    }
}

fn route(st: &mut TenantState, call: &GraphCall) -> Result<Reply, GraphError> {
    let caller = authenticate(st, call.headers)?;
    let q = QueryOptions::parse(call.query)?;
    let segments: Vec<String> = call
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let Some(first) = segments.first() else {
        return Err(GraphError::unknown_segment("v1.0"));
    };
    let (collection, key) = split_key(first);
    // `applications/{id}/…` and `applications(appId='…')/…` both name one entity.
    let (entity, rest): (Option<(String, String)>, &[String]) = match key {
        Some(k) => (Some(k), &segments[1..]),
        None if segments.len() > 1 => (
            Some(("id".to_string(), segments[1].clone())),
            &segments[2..],
        ),
        None => (None, &[]),
    };
    let ctx = Ctx {
        caller: &caller,
        q: &q,
        call,
    };
    let c = collection.to_ascii_lowercase();
    match (c.as_str(), entity) {
        ("applicationtemplates", Some((_, template))) => {
            app_routes::instantiate(st, &ctx, &template, rest)
        }
        ("applications", None) => match *call.method {
            Method::GET => app_routes::list_apps(st, &ctx),
            Method::POST => app_routes::create_app(st, &ctx),
            _ => Err(GraphError::method_not_allowed()),
        },
        ("applications", Some(key)) => app_routes::app_entity(st, &ctx, key, rest),
        ("serviceprincipals", None) => match *call.method {
            Method::GET => sp_routes::list_sps(st, &ctx),
            Method::POST => sp_routes::create_sp(st, &ctx),
            _ => Err(GraphError::method_not_allowed()),
        },
        ("serviceprincipals", Some(key)) => sp_routes::sp_entity(st, &ctx, key, rest),
        ("organization", None) if *call.method == Method::GET => org_routes::organization(st, &ctx),
        ("users", None) if *call.method == Method::GET => {
            user_routes::grant_not_replicated(st, &caller)?;
            user_routes::list_users(st, &ctx)
        }
        ("users", Some(key)) if *call.method == Method::GET => {
            user_routes::grant_not_replicated(st, &caller)?;
            user_routes::user_entity(st, &ctx, key, rest)
        }
        ("groups", None) if *call.method == Method::GET => group_routes::list_groups(st, &ctx),
        ("groups", Some((_, id))) if *call.method == Method::GET => {
            group_routes::group_entity(st, &ctx, &id, rest)
        }
        ("organization" | "users" | "groups", _) => Err(GraphError::method_not_allowed()),
        _ => Err(GraphError::unknown_segment(&collection)),
    }
}

fn authenticate(st: &TenantState, headers: &HeaderMap) -> Result<Caller, GraphError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return Err(GraphError::unauthorized("Access token is empty."));
    }
    let claims = st
        .signer
        .verify(token, Utc::now().timestamp())
        .map_err(|e| match e {
            TokenRejection::Expired => {
                GraphError::unauthorized("Lifetime validation failed, the token is expired.")
            }
            TokenRejection::Malformed => GraphError::unauthorized(
                "IDX14100: JWT is not well formed, there are no dots (.) or the token could not be decoded.",
            ),
            TokenRejection::BadSignature => {
                GraphError::unauthorized("Access token validation failure. Invalid signature.")
            }
        })?;
    if !claims.tid.eq_ignore_ascii_case(&st.tenant_id) {
        return Err(GraphError::unauthorized(
            "Access token validation failure. Invalid issuer or tenant.",
        ));
    }
    if !GRAPH_AUDIENCES.contains(&claims.aud.as_str()) {
        return Err(GraphError::unauthorized(
            "Access token validation failure. Invalid audience.",
        ));
    }
    Ok(Caller {
        roles: claims.roles,
        sp_id: claims.oid,
    })
}

// ---------------------------------------------------------------- URL helpers

/// Split `applications(appId='x')` into (`applications`, Some(("appId", "x"))); a bare
/// `('x')` key means the object id.
fn split_key(segment: &str) -> (String, Option<(String, String)>) {
    let Some((name, rest)) = segment.split_once('(') else {
        return (segment.to_string(), None);
    };
    let Some(inner) = rest.strip_suffix(')') else {
        return (segment.to_string(), None);
    };
    let (prop, raw) = match inner.split_once('=') {
        Some((p, v)) => (p.trim().to_string(), v.trim()),
        None => ("id".to_string(), inner.trim()),
    };
    let value = raw
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(raw)
        .replace("''", "'");
    (name.to_string(), Some((prop, value)))
}

/// Decode `%XX` escapes in one path segment; a `%` not followed by two hex digits stays as
/// it is (as Graph's front end treats it), and bytes that are not UTF-8 become U+FFFD.
fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_keys_and_escapes() {
        assert_eq!(
            split_key("applications(appId='abc')"),
            ("applications".into(), Some(("appId".into(), "abc".into())))
        );
        assert_eq!(
            split_key("applications('id-1')"),
            ("applications".into(), Some(("id".into(), "id-1".into())))
        );
        assert_eq!(
            split_key("applications(uniqueName='o''b')"),
            (
                "applications".into(),
                Some(("uniqueName".into(), "o'b".into()))
            )
        );
        assert_eq!(split_key("users"), ("users".into(), None));
        assert_eq!(
            percent_decode("applications(appId=%27x%27)"),
            "applications(appId='x')"
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%2"), "%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }
}

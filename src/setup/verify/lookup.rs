//! The realm's lookup of one user, request for request.
//!
//! `MicrosoftGraphAuthzRealm.doLookupUser(principal)` makes two calls through the Graph Java
//! SDK (Kiota), with the principal exactly as the authenticating realm handed it over:
//!
//! 1. `GET {graph_host}/users/{principal}?%24select=displayName,mail`
//! 2. `GET {graph_host}/users/{principal}/transitiveMemberOf/graph.group?%24select=id&%24top=999`,
//!    then every `@odata.nextLink` as Graph wrote it (the SDK's `PageIterator` uses the link
//!    as the next request's URL; Graph's links keep `$select` and `$top`).
//!
//! Kiota expands `{user%2Did}` with RFC 6570 simple expansion (everything but unreserved
//! characters percent-encoded, so `@` becomes `%40`) and writes `$` in query names as `%24`.
//! Any failure of either call fails the lookup: the user gets no roles from the realm.

use serde::Serialize;

use crate::graph::{GraphClient, GraphError};

/// A page-count bound: 500 pages of 999 groups is far beyond any real membership, and a
/// server that keeps sending links must not keep us looping.
const MAX_PAGES: usize = 500;

/// One transitive group of a principal.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupInfo {
    pub id: String,
    /// From a separate call (not the realm's), `null` when the realm's permissions do not
    /// let it read group names.
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
}

/// What the realm's lookup of one principal finds.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PrincipalReport {
    pub principal: String,
    pub found: bool,
    pub id: Option<String>,
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    pub mail: Option<String>,
    /// From a separate call (not the realm's), like `id`.
    #[serde(rename = "userPrincipalName")]
    pub user_principal_name: Option<String>,
    /// Every transitive group id, over all pages, in Graph's order.
    pub groups: Vec<GroupInfo>,
    /// How many pages of groups the realm would read.
    pub group_pages: usize,
    /// The realm's request lines (below `graph_host`), in order.
    pub realm_requests: Vec<String>,
    /// Graph refused a realm call (403/401): the realm's permissions are missing.
    pub refused: Option<String>,
}

/// Percent-encode a path parameter as Kiota does (RFC 6570 simple expansion).
pub fn encode_principal(principal: &str) -> String {
    let mut out = String::with_capacity(principal.len());
    for b in principal.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The realm's first call for `principal`.
pub fn user_request(principal: &str) -> String {
    format!(
        "/users/{}?%24select=displayName,mail",
        encode_principal(principal)
    )
}

/// The realm's second call for `principal` (its first page).
pub fn groups_request(principal: &str) -> String {
    format!(
        "/users/{}/transitiveMemberOf/graph.group?%24select=id&%24top=999",
        encode_principal(principal)
    )
}

/// The extra call for group names: same collection, `displayName` selected too. Not one of
/// the realm's calls.
fn group_names_request(principal: &str) -> String {
    format!(
        "/users/{}/transitiveMemberOf/graph.group?%24select=id,displayName&%24top=999",
        encode_principal(principal)
    )
}

/// Why a lookup stopped before the realm's verdict.
pub enum LookupFailure {
    /// Graph failed in a way that says nothing about the principal (unreachable, 5xx…).
    Graph(GraphError),
}

/// Make the realm's two calls (and every page) for `principal`, then fetch group names.
pub async fn lookup(
    graph: &GraphClient,
    principal: &str,
) -> Result<PrincipalReport, LookupFailure> {
    let mut report = PrincipalReport {
        principal: principal.to_string(),
        found: false,
        id: None,
        display_name: None,
        mail: None,
        user_principal_name: None,
        groups: Vec::new(),
        group_pages: 0,
        realm_requests: Vec::new(),
        refused: None,
    };
    let first = user_request(principal);
    report.realm_requests.push(format!("GET {first}"));
    match graph.get_json::<serde_json::Value>(&first).await {
        Ok(user) => {
            report.found = true;
            report.display_name = text(&user["displayName"]);
            report.mail = text(&user["mail"]);
        }
        Err(e) if status(&e) == Some(404) => return Ok(report),
        Err(e) if is_refusal(&e) => {
            report.refused = Some(e.to_string());
            return Ok(report);
        }
        Err(e) => return Err(LookupFailure::Graph(e)),
    }
    let mut next = Some(groups_request(principal));
    let mut seen: Vec<String> = Vec::new();
    while let Some(path) = next.take() {
        if report.group_pages >= MAX_PAGES {
            return Err(LookupFailure::Graph(GraphError::Decode {
                method: "GET".to_string(),
                path,
                reason: format!("more than {MAX_PAGES} pages of groups"),
                request_id: None,
            }));
        }
        report.realm_requests.push(format!("GET {path}"));
        let page = match graph.get_json::<serde_json::Value>(&path).await {
            Ok(p) => p,
            Err(e) if is_refusal(&e) => {
                report.refused = Some(e.to_string());
                return Ok(report);
            }
            Err(e) => return Err(LookupFailure::Graph(e)),
        };
        report.group_pages += 1;
        for item in page["value"].as_array().into_iter().flatten() {
            if let Some(id) = text(&item["id"]) {
                report.groups.push(GroupInfo {
                    id,
                    display_name: None,
                });
            }
        }
        if let Some(link) = page["@odata.nextLink"].as_str() {
            // The SDK stops on a link that repeats itself; so do we.
            if seen.iter().any(|s| s == link) {
                break;
            }
            seen.push(link.to_string());
            next = Some(relative(graph, link).map_err(LookupFailure::Graph)?);
        }
    }
    user_ids(graph, principal, &mut report).await;
    if !report.groups.is_empty() {
        group_names(graph, principal, &mut report).await;
    }
    Ok(report)
}

/// The extra call for the user's object id and UPN (`$select=displayName,mail` returns
/// neither). Not one of the realm's calls.
fn user_ids_request(principal: &str) -> String {
    format!(
        "/users/{}?%24select=id,userPrincipalName",
        encode_principal(principal)
    )
}

/// Fill in the object id and UPN; a failure leaves them `null` (not part of the proof).
async fn user_ids(graph: &GraphClient, principal: &str, report: &mut PrincipalReport) {
    if let Ok(user) = graph
        .get_json::<serde_json::Value>(&user_ids_request(principal))
        .await
    {
        report.id = text(&user["id"]);
        report.user_principal_name = text(&user["userPrincipalName"]);
    }
}

/// Fill in group display names with one more (paged) call, when Graph allows it. Failures
/// leave the names `null`: they are not part of the realm's proof.
async fn group_names(graph: &GraphClient, principal: &str, report: &mut PrincipalReport) {
    let mut next = Some(group_names_request(principal));
    let mut pages = 0;
    while let Some(path) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return;
        }
        let Ok(page) = graph.get_json::<serde_json::Value>(&path).await else {
            return;
        };
        for item in page["value"].as_array().into_iter().flatten() {
            let (Some(id), Some(name)) = (text(&item["id"]), text(&item["displayName"])) else {
                continue;
            };
            for g in report.groups.iter_mut().filter(|g| g.id == id) {
                g.display_name = Some(name.clone());
            }
        }
        next = page["@odata.nextLink"]
            .as_str()
            .and_then(|link| relative(graph, link).ok());
    }
}

/// An absolute `@odata.nextLink` as a path below the Graph root. A link to another origin is
/// refused: following it would send the realm's token there.
fn relative(graph: &GraphClient, link: &str) -> Result<String, GraphError> {
    let foreign = || GraphError::ForeignNextLink {
        origin: url::Url::parse(link)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| "an unparsable URL".to_string()),
    };
    match link.strip_prefix(graph.graph_host()) {
        Some(rest) if rest.starts_with('/') || rest.starts_with('?') => Ok(rest.to_string()),
        _ => Err(foreign()),
    }
}

fn text(v: &serde_json::Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn status(e: &GraphError) -> Option<u16> {
    e.api().map(|a| a.status)
}

/// A 401/403 from Graph: the token is not allowed to make the call (consent missing).
pub fn is_refusal(e: &GraphError) -> bool {
    matches!(status(e), Some(401 | 403))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_spelled_as_kiota_spells_them() {
        assert_eq!(
            user_request("ada@contoso.com"),
            "/users/ada%40contoso.com?%24select=displayName,mail"
        );
        assert_eq!(
            groups_request("0d4c8a1e-1111-2222-3333-444455556666"),
            "/users/0d4c8a1e-1111-2222-3333-444455556666/transitiveMemberOf/graph.group?%24select=id&%24top=999"
        );
        assert_eq!(
            encode_principal("CN=Ada Lovelace/x"),
            "CN%3DAda%20Lovelace%2Fx"
        );
    }
}

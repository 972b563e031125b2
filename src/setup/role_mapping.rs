//! `role-mapping`: from the Entra group names (or object ids) an operator knows to the body of
//! Elasticsearch's `PUT /_security/role_mapping/<name>`.
//!
//! What the body can match is fixed by the realm: `MicrosoftGraphAuthzRealm.lookupUser` hands
//! role mapping `UserData(principal, null, groups, {}, realmConfig)`, so a rule sees `username`
//! (the principal), `groups` (the object ids of the user's transitive groups) and `realm.name`
//! (the microsoft_graph realm's own name) — no group names, no DN, no metadata. The body
//! therefore pins `realm.name` and lists group *ids*; the names go into `metadata`, where a
//! person reading the mapping later can see what the ids were.
//!
//! Names are resolved through `GET /groups?$filter=displayName eq '…'`. Entra does not make
//! display names unique (and `eq` ignores case), so a name that finds two groups is refused
//! with every candidate listed: guessing would hand roles to the wrong people.

use serde::{Deserialize, Serialize};

use crate::exit::{ExitCode, UserFacing};
use crate::graph::odata::{encode_query_value, eq_filter, with_query};
use crate::graph::{GraphClient, GraphError};

/// Longest role name Elasticsearch accepts (its role-name validation: 1 to 507 characters).
pub const MAX_ROLE_NAME: usize = 507;
/// Longest mapping name we write (it becomes a URL path segment).
pub const MAX_MAPPING_NAME: usize = 255;

/// One group the mapping matches: its object id (what the realm hands to role mapping) and
/// its display name (for people), with what the operator typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappedGroup {
    pub id: String,
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    /// The `--group` value this came from.
    #[serde(skip)]
    pub requested: String,
}

/// A group as `$select=id,displayName` returns it.
#[derive(Debug, Clone, Deserialize)]
struct GroupRef {
    id: String,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
}

/// Why no mapping body could be made.
#[derive(Debug, thiserror::Error)]
pub enum RoleMappingError {
    /// No group has that display name.
    #[error("no Entra group is named '{name}' (--group); check the spelling in the Entra admin center (Groups → All groups) or pass the group's object ID")]
    UnknownGroupName { name: String },
    /// No group has that object id.
    #[error("no Entra group has the object ID {id} (--group); copy the Object ID from the group's overview page in the Entra admin center")]
    UnknownGroupId { id: String },
    /// Several groups share the display name: the operator has to pick one by id.
    #[error("{} Entra groups are named '{name}' (--group): {}; pass the object ID of the one you mean instead of the name", candidates.len(), list_candidates(candidates))]
    AmbiguousGroupName {
        name: String,
        candidates: Vec<MappedGroup>,
    },
    /// Graph does not know the principal given with `--principal`.
    #[error("Microsoft Graph has no user '{principal}' (--principal): the realm's lookup of this name would fail and the user would get no roles from this realm; pass the user's userPrincipalName or object ID, the form the authenticating realm must hand over")]
    UnknownPrincipal {
        principal: String,
        #[source]
        source: Box<GraphError>,
    },
    /// A role or mapping name Elasticsearch would refuse.
    #[error("{what} '{value}' is not valid: {rule}")]
    InvalidName {
        what: &'static str,
        value: String,
        rule: &'static str,
    },
    /// Graph failed in a way that says nothing about the groups.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

fn list_candidates(candidates: &[MappedGroup]) -> String {
    candidates
        .iter()
        .map(|c| {
            format!(
                "{} ('{}')",
                c.id,
                c.display_name.as_deref().unwrap_or("no display name")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl UserFacing for RoleMappingError {
    fn exit_code(&self) -> ExitCode {
        match self {
            RoleMappingError::UnknownGroupName { .. }
            | RoleMappingError::UnknownGroupId { .. }
            | RoleMappingError::AmbiguousGroupName { .. } => ExitCode::DataError,
            // The same finding as `verify --principal`, so the same code.
            RoleMappingError::UnknownPrincipal { .. } => ExitCode::PrincipalNotFound,
            RoleMappingError::InvalidName { .. } => ExitCode::Usage,
            RoleMappingError::Graph(e) => e.exit_code(),
        }
    }
}

/// Is `s` shaped like a directory object id (a GUID)? Such a `--group` is looked up as an id;
/// anything else as a display name.
pub fn is_object_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Check a role name the way Elasticsearch does: 1 to 507 printable Basic Latin characters
/// (spaces allowed), no leading or trailing whitespace.
pub fn check_role_name(role: &str) -> Result<(), RoleMappingError> {
    let printable = role.chars().all(|c| c == ' ' || c.is_ascii_graphic());
    if role.is_empty() || role.chars().count() > MAX_ROLE_NAME || !printable || role.trim() != role
    {
        return Err(RoleMappingError::InvalidName {
            what: "role",
            value: role.to_string(),
            rule: "a role name has 1 to 507 printable ASCII characters and no leading or trailing space (--role)",
        });
    }
    Ok(())
}

/// Mapping names are kept to characters that need no quoting in a URL path or a shell line.
fn mapping_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | ':')
}

/// Check a `--name`.
pub fn check_mapping_name(name: &str) -> Result<(), RoleMappingError> {
    if name.is_empty() || name.len() > MAX_MAPPING_NAME || !name.chars().all(mapping_name_char) {
        return Err(RoleMappingError::InvalidName {
            what: "mapping name",
            value: name.to_string(),
            rule: "use 1 to 255 of A-Z a-z 0-9 _ - . @ : (--name)",
        });
    }
    Ok(())
}

/// The mapping name when `--name` is not given: `<realm>-<role>[-<role>…]`, with any character
/// a name may not hold replaced by `_`.
pub fn default_mapping_name(realm: &str, roles: &[String]) -> String {
    let raw = format!("{realm}-{}", roles.join("-"));
    raw.chars()
        .map(|c| if mapping_name_char(c) { c } else { '_' })
        .take(MAX_MAPPING_NAME)
        .collect()
}

/// Resolve every `--group` (a display name or an object id) to one existing group, in the
/// order given, without duplicates (the same group named twice, or by name and by id, is
/// listed once).
pub async fn resolve_groups(
    graph: &GraphClient,
    requested: &[String],
) -> Result<Vec<MappedGroup>, RoleMappingError> {
    let mut out: Vec<MappedGroup> = Vec::new();
    for wanted in requested {
        let group = if is_object_id(wanted) {
            group_by_id(graph, wanted).await?
        } else {
            group_by_name(graph, wanted).await?
        };
        if !out.iter().any(|g| g.id.eq_ignore_ascii_case(&group.id)) {
            out.push(group);
        }
    }
    Ok(out)
}

async fn group_by_id(graph: &GraphClient, id: &str) -> Result<MappedGroup, RoleMappingError> {
    let path = with_query(
        &format!("/groups/{}", encode_query_value(id)),
        &[("$select", "id,displayName")],
    );
    match graph.get_json::<GroupRef>(&path).await {
        Ok(g) => Ok(MappedGroup {
            id: g.id,
            display_name: g.display_name,
            requested: id.to_string(),
        }),
        Err(e) if e.is_not_found() => Err(RoleMappingError::UnknownGroupId { id: id.to_string() }),
        Err(e) => Err(e.into()),
    }
}

async fn group_by_name(graph: &GraphClient, name: &str) -> Result<MappedGroup, RoleMappingError> {
    let path = with_query(
        "/groups",
        &[
            ("$filter", &eq_filter("displayName", name)),
            ("$select", "id,displayName"),
            ("$top", "999"),
        ],
    );
    let found: Vec<GroupRef> = graph.get_collection(&path).await?;
    let mut candidates: Vec<MappedGroup> = found
        .into_iter()
        .map(|g| MappedGroup {
            id: g.id,
            display_name: g.display_name,
            requested: name.to_string(),
        })
        .collect();
    match candidates.len() {
        0 => Err(RoleMappingError::UnknownGroupName {
            name: name.to_string(),
        }),
        1 => Ok(candidates.remove(0)),
        _ => Err(RoleMappingError::AmbiguousGroupName {
            name: name.to_string(),
            candidates,
        }),
    }
}

/// The object ids of every group `principal` belongs to, directly or through nesting — the
/// set the realm hands to role mapping as `groups` — following every `@odata.nextLink`.
pub async fn principal_group_ids(
    graph: &GraphClient,
    principal: &str,
) -> Result<Vec<String>, RoleMappingError> {
    let path = with_query(
        &format!(
            "/users/{}/transitiveMemberOf/graph.group",
            encode_query_value(principal)
        ),
        &[("$select", "id"), ("$top", "999")],
    );
    match graph.get_collection::<GroupRef>(&path).await {
        Ok(groups) => Ok(groups.into_iter().map(|g| g.id).collect()),
        Err(e) if e.is_not_found() => Err(RoleMappingError::UnknownPrincipal {
            principal: principal.to_string(),
            source: Box::new(e),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The mapping's groups that are among `principal_groups` (ids compare ignoring case, as
/// GUIDs do).
pub fn matching<'a>(
    mapped: &'a [MappedGroup],
    principal_groups: &[String],
) -> Vec<&'a MappedGroup> {
    mapped
        .iter()
        .filter(|g| {
            principal_groups
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&g.id))
        })
        .collect()
}

/// The body of `PUT /_security/role_mapping/<name>`, in the order the API documents it.
#[derive(Debug, Clone, Serialize)]
pub struct RoleMappingBody {
    pub enabled: bool,
    pub roles: Vec<String>,
    pub rules: serde_json::Value,
    pub metadata: serde_json::Value,
}

/// Roles `roles` for users that the realm `realm` looked up and that are in any of `groups`.
/// A field rule with an array matches when the user's value matches any element; group ids
/// hold no `*`, `?` or `/`, so Elasticsearch reads each as an exact string, not a pattern.
pub fn mapping_body(realm: &str, roles: &[String], groups: &[MappedGroup]) -> RoleMappingBody {
    let ids: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    RoleMappingBody {
        enabled: true,
        roles: roles.to_vec(),
        rules: serde_json::json!({
            "all": [
                { "field": { "realm.name": realm } },
                { "field": { "groups": ids } },
            ]
        }),
        metadata: serde_json::json!({
            "entra_groups": groups,
            "generated_by": "msgraph-keystore role-mapping",
        }),
    }
}

/// `/_security/role_mapping/<name>` (the name is checked to need no escaping).
pub fn es_path(name: &str) -> String {
    format!("/_security/role_mapping/{name}")
}

/// A `curl` line that sends the body (read from stdin) to the cluster. Only placeholders: the
/// cluster's address and credentials never pass through this program.
pub fn curl_line(name: &str) -> String {
    format!(
        "curl -sS -X PUT \"$ES_URL{}\" -H \"Authorization: ApiKey $ES_API_KEY\" -H \"Content-Type: application/json\" --data-binary @-",
        es_path(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, name: &str) -> MappedGroup {
        MappedGroup {
            id: id.into(),
            display_name: Some(name.into()),
            requested: name.into(),
        }
    }

    #[test]
    fn guids_are_ids_and_everything_else_is_a_name() {
        assert!(is_object_id("0b5f2c1e-7d44-4a0e-9a51-0c2f3c7d9e11"));
        assert!(is_object_id("0B5F2C1E-7D44-4A0E-9A51-0C2F3C7D9E11"));
        assert!(!is_object_id("Elastic Admins"));
        assert!(!is_object_id("0b5f2c1e-7d44-4a0e-9a51-0c2f3c7d9e1z"));
        assert!(!is_object_id("0b5f2c1e7d444a0e9a510c2f3c7d9e11"));
    }

    #[test]
    fn the_body_pins_the_realm_and_lists_ids_with_names_in_metadata() {
        let groups = [group("id-1", "Ops"), group("id-2", "O'Brien's")];
        let body = mapping_body("microsoft_graph1", &["viewer".into()], &groups);
        let json = serde_json::to_value(&body).unwrap_or_default();
        assert_eq!(json["enabled"], true);
        assert_eq!(json["roles"], serde_json::json!(["viewer"]));
        assert_eq!(
            json["rules"],
            serde_json::json!({"all": [
                {"field": {"realm.name": "microsoft_graph1"}},
                {"field": {"groups": ["id-1", "id-2"]}},
            ]})
        );
        assert_eq!(
            json["metadata"]["entra_groups"][1]["displayName"],
            "O'Brien's"
        );
        assert_eq!(json["metadata"]["entra_groups"][1]["id"], "id-2");
        // Keys starting with `_` are reserved for Elasticsearch in mapping metadata.
        let meta = json["metadata"].as_object().cloned().unwrap_or_default();
        assert!(meta.keys().all(|k| !k.starts_with('_')));
    }

    #[test]
    fn role_and_mapping_names_follow_elasticsearch() {
        assert!(check_role_name("viewer").is_ok());
        assert!(check_role_name("kibana admin").is_ok());
        for bad in ["", " viewer", "viewer ", "tab\there", "ünï"] {
            assert!(check_role_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_role_name(&"r".repeat(MAX_ROLE_NAME)).is_ok());
        assert!(check_role_name(&"r".repeat(MAX_ROLE_NAME + 1)).is_err());
        assert!(check_mapping_name("entra-viewers").is_ok());
        for bad in ["", "a b", "a/b", "$x", "a\"b"] {
            assert!(check_mapping_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            default_mapping_name(
                "microsoft_graph1",
                &["viewer".into(), "kibana admin".into()]
            ),
            "microsoft_graph1-viewer-kibana_admin"
        );
        assert!(check_mapping_name(&default_mapping_name("r", &["x".repeat(600)])).is_ok());
    }

    #[test]
    fn the_curl_line_holds_placeholders_only() {
        let line = curl_line("entra-viewers");
        assert!(
            line.contains("\"$ES_URL/_security/role_mapping/entra-viewers\""),
            "{line}"
        );
        assert!(line.contains("Authorization: ApiKey $ES_API_KEY"), "{line}");
        assert!(line.ends_with("--data-binary @-"), "{line}");
    }

    #[test]
    fn matching_compares_ids_ignoring_case() {
        let groups = [group("AB-1", "a"), group("cd-2", "b")];
        let hit = matching(&groups, &["ab-1".to_string(), "zz".to_string()]);
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].id, "AB-1");
    }

    #[test]
    fn an_ambiguous_name_lists_every_candidate() {
        let e = RoleMappingError::AmbiguousGroupName {
            name: "Ops".into(),
            candidates: vec![group("id-1", "Ops"), group("id-2", "OPS")],
        };
        let text = e.to_string();
        assert!(text.contains("2 Entra groups are named 'Ops'"), "{text}");
        assert!(
            text.contains("id-1 ('Ops')") && text.contains("id-2 ('OPS')"),
            "{text}"
        );
        assert_eq!(e.exit_code(), ExitCode::DataError);
    }
}

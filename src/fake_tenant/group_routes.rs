//! `GET /groups` (with `$filter` on `displayName`) and `GET /groups/{id}`: what `role-mapping`
//! needs to turn the group names an operator knows into the object ids the realm hands to role
//! mapping. Kept apart from the user routes so the two can change independently.
//!
//! Also seeds the groups that make name resolution interesting: two groups sharing one display
//! name (Entra does not make display names unique) and one whose name holds a `'`, which an OData
//! string literal must escape as `''`.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::graph_routes::Ctx;
use super::reply::{GraphError, Reply};
use super::state::{new_id, Group, TenantState};

/// Application permissions that may read groups, from Graph's permission reference: "List
/// groups" (least privileged `Group-NestingSupport.ReadWrite.All`, higher `Directory.Read.All`,
/// `Directory.ReadWrite.All`, `Group.ManageProtection.All`, `Group.Read.All`,
/// `Group.ReadWrite.All`, `GroupMember.Read.All`) and "Get group" (`GroupMember.Read.All`, higher
/// `Group.ReadWrite.All`, `Directory.Read.All`, `Directory.ReadWrite.All`, `Group.Read.All`).
/// Both realm permission sets (`default` and `least-privilege`) are in here.
const READ_GROUPS: &[&str] = &[
    "Group-NestingSupport.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.ManageProtection.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// Groups seeded next to the catalog's: (display name, members by user nickname). The two
/// "Elastic Operators" are namesakes; Ada is in neither (tests count her groups).
pub(crate) const SEED_EXTRA_GROUPS: [(&str, &[&str]); 3] = [
    ("Elastic Operators", &["edsger"]),
    ("Elastic Operators", &["alan"]),
    ("O'Brien's Readers", &["grace"]),
];

/// Add [`SEED_EXTRA_GROUPS`] to the directory (after the users exist).
pub(crate) fn seed_extra_groups(st: &mut TenantState) {
    for (name, nicks) in SEED_EXTRA_GROUPS {
        let user_members = nicks
            .iter()
            .filter_map(|nick| {
                let upn = format!("{nick}@{}", st.domain);
                st.users
                    .iter()
                    .find(|u| u.doc["userPrincipalName"] == upn.as_str())
                    .map(|u| u.id.clone())
            })
            .collect();
        let id = new_id();
        st.groups.push(Group {
            doc: group_doc(&id, name),
            id,
            user_members,
            group_members: Vec::new(),
        });
    }
}

/// A security group as Graph returns it (the default property set, trimmed to what matters).
fn group_doc(id: &str, name: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.group",
        "id": id,
        "displayName": name,
        "description": null,
        "groupTypes": [],
        "mailEnabled": false,
        "mailNickname": name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
            .collect::<String>()
            .to_lowercase()
            .replace(' ', "-"),
        "securityEnabled": true,
    })
}

/// `GET /groups[?$filter=…&$select=…&$top=…]`.
pub(crate) fn list_groups(st: &TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_GROUPS)?;
    let items = st
        .groups
        .iter()
        .map(|g| g.doc.clone())
        .filter(|item| ctx.q.filter.as_ref().is_none_or(|f| f.matches(item)))
        .collect();
    Ok(ctx.list("groups", items, st.faults.effective_page_size()))
}

/// `GET /groups/{id}`: Graph addresses a group by object id only; anything that is not a GUID
/// is a bad request, an unknown GUID is `Request_ResourceNotFound`.
pub(crate) fn group_entity(
    st: &TenantState,
    ctx: &Ctx,
    id: &str,
    rest: &[String],
) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_GROUPS)?;
    if let [other, ..] = rest {
        return Err(GraphError::unknown_segment(other));
    }
    if !looks_like_guid(id) {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            format!("Invalid object identifier '{id}'."),
        ));
    }
    let group = st
        .groups
        .iter()
        .find(|g| g.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| GraphError::not_found(id))?;
    Ok(ctx.entity("groups/$entity", group.doc.clone()))
}

fn looks_like_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_tenant::Faults;

    #[test]
    fn namesakes_and_a_quote_are_seeded_without_touching_ada() {
        let (st, _) = TenantState::new(new_id(), Faults::default());
        let named = |n: &str| {
            st.groups
                .iter()
                .filter(|g| g.doc["displayName"] == n)
                .count()
        };
        assert_eq!(named("Elastic Operators"), 2);
        assert_eq!(named("O'Brien's Readers"), 1);
        let ada = &st.users[0].id;
        assert!(st.transitive_groups(ada).iter().all(|g| !SEED_EXTRA_GROUPS
            .iter()
            .any(|(n, _)| g.doc["displayName"] == *n)));
    }

    #[test]
    fn only_guids_address_a_group() {
        assert!(looks_like_guid("0b5f2c1e-7d44-4a0e-9a51-0c2f3c7d9e11"));
        assert!(!looks_like_guid("Elastic Operators"));
        assert!(!looks_like_guid("0b5f2c1e-7d44-4a0e-9a51-0c2f3c7d9e1"));
    }
}

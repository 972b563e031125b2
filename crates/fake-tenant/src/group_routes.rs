//! `GET /groups` (with `$filter` on `displayName`) and `GET /groups/{id}`: what `role-mapping`
//! needs to turn the group names an operator knows into the object ids the realm hands to role
//! mapping. Kept apart from the user routes so the two can change independently.
//!
//! The groups that make name resolution interesting (namesakes, a `'` in a name) are seeded
//! with the rest of the directory, in `directory`.

use axum::http::StatusCode;

use super::reply::{GraphError, Reply};
use super::request::Ctx;
use super::state::TenantState;

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

    #[test]
    fn only_guids_address_a_group() {
        assert!(looks_like_guid("0b5f2c1e-7d44-4a0e-9a51-0c2f3c7d9e11"));
        assert!(!looks_like_guid("Elastic Operators"));
        assert!(!looks_like_guid("0b5f2c1e-7d44-4a0e-9a51-0c2f3c7d9e1"));
    }
}

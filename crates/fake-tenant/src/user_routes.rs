//! `/users`, `/users/{id or userPrincipalName}` and its `transitiveMemberOf`: what the realm
//! reads to resolve a user's groups.

use super::reply::{GraphError, Reply};
use super::request::{Caller, Ctx, READ_MEMBERSHIPS, READ_USERS};
use super::state::TenantState;

pub(super) fn list_users(st: &TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_USERS)?;
    let items = st
        .users
        .iter()
        .map(|u| u.doc.clone())
        .filter(|item| ctx.q.filter.as_ref().is_none_or(|f| f.matches(item)))
        .collect();
    Ok(ctx.list("users", items, st.faults.effective_page_size()))
}

pub(super) fn user_entity(
    st: &TenantState,
    ctx: &Ctx,
    key: (String, String),
    rest: &[String],
) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_USERS)?;
    let (_, value) = &key;
    // Graph accepts a user's object id or userPrincipalName as its key.
    let user = st
        .users
        .iter()
        .find(|u| {
            u.id.eq_ignore_ascii_case(value)
                || u.doc["userPrincipalName"]
                    .as_str()
                    .is_some_and(|upn| upn.eq_ignore_ascii_case(value))
        })
        .ok_or_else(|| GraphError::not_found(value))?;
    match rest {
        [] => Ok(ctx.entity("users/$entity", user.doc.clone())),
        // The SDKs spell the cast `graph.group` (Kiota, as the realm sends it); REST examples
        // spell it `microsoft.graph.group`. Graph accepts both.
        [rel, cast @ ..]
            if rel.eq_ignore_ascii_case("transitiveMemberOf")
                && (cast.is_empty()
                    || matches!(cast, [c] if c.eq_ignore_ascii_case("microsoft.graph.group")
                        || c.eq_ignore_ascii_case("graph.group"))) =>
        {
            ctx.caller.require(READ_MEMBERSHIPS)?;
            let items = st
                .transitive_groups(&user.id)
                .into_iter()
                .map(|g| g.doc.clone())
                .filter(|item| ctx.q.filter.as_ref().is_none_or(|f| f.matches(item)))
                .collect();
            let fragment = if cast.is_empty() {
                "directoryObjects"
            } else {
                "groups"
            };
            Ok(ctx.list(fragment, items, st.faults.effective_page_size()))
        }
        [other, ..] => Err(GraphError::unknown_segment(other)),
    }
}

/// A principal granted roles through Graph moments ago may still be refused by Graph's
/// authorization (`grant_forbidden_reads`): 403, as for a missing permission.
pub(super) fn grant_not_replicated(
    st: &mut TenantState,
    caller: &Caller,
) -> Result<(), GraphError> {
    let Some(i) = st.sp_index(&caller.sp_id) else {
        return Ok(());
    };
    if st.sps[i].forbidden_reads_left > 0 {
        st.sps[i].forbidden_reads_left -= 1;
        return Err(GraphError::forbidden());
    }
    Ok(())
}

//! App-role assignments (admin consent for application permissions) below a service
//! principal: `appRoleAssignedTo` (by resource) and `appRoleAssignments` (by principal) —
//! list, grant, read, revoke.

use axum::http::Method;
use serde_json::{json, Value};

use super::lookup::{self, Directory};
use super::patch::invalid_property;
use super::reply::{GraphError, Reply};
use super::request::{Ctx, GRANT_APP_ROLES, READ_APPS};
use super::state::{Assignment, TenantState};

/// Whether `rel` names one of the two assignment relations of a service principal.
pub(super) fn is_assignment_relation(rel: &str) -> bool {
    rel.eq_ignore_ascii_case("appRoleAssignedTo") || rel.eq_ignore_ascii_case("appRoleAssignments")
}

/// `servicePrincipals/{key}/{rel}[/{assignment}]`, `rest` starting at `{rel}`.
pub(super) fn assignments(
    st: &mut TenantState,
    ctx: &Ctx,
    key: &(String, String),
    rest: &[String],
) -> Result<Reply, GraphError> {
    let method = ctx.call.method;
    match rest {
        [rel] if rel.eq_ignore_ascii_case("appRoleAssignedTo") => match *method {
            Method::GET => {
                ctx.caller.require(READ_APPS)?;
                let idx = lookup::resolve(st, Directory::ServicePrincipals, key)?;
                let sp_id = st.sps[idx].id.clone();
                let items = assignments_where(st, ctx, |a| a.resource_id == sp_id);
                Ok(ctx.list(
                    &format!("servicePrincipals('{sp_id}')/appRoleAssignedTo"),
                    items,
                    st.faults.effective_page_size(),
                ))
            }
            Method::POST => grant(st, ctx, key, GrantVia::Resource),
            _ => Err(GraphError::method_not_allowed()),
        },
        [rel] if rel.eq_ignore_ascii_case("appRoleAssignments") => match *method {
            Method::GET => {
                ctx.caller.require(READ_APPS)?;
                let idx = lookup::resolve(st, Directory::ServicePrincipals, key)?;
                let sp_id = st.sps[idx].id.clone();
                let items = assignments_where(st, ctx, |a| a.principal_id == sp_id);
                Ok(ctx.list(
                    &format!("servicePrincipals('{sp_id}')/appRoleAssignments"),
                    items,
                    st.faults.effective_page_size(),
                ))
            }
            Method::POST => grant(st, ctx, key, GrantVia::Principal),
            _ => Err(GraphError::method_not_allowed()),
        },
        [rel, assignment_id]
            if rel.eq_ignore_ascii_case("appRoleAssignedTo")
                || rel.eq_ignore_ascii_case("appRoleAssignments") =>
        {
            let idx = lookup::resolve(st, Directory::ServicePrincipals, key)?;
            let sp_id = st.sps[idx].id.clone();
            let by_resource = rel.eq_ignore_ascii_case("appRoleAssignedTo");
            let position = st.assignments.iter().position(|a| {
                a.id == *assignment_id
                    && if by_resource {
                        a.resource_id == sp_id
                    } else {
                        a.principal_id == sp_id
                    }
            });
            match *method {
                Method::GET => {
                    ctx.caller.require(READ_APPS)?;
                    let i = position.ok_or_else(|| GraphError::not_found(assignment_id))?;
                    Ok(ctx.entity(
                        &format!("servicePrincipals('{sp_id}')/{rel}/$entity"),
                        st.assignments[i].to_json(),
                    ))
                }
                Method::DELETE => {
                    ctx.caller.require(GRANT_APP_ROLES)?;
                    ctx.caller.require(READ_APPS)?;
                    if !st.faults.caller_can_consent {
                        return Err(GraphError::forbidden());
                    }
                    let i = position.ok_or_else(|| GraphError::not_found(assignment_id))?;
                    st.assignments.remove(i);
                    Ok(Reply::NoContent)
                }
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        [other, ..] => Err(GraphError::unknown_segment(other)),
        [] => Err(GraphError::unknown_segment("servicePrincipals")),
    }
}

fn assignments_where(
    st: &TenantState,
    ctx: &Ctx,
    keep: impl Fn(&Assignment) -> bool,
) -> Vec<Value> {
    st.assignments
        .iter()
        .filter(|a| keep(a))
        .map(|a| a.to_json())
        .filter(|item| ctx.q.filter.as_ref().is_none_or(|f| f.matches(item)))
        .collect()
}

/// Which service principal the URL of an app-role grant names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GrantVia {
    /// `POST /servicePrincipals/{resource}/appRoleAssignedTo` (Microsoft's recommended form).
    Resource,
    /// `POST /servicePrincipals/{principal}/appRoleAssignments`.
    Principal,
}

/// Grant an app role (admin consent for one application permission).
fn grant(
    st: &mut TenantState,
    ctx: &Ctx,
    key: &(String, String),
    via: GrantVia,
) -> Result<Reply, GraphError> {
    ctx.caller.require(GRANT_APP_ROLES)?;
    ctx.caller.require(READ_APPS)?;
    if !st.faults.caller_can_consent {
        return Err(GraphError::forbidden());
    }
    let body = ctx.body_object()?;
    let field = |name: &str| -> Result<String, GraphError> {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|s| uuid::Uuid::parse_str(s).is_ok())
            .map(str::to_owned)
            .ok_or_else(|| invalid_property(name, "AppRoleAssignment"))
    };
    let (principal_id, resource_id, app_role_id) = (
        field("principalId")?,
        field("resourceId")?,
        field("appRoleId")?,
    );
    let url_sp = lookup::resolve(st, Directory::ServicePrincipals, key)?;
    let url_sp_id = st.sps[url_sp].id.clone();
    let (named_in_url, field_name) = match via {
        GrantVia::Principal => (&principal_id, "principalId"),
        GrantVia::Resource => (&resource_id, "resourceId"),
    };
    if !url_sp_id.eq_ignore_ascii_case(named_in_url) {
        return Err(GraphError::bad_request(format!(
            "The {field_name} in the request body does not match the service principal in the URL."
        )));
    }
    // Both ends are references: a not-yet-replicated principal is "not found".
    let principal = lookup::resolve(
        st,
        Directory::ServicePrincipals,
        &("id".to_string(), principal_id.clone()),
    )?;
    let resource = lookup::resolve(
        st,
        Directory::ServicePrincipals,
        &("id".to_string(), resource_id.clone()),
    )?;
    if st.sps[principal].pending_bad_references > 0 {
        st.sps[principal].pending_bad_references -= 1;
        return Err(GraphError::bad_request("Not a valid reference update."));
    }
    if !st.sps[resource].offers_app_role(&app_role_id) {
        return Err(GraphError::bad_request(format!(
            "Permission being assigned was not found on application '{}'.",
            st.sps[resource].app_id
        )));
    }
    let principal_id = st.sps[principal].id.clone();
    let resource_id = st.sps[resource].id.clone();
    if st.assignments.iter().any(|a| {
        a.principal_id == principal_id
            && a.resource_id == resource_id
            && a.app_role_id.eq_ignore_ascii_case(&app_role_id)
    }) {
        return Err(GraphError::bad_request(
            "Permission being assigned already exists on the object.",
        ));
    }
    let i = st.assign(
        &principal_id,
        &resource_id,
        &app_role_id.to_ascii_lowercase(),
    );
    // A grant takes a while to reach the token service and Graph's authorization.
    st.assignments[i].pending_tokens = st.faults.grant_replication_tokens;
    let forbidden = st.faults.grant_forbidden_reads;
    st.sps[principal].forbidden_reads_left = forbidden;
    let rel = match via {
        GrantVia::Principal => {
            format!("servicePrincipals('{principal_id}')/appRoleAssignments/$entity")
        }
        GrantVia::Resource => {
            format!("servicePrincipals('{resource_id}')/appRoleAssignedTo/$entity")
        }
    };
    let mut item = st.assignments[i].to_json();
    item["@odata.context"] = json!(ctx.context(&rel));
    Ok(Reply::created(item))
}

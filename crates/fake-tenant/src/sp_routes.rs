//! `/servicePrincipals`: list, create (for an application that exists), read, PATCH, DELETE;
//! the app-role assignment relations below one are in `grant_routes`.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::grant_routes;
use super::lookup::{self, Directory};
use super::patch::{apply_patch, SP_RULES};
use super::reply::{GraphError, Reply};
use super::request::{Ctx, READ_APPS, WRITE_APPS};
use super::state::{Origin, TenantState};

pub(super) fn list_sps(st: &mut TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_APPS)?;
    let items = lookup::list(st, ctx, Directory::ServicePrincipals);
    Ok(ctx.list("servicePrincipals", items, st.faults.effective_page_size()))
}

pub(super) fn create_sp(st: &mut TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(WRITE_APPS)?;
    let body = ctx.body_object()?;
    let Some(app_id) = body.get("appId").and_then(Value::as_str).map(str::to_owned) else {
        return Err(GraphError::bad_request(
            "Property 'appId' is required but was not supplied.",
        ));
    };
    if st.sp_index_by_app_id(&app_id).is_some() {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            format!("The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."),
        ));
    }
    let backing = lookup::app_visible_by_app_id(st, &app_id);
    if backing.is_none() {
        return Err(GraphError::bad_request(format!(
            "The appId '{app_id}' of the service principal does not reference a valid application object."
        )));
    }
    let mut patch = body.clone();
    patch.remove("appId");
    let mut probe = st.sps.first().map(|s| s.doc.clone()).unwrap_or_default();
    apply_patch(&mut probe, &patch, &SP_RULES)?;
    let template = backing
        .and_then(|i| st.apps[i].doc.get("applicationTemplateId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = st.create_service_principal(&app_id, template.as_deref(), Origin::Created);
    let idx = st.sp_index(&id).ok_or_else(|| GraphError::not_found(&id))?;
    apply_patch(&mut st.sps[idx].doc, &patch, &SP_RULES)?;
    let mut item = st.sps[idx].to_json();
    item["@odata.context"] = json!(ctx.context("servicePrincipals/$entity"));
    Ok(Reply::created(item))
}

pub(super) fn sp_entity(
    st: &mut TenantState,
    ctx: &Ctx,
    key: (String, String),
    rest: &[String],
) -> Result<Reply, GraphError> {
    let method = ctx.call.method;
    match rest {
        [] => match *method {
            Method::GET => {
                ctx.caller.require(READ_APPS)?;
                let idx = lookup::resolve(st, Directory::ServicePrincipals, &key)?;
                Ok(ctx.entity("servicePrincipals/$entity", st.sps[idx].to_json()))
            }
            Method::PATCH => {
                ctx.caller.require(WRITE_APPS)?;
                let body = ctx.body_object()?;
                let idx = lookup::resolve(st, Directory::ServicePrincipals, &key)?;
                apply_patch(&mut st.sps[idx].doc, &body, &SP_RULES)?;
                Ok(Reply::NoContent)
            }
            Method::DELETE => {
                ctx.caller.require(WRITE_APPS)?;
                let idx = lookup::resolve(st, Directory::ServicePrincipals, &key)?;
                if st.sps[idx].id == st.graph_sp_id {
                    return Err(GraphError::forbidden());
                }
                st.delete_sp(idx);
                Ok(Reply::NoContent)
            }
            _ => Err(GraphError::method_not_allowed()),
        },
        [rel, ..] if grant_routes::is_assignment_relation(rel) => {
            grant_routes::assignments(st, ctx, &key, rest)
        }
        [other, ..] => Err(GraphError::unknown_segment(other)),
    }
}

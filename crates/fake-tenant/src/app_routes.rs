//! `/applications` and `/applicationTemplates/{id}/instantiate`: list, create, read, PATCH,
//! DELETE, and the client secrets (`addPassword`, `removePassword`) with the tenant's
//! lifetime policy.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::catalog;
use super::lookup::{self, Directory};
use super::patch::{apply_patch, invalid_property, APP_RULES};
use super::reply::{GraphError, Reply};
use super::request::{Ctx, READ_APPS, WRITE_APPS};
use super::state::{Origin, TenantState};

pub(super) fn instantiate(
    st: &mut TenantState,
    ctx: &Ctx,
    template: &str,
    rest: &[String],
) -> Result<Reply, GraphError> {
    if !matches!(rest, [op] if op.eq_ignore_ascii_case("instantiate")) {
        return Err(GraphError::unknown_segment(
            rest.first()
                .map(String::as_str)
                .unwrap_or("applicationTemplates"),
        ));
    }
    if *ctx.call.method != Method::POST {
        return Err(GraphError::method_not_allowed());
    }
    ctx.caller.require(WRITE_APPS)?;
    let Some(template) = catalog::NON_GALLERY_TEMPLATE_IDS
        .iter()
        .find(|t| t.eq_ignore_ascii_case(template))
    else {
        return Err(GraphError::not_found(template));
    };
    let body = ctx.body_object()?;
    let display_name = required_display_name(&body)?;
    let app = st.create_app(&display_name, Some(template), Origin::Created);
    let app_id = st.apps[app].app_id.clone();
    let sp_id = st.create_service_principal(&app_id, Some(template), Origin::Created);
    let sp_json = st
        .sp_index(&sp_id)
        .map(|i| st.sps[i].to_json())
        .unwrap_or(Value::Null);
    Ok(Reply::created(json!({
        "@odata.context": ctx.context("microsoft.graph.applicationServicePrincipal"),
        "application": st.apps[app].to_json(),
        "servicePrincipal": sp_json,
    })))
}

fn required_display_name(body: &Map<String, Value>) -> Result<String, GraphError> {
    match body.get("displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(_) => Err(invalid_property("displayName", "Application")),
        None => Err(GraphError::bad_request(
            "Property 'displayName' is required but was not supplied.",
        )),
    }
}

pub(super) fn list_apps(st: &mut TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_APPS)?;
    let items = lookup::list(st, ctx, Directory::Applications);
    Ok(ctx.list("applications", items, st.faults.effective_page_size()))
}

pub(super) fn create_app(st: &mut TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(WRITE_APPS)?;
    let mut body = ctx.body_object()?;
    let display_name = required_display_name(&body)?;
    let passwords = match body.remove("passwordCredentials") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid_property("passwordCredentials", "Application")),
    };
    // Validate everything before creating anything, so a bad request changes nothing.
    let mut probe = st.apps.first().map(|a| a.doc.clone()).unwrap_or_default();
    apply_patch(&mut probe, &body, &APP_RULES)?;
    let now = Utc::now();
    let lifetimes = passwords
        .iter()
        .map(|p| match p {
            Value::Object(m) => password_request(st, m.clone(), now),
            _ => Err(invalid_property("passwordCredentials", "Application")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_unique_name(st, None, &body)?;

    let idx = st.create_app(&display_name, None, Origin::Created);
    apply_patch(&mut st.apps[idx].doc, &body, &APP_RULES)?;
    let mut created = Vec::new();
    for p in lifetimes {
        let (json, _secret) = st.add_password(idx, p.display_name, p.start, p.end, Origin::Created);
        created.push(json);
    }
    let mut item = st.apps[idx].to_json();
    if !created.is_empty() {
        // The secrets are in this response only, as with addPassword.
        item["passwordCredentials"] = Value::Array(created);
    }
    item["@odata.context"] = json!(ctx.context("applications/$entity"));
    Ok(Reply::created(item))
}

pub(super) fn app_entity(
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
                let idx = lookup::resolve(st, Directory::Applications, &key)?;
                Ok(ctx.entity("applications/$entity", st.apps[idx].to_json()))
            }
            Method::PATCH => {
                ctx.caller.require(WRITE_APPS)?;
                let body = ctx.body_object()?;
                let idx = lookup::resolve(st, Directory::Applications, &key)?;
                if body.contains_key("passwordCredentials") {
                    return Err(GraphError::bad_request(
                        "Using PATCH to set passwordCredential is not supported. Use the addPassword and removePassword methods",
                    ));
                }
                check_unique_name(st, Some(idx), &body)?;
                apply_patch(&mut st.apps[idx].doc, &body, &APP_RULES)?;
                Ok(Reply::NoContent)
            }
            Method::DELETE => {
                ctx.caller.require(WRITE_APPS)?;
                let idx = lookup::resolve(st, Directory::Applications, &key)?;
                st.delete_app(idx);
                Ok(Reply::NoContent)
            }
            _ => Err(GraphError::method_not_allowed()),
        },
        [op] if op.eq_ignore_ascii_case("addPassword") => {
            if *method != Method::POST {
                return Err(GraphError::method_not_allowed());
            }
            ctx.caller.require(WRITE_APPS)?;
            let body = ctx.body_object()?;
            let idx = lookup::resolve(st, Directory::Applications, &key)?;
            let requested = match body.get("passwordCredential") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => return Err(invalid_property("passwordCredential", "Application")),
            };
            let p = password_request(st, requested, Utc::now())?;
            let (mut json, _secret) =
                st.add_password(idx, p.display_name, p.start, p.end, Origin::Created);
            json["@odata.context"] = json!(ctx.context("microsoft.graph.passwordCredential"));
            Ok(Reply::ok(json))
        }
        [op] if op.eq_ignore_ascii_case("removePassword") => {
            if *method != Method::POST {
                return Err(GraphError::method_not_allowed());
            }
            ctx.caller.require(WRITE_APPS)?;
            let body = ctx.body_object()?;
            let Some(key_id) = body.get("keyId").and_then(Value::as_str) else {
                return Err(GraphError::bad_request(
                    "Property 'keyId' is required but was not supplied.",
                ));
            };
            let idx = lookup::resolve(st, Directory::Applications, &key)?;
            let passwords = &mut st.apps[idx].passwords;
            let before = passwords.len();
            passwords.retain(|p| !p.key_id.eq_ignore_ascii_case(key_id));
            if passwords.len() == before {
                return Err(GraphError::new(
                    StatusCode::NOT_FOUND,
                    "Request_ResourceNotFound",
                    format!("No password credential found with keyId '{key_id}'."),
                ));
            }
            Ok(Reply::NoContent)
        }
        [other, ..] => Err(GraphError::unknown_segment(other)),
    }
}

/// A validated request for a new client secret.
struct PasswordRequest {
    display_name: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// Validate an addPassword request: display name, start/end (default now / +2 years) and
/// the tenant's lifetime policy.
fn password_request(
    st: &TenantState,
    requested: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<PasswordRequest, GraphError> {
    let display_name = match requested.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid_property("displayName", "PasswordCredential")),
    };
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, GraphError> {
        match requested.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| invalid_property(name, "PasswordCredential")),
            Some(_) => Err(invalid_property(name, "PasswordCredential")),
        }
    };
    let start = time("startDateTime")?.unwrap_or(now);
    let end = match time("endDateTime")? {
        Some(end) => end,
        None => start
            .checked_add_months(chrono::Months::new(24))
            .unwrap_or(start),
    };
    if end <= start {
        return Err(GraphError::bad_request(
            "Key credential end date is invalid: it must be after the start date.",
        ));
    }
    if let Some(days) = st.faults.max_secret_lifetime_days {
        if end - start > chrono::Duration::days(i64::from(days)) {
            let message = format!(
                "Credential lifetime exceeds the max value allowed as per assigned policy '{}'.",
                st.policy_id
            );
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "CredentialInvalidLifetimeAsPerAppPolicy",
                message.clone(),
            )
            .with_details(vec![json!({
                "code": "InvalidKeyEndDate",
                "message": message,
                "target": "EndDate",
            })]));
        }
    }
    Ok(PasswordRequest {
        display_name,
        start,
        end,
    })
}

/// `uniqueName` may be set once and must be unique; `idx` is the app being changed (None
/// for a new one).
fn check_unique_name(
    st: &TenantState,
    idx: Option<usize>,
    body: &Map<String, Value>,
) -> Result<(), GraphError> {
    let Some(new) = body.get("uniqueName") else {
        return Ok(());
    };
    let current = idx
        .and_then(|i| st.apps[i].doc.get("uniqueName").cloned())
        .unwrap_or(Value::Null);
    if !current.is_null() && current != *new {
        return Err(GraphError::bad_request(
            "Property 'uniqueName' can be set only once and is immutable after that.",
        ));
    }
    let taken = new.as_str().is_some_and(|n| {
        st.apps.iter().enumerate().any(|(i, a)| {
            Some(i) != idx
                && a.doc
                    .get("uniqueName")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.eq_ignore_ascii_case(n))
        })
    });
    if taken {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            "Another object with the same value for property uniqueName already exists.",
        ));
    }
    Ok(())
}

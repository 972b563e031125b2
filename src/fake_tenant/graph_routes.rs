//! Microsoft Graph v1.0 as far as provisioning and the realm's lookups need it: routing,
//! bearer-token and permission checks, and the handlers. Each handler runs with the tenant
//! locked and returns a [`Reply`]; nothing here awaits.

use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::catalog::{self, GRAPH_APP_ID};
use super::group_routes;
use super::jwt::TokenRejection;
use super::odata::{self, QueryOptions};
use super::reply::{GraphError, Reply};
use super::state::{fmt_time, Origin, TenantState};

/// Audiences a Graph access token may carry (the Graph resource in each cloud, or its appId).
pub(crate) const GRAPH_AUDIENCES: [&str; 5] = [
    "https://graph.microsoft.com",
    "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn",
    GRAPH_APP_ID,
];

const READ_APPS: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_APPS: &[&str] = &["Application.ReadWrite.All", "Directory.ReadWrite.All"];
const GRANT_APP_ROLES: &[&str] = &["AppRoleAssignment.ReadWrite.All"];
const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadBasic.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const READ_MEMBERSHIPS: &[&str] = &[
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const READ_ORGANIZATION: &[&str] = &[
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// One Graph request, as the server hands it over.
pub(crate) struct GraphCall<'a> {
    pub method: &'a Method,
    /// Path below `/v1.0`, e.g. `/applications/{id}`.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// Absolute Graph root of this server, e.g. `http://127.0.0.1:8080/v1.0`.
    pub graph_base: &'a str,
}

/// Who is calling, from the verified token.
pub(crate) struct Caller {
    roles: Vec<String>,
    /// The caller's service principal (the token's `oid`).
    sp_id: String,
}

impl Caller {
    pub(crate) fn require(&self, any_of: &[&str]) -> Result<(), GraphError> {
        if self.roles.iter().any(|r| any_of.contains(&r.as_str())) {
            Ok(())
        } else {
            Err(GraphError::forbidden())
        }
    }
}

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
        ("applicationtemplates", Some((_, template))) => instantiate(st, &ctx, &template, rest),
        ("applications", None) => match *call.method {
            Method::GET => list_apps(st, &ctx),
            Method::POST => create_app(st, &ctx),
            _ => Err(GraphError::method_not_allowed()),
        },
        ("applications", Some(key)) => app_entity(st, &ctx, key, rest),
        ("serviceprincipals", None) => match *call.method {
            Method::GET => list_sps(st, &ctx),
            Method::POST => create_sp(st, &ctx),
            _ => Err(GraphError::method_not_allowed()),
        },
        ("serviceprincipals", Some(key)) => sp_entity(st, &ctx, key, rest),
        ("organization", None) if *call.method == Method::GET => organization(st, &ctx),
        ("users", None) if *call.method == Method::GET => {
            grant_not_replicated(st, &caller)?;
            list_users(st, &ctx)
        }
        ("users", Some(key)) if *call.method == Method::GET => {
            grant_not_replicated(st, &caller)?;
            user_entity(st, &ctx, key, rest)
        }
        ("groups", None) if *call.method == Method::GET => group_routes::list_groups(st, &ctx),
        ("groups", Some((_, id))) if *call.method == Method::GET => {
            group_routes::group_entity(st, &ctx, &id, rest)
        }
        ("organization" | "users" | "groups", _) => Err(GraphError::method_not_allowed()),
        _ => Err(GraphError::unknown_segment(&collection)),
    }
}

pub(crate) struct Ctx<'a> {
    pub caller: &'a Caller,
    pub q: &'a QueryOptions,
    call: &'a GraphCall<'a>,
}

impl Ctx<'_> {
    fn context(&self, fragment: &str) -> String {
        format!("{}/$metadata#{fragment}", self.call.graph_base)
    }

    fn self_url(&self) -> String {
        format!("{}{}", self.call.graph_base, self.call.path)
    }

    /// The request body as a JSON object; an empty body counts as `{}`.
    fn body_object(&self) -> Result<Map<String, Value>, GraphError> {
        if self.call.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice(self.call.body) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(GraphError::invalid_json()),
        }
    }

    pub(crate) fn list(&self, fragment: &str, items: Vec<Value>, page_size: usize) -> Reply {
        let (value, next) = odata::page(self.q, page_size, items, &self.self_url());
        let mut body = json!({
            "@odata.context": self.context(fragment),
            "value": value,
        });
        if let Some(next) = next {
            body["@odata.nextLink"] = json!(next);
        }
        Reply::ok(body)
    }

    pub(crate) fn entity(&self, fragment: &str, item: Value) -> Reply {
        let mut item = self.q.project(item);
        if let Value::Object(m) = &mut item {
            m.insert("@odata.context".into(), json!(self.context(fragment)));
        }
        Reply::ok(item)
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

// ---------------------------------------------------------------- applications

fn instantiate(
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

fn invalid_property(name: &str, resource: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{name}' of resource '{resource}'."
    ))
}

fn list_apps(st: &mut TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_APPS)?;
    let key_lookup = ctx.q.filter.as_ref().is_some_and(|f| f.is_key_lookup());
    let mut items = Vec::new();
    for idx in 0..st.apps.len() {
        let item = st.apps[idx].to_json();
        if ctx.q.filter.as_ref().is_none_or(|f| f.matches(&item))
            && (!key_lookup || st.read_app(idx))
        {
            items.push(item);
        }
    }
    Ok(ctx.list("applications", items, st.faults.effective_page_size()))
}

fn create_app(st: &mut TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
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

/// Resolve an application named by `(property, value)` from the URL, using up a replication
/// read when it is not visible yet.
fn resolve_app(st: &mut TenantState, key: &(String, String)) -> Result<usize, GraphError> {
    let (prop, value) = key;
    let idx = match prop.to_ascii_lowercase().as_str() {
        "id" => st.app_index(value),
        "appid" => st.app_index_by_app_id(value),
        "uniquename" => st.apps.iter().position(|a| {
            a.doc
                .get("uniqueName")
                .and_then(Value::as_str)
                .is_some_and(|u| u.eq_ignore_ascii_case(value))
        }),
        _ => {
            return Err(GraphError::bad_request(format!(
                "Invalid alternate key '{prop}'."
            )))
        }
    };
    match idx {
        Some(i) if st.read_app(i) => Ok(i),
        _ => Err(GraphError::not_found(value)),
    }
}

fn app_entity(
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
                let idx = resolve_app(st, &key)?;
                Ok(ctx.entity("applications/$entity", st.apps[idx].to_json()))
            }
            Method::PATCH => {
                ctx.caller.require(WRITE_APPS)?;
                let body = ctx.body_object()?;
                let idx = resolve_app(st, &key)?;
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
                let idx = resolve_app(st, &key)?;
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
            let idx = resolve_app(st, &key)?;
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
            let idx = resolve_app(st, &key)?;
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

/// Which properties of a resource a client may set, and how each is checked.
struct PatchRules {
    resource: &'static str,
    graph_type: &'static str,
    read_only: &'static [&'static str],
    strings: &'static [&'static str],
    nullable_strings: &'static [&'static str],
    string_lists: &'static [&'static str],
}

const APP_RULES: PatchRules = PatchRules {
    resource: "Application",
    graph_type: "microsoft.graph.application",
    read_only: &[
        "id",
        "appId",
        "createdDateTime",
        "deletedDateTime",
        "publisherDomain",
        "applicationTemplateId",
    ],
    strings: &["displayName", "signInAudience"],
    nullable_strings: &[
        "notes",
        "description",
        "uniqueName",
        "serviceManagementReference",
    ],
    string_lists: &["tags", "identifierUris"],
};

const SP_RULES: PatchRules = PatchRules {
    resource: "ServicePrincipal",
    graph_type: "microsoft.graph.servicePrincipal",
    read_only: &[
        "id",
        "appId",
        "appOwnerOrganizationId",
        "applicationTemplateId",
        "deletedDateTime",
        "appDisplayName",
        "servicePrincipalType",
    ],
    strings: &["displayName"],
    nullable_strings: &["notes", "description", "homepage", "loginUrl", "logoutUrl"],
    string_lists: &["tags", "notificationEmailAddresses", "replyUrls"],
};

/// Replace each given top-level property of `doc` (Graph's PATCH semantics), after checking
/// every one; on error nothing is changed.
fn apply_patch(
    doc: &mut Map<String, Value>,
    body: &Map<String, Value>,
    rules: &PatchRules,
) -> Result<(), GraphError> {
    let mut changes = Vec::new();
    for (key, value) in body {
        if key.starts_with('@') {
            continue;
        }
        let Some(canonical) = doc.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned() else {
            return Err(GraphError::bad_request(format!(
                "Property '{key}' does not exist on type '{}'.",
                rules.graph_type
            )));
        };
        let named = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(&canonical));
        if named(rules.read_only) {
            return Err(GraphError::bad_request(format!(
                "Property '{canonical}' is read-only and cannot be set."
            )));
        }
        let ok = if named(rules.strings) {
            value.as_str().is_some_and(|s| !s.trim().is_empty())
        } else if named(rules.nullable_strings) {
            value.is_null() || value.is_string()
        } else if named(rules.string_lists) {
            value
                .as_array()
                .is_some_and(|l| l.iter().all(Value::is_string))
        } else if canonical == "requiredResourceAccess" {
            valid_required_resource_access(value)
        } else {
            true
        };
        if !ok {
            return Err(invalid_property(&canonical, rules.resource));
        }
        changes.push((canonical, value.clone()));
    }
    for (k, v) in changes {
        doc.insert(k, v);
    }
    Ok(())
}

fn valid_required_resource_access(value: &Value) -> bool {
    let Some(entries) = value.as_array() else {
        return false;
    };
    let mut seen = Vec::new();
    entries.iter().all(|e| {
        let Some(resource) = e.get("resourceAppId").and_then(Value::as_str) else {
            return false;
        };
        // Graph refuses two entries for the same resource.
        if seen.contains(&resource.to_ascii_lowercase()) {
            return false;
        }
        seen.push(resource.to_ascii_lowercase());
        e.get("resourceAccess")
            .and_then(Value::as_array)
            .is_some_and(|list| {
                list.iter().all(|a| {
                    a.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
                        && matches!(
                            a.get("type").and_then(Value::as_str),
                            Some("Role" | "Scope")
                        )
                })
            })
    })
}

// ---------------------------------------------------------------- service principals

fn list_sps(st: &mut TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_APPS)?;
    let key_lookup = ctx.q.filter.as_ref().is_some_and(|f| f.is_key_lookup());
    let mut items = Vec::new();
    for idx in 0..st.sps.len() {
        let item = st.sps[idx].to_json();
        if ctx.q.filter.as_ref().is_none_or(|f| f.matches(&item))
            && (!key_lookup || st.read_sp(idx))
        {
            items.push(item);
        }
    }
    Ok(ctx.list("servicePrincipals", items, st.faults.effective_page_size()))
}

fn create_sp(st: &mut TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
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
    let backing = st.app_index_by_app_id(&app_id);
    if !backing.is_some_and(|i| st.read_app(i)) {
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

fn resolve_sp(st: &mut TenantState, key: &(String, String)) -> Result<usize, GraphError> {
    let (prop, value) = key;
    let idx = match prop.to_ascii_lowercase().as_str() {
        "id" => st.sp_index(value),
        "appid" => st.sp_index_by_app_id(value),
        _ => {
            return Err(GraphError::bad_request(format!(
                "Invalid alternate key '{prop}'."
            )))
        }
    };
    match idx {
        Some(i) if st.read_sp(i) => Ok(i),
        _ => Err(GraphError::not_found(value)),
    }
}

fn sp_entity(
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
                let idx = resolve_sp(st, &key)?;
                Ok(ctx.entity("servicePrincipals/$entity", st.sps[idx].to_json()))
            }
            Method::PATCH => {
                ctx.caller.require(WRITE_APPS)?;
                let body = ctx.body_object()?;
                let idx = resolve_sp(st, &key)?;
                apply_patch(&mut st.sps[idx].doc, &body, &SP_RULES)?;
                Ok(Reply::NoContent)
            }
            Method::DELETE => {
                ctx.caller.require(WRITE_APPS)?;
                let idx = resolve_sp(st, &key)?;
                if st.sps[idx].id == st.graph_sp_id {
                    return Err(GraphError::forbidden());
                }
                st.delete_sp(idx);
                Ok(Reply::NoContent)
            }
            _ => Err(GraphError::method_not_allowed()),
        },
        [rel] if rel.eq_ignore_ascii_case("appRoleAssignedTo") => match *method {
            Method::GET => {
                ctx.caller.require(READ_APPS)?;
                let idx = resolve_sp(st, &key)?;
                let sp_id = st.sps[idx].id.clone();
                let items = assignments_where(st, ctx, |a| a.resource_id == sp_id);
                Ok(ctx.list(
                    &format!("servicePrincipals('{sp_id}')/appRoleAssignedTo"),
                    items,
                    st.faults.effective_page_size(),
                ))
            }
            Method::POST => grant(st, ctx, &key, GrantVia::Resource),
            _ => Err(GraphError::method_not_allowed()),
        },
        [rel] if rel.eq_ignore_ascii_case("appRoleAssignments") => match *method {
            Method::GET => {
                ctx.caller.require(READ_APPS)?;
                let idx = resolve_sp(st, &key)?;
                let sp_id = st.sps[idx].id.clone();
                let items = assignments_where(st, ctx, |a| a.principal_id == sp_id);
                Ok(ctx.list(
                    &format!("servicePrincipals('{sp_id}')/appRoleAssignments"),
                    items,
                    st.faults.effective_page_size(),
                ))
            }
            Method::POST => grant(st, ctx, &key, GrantVia::Principal),
            _ => Err(GraphError::method_not_allowed()),
        },
        [rel, assignment_id]
            if rel.eq_ignore_ascii_case("appRoleAssignedTo")
                || rel.eq_ignore_ascii_case("appRoleAssignments") =>
        {
            let idx = resolve_sp(st, &key)?;
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
    }
}

fn assignments_where(
    st: &TenantState,
    ctx: &Ctx,
    keep: impl Fn(&super::state::Assignment) -> bool,
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
    let url_sp = resolve_sp(st, key)?;
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
    let principal = resolve_sp(st, &("id".to_string(), principal_id.clone()))?;
    let resource = resolve_sp(st, &("id".to_string(), resource_id.clone()))?;
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

// ---------------------------------------------------------------- directory

fn organization(st: &TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_ORGANIZATION)?;
    let org = json!({
        "id": st.tenant_id,
        "displayName": "Fake Tenant (msgraph-keystore)",
        "tenantType": "AAD",
        "createdDateTime": fmt_time(Utc::now()),
        "verifiedDomains": [{
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": true,
            "isInitial": true,
            "name": st.domain,
            "type": "Managed",
        }],
    });
    Ok(ctx.list("organization", vec![org], st.faults.effective_page_size()))
}

fn list_users(st: &TenantState, ctx: &Ctx) -> Result<Reply, GraphError> {
    ctx.caller.require(READ_USERS)?;
    let items = st
        .users
        .iter()
        .map(|u| u.doc.clone())
        .filter(|item| ctx.q.filter.as_ref().is_none_or(|f| f.matches(item)))
        .collect();
    Ok(ctx.list("users", items, st.faults.effective_page_size()))
}

fn user_entity(
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
fn grant_not_replicated(st: &mut TenantState, caller: &Caller) -> Result<(), GraphError> {
    let Some(i) = st.sp_index(&caller.sp_id) else {
        return Ok(());
    };
    if st.sps[i].forbidden_reads_left > 0 {
        st.sps[i].forbidden_reads_left -= 1;
        return Err(GraphError::forbidden());
    }
    Ok(())
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

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
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
    }

    #[test]
    fn patch_is_all_or_nothing() {
        let mut doc = Map::new();
        doc.insert("displayName".into(), json!("a"));
        doc.insert("tags".into(), json!([]));
        doc.insert("appId".into(), json!("x"));
        doc.insert("requiredResourceAccess".into(), json!([]));
        let mut body = Map::new();
        body.insert("tags".into(), json!(["t"]));
        body.insert("displayName".into(), json!(5));
        assert!(apply_patch(&mut doc, &body, &APP_RULES).is_err());
        assert_eq!(doc["tags"], json!([]));
        body.insert("displayName".into(), json!("b"));
        assert!(apply_patch(&mut doc, &body, &APP_RULES).is_ok());
        assert_eq!(
            (doc["tags"].clone(), doc["displayName"].clone()),
            (json!(["t"]), json!("b"))
        );
        let mut ro = Map::new();
        ro.insert("appId".into(), json!("y"));
        assert!(apply_patch(&mut doc, &ro, &APP_RULES).is_err());
        let mut unknown = Map::new();
        unknown.insert("colour".into(), json!("y"));
        assert!(apply_patch(&mut doc, &unknown, &APP_RULES).is_err());
        let mut rra = Map::new();
        rra.insert(
            "requiredResourceAccess".into(),
            json!([{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": "df021288-bdef-4463-88db-98f22de89214", "type": "Role"}]}]),
        );
        assert!(apply_patch(&mut doc, &rra, &APP_RULES).is_ok());
        rra.insert(
            "requiredResourceAccess".into(),
            json!([{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": "User.Read.All", "type": "Role"}]}]),
        );
        assert!(apply_patch(&mut doc, &rra, &APP_RULES).is_err());
    }
}

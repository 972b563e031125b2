//! What every route handler receives: the request as the server hands it over, the caller
//! from the verified token, the permission sets Graph checks, and [`Ctx`], which shapes
//! replies (OData context, paging, `$select`). Shared by the resource modules so none of them
//! depends on the router.

use axum::http::{HeaderMap, Method};
use serde_json::{json, Map, Value};

use super::odata::{self, QueryOptions};
use super::reply::{GraphError, Reply};

pub(crate) const READ_APPS: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
pub(crate) const WRITE_APPS: &[&str] = &["Application.ReadWrite.All", "Directory.ReadWrite.All"];
pub(crate) const GRANT_APP_ROLES: &[&str] = &["AppRoleAssignment.ReadWrite.All"];
pub(crate) const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadBasic.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
pub(crate) const READ_MEMBERSHIPS: &[&str] = &[
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
pub(crate) const READ_ORGANIZATION: &[&str] = &[
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
    pub roles: Vec<String>,
    /// The caller's service principal (the token's `oid`).
    pub sp_id: String,
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

pub(crate) struct Ctx<'a> {
    pub caller: &'a Caller,
    pub q: &'a QueryOptions,
    pub call: &'a GraphCall<'a>,
}

impl Ctx<'_> {
    pub(crate) fn context(&self, fragment: &str) -> String {
        format!("{}/$metadata#{fragment}", self.call.graph_base)
    }

    pub(crate) fn self_url(&self) -> String {
        format!("{}{}", self.call.graph_base, self.call.path)
    }

    /// The request body as a JSON object; an empty body counts as `{}`.
    pub(crate) fn body_object(&self) -> Result<Map<String, Value>, GraphError> {
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

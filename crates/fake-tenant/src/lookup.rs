//! Finding applications and service principals the way Graph does, written once for both:
//! by the key a URL names (`{id}`, `(appId='…')`, for applications also `(uniqueName='…')`),
//! and in lists, where an exact `$filter` key lookup (`appId eq '…'`) is subject to the same
//! replication delay as a read by key, while a scan is not.

use serde_json::Value;

use super::reply::GraphError;
use super::request::Ctx;
use super::state::TenantState;

/// The two kinds of directory object provisioning addresses by key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Directory {
    Applications,
    ServicePrincipals,
}

impl Directory {
    fn len(self, st: &TenantState) -> usize {
        match self {
            Directory::Applications => st.apps.len(),
            Directory::ServicePrincipals => st.sps.len(),
        }
    }

    pub(crate) fn json(self, st: &TenantState, idx: usize) -> Value {
        match self {
            Directory::Applications => st.apps[idx].to_json(),
            Directory::ServicePrincipals => st.sps[idx].to_json(),
        }
    }

    /// Whether the object is visible to this read yet (uses up one replication read if not).
    fn read(self, st: &mut TenantState, idx: usize) -> bool {
        match self {
            Directory::Applications => st.read_app(idx),
            Directory::ServicePrincipals => st.read_sp(idx),
        }
    }

    /// The object a `(property, value)` key names, visible or not; `Err` for a property that
    /// is no key of this kind.
    fn find(self, st: &TenantState, prop: &str, value: &str) -> Result<Option<usize>, GraphError> {
        Ok(match (self, prop.to_ascii_lowercase().as_str()) {
            (Directory::Applications, "id") => st.app_index(value),
            (Directory::Applications, "appid") => st.app_index_by_app_id(value),
            (Directory::Applications, "uniquename") => st.apps.iter().position(|a| {
                a.doc
                    .get("uniqueName")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.eq_ignore_ascii_case(value))
            }),
            (Directory::ServicePrincipals, "id") => st.sp_index(value),
            (Directory::ServicePrincipals, "appid") => st.sp_index_by_app_id(value),
            _ => {
                return Err(GraphError::bad_request(format!(
                    "Invalid alternate key '{prop}'."
                )))
            }
        })
    }
}

/// Resolve the object named by `(property, value)` from the URL, using up a replication read
/// when it is not visible yet: "not found", as Graph answers then.
pub(crate) fn resolve(
    st: &mut TenantState,
    kind: Directory,
    key: &(String, String),
) -> Result<usize, GraphError> {
    let (prop, value) = key;
    match kind.find(st, prop, value)? {
        Some(i) if kind.read(st, i) => Ok(i),
        _ => Err(GraphError::not_found(value)),
    }
}

/// Whether the application with this `appId` exists and is visible to this read.
pub(crate) fn app_visible_by_app_id(st: &mut TenantState, app_id: &str) -> Option<usize> {
    let idx = st.app_index_by_app_id(app_id)?;
    Directory::Applications.read(st, idx).then_some(idx)
}

/// Every object of `kind` matching the request's `$filter`, as JSON. An exact key lookup
/// skips objects that have not replicated yet; a scan sees them all.
pub(crate) fn list(st: &mut TenantState, ctx: &Ctx, kind: Directory) -> Vec<Value> {
    let key_lookup = ctx.q.filter.as_ref().is_some_and(|f| f.is_key_lookup());
    let mut items = Vec::new();
    for idx in 0..kind.len(st) {
        let item = kind.json(st, idx);
        if ctx.q.filter.as_ref().is_none_or(|f| f.matches(&item))
            && (!key_lookup || kind.read(st, idx))
        {
            items.push(item);
        }
    }
    items
}

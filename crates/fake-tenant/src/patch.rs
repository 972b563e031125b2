//! Graph's PATCH semantics for applications and service principals: which properties a client
//! may set, how each is checked, and all-or-nothing replacement. Creation validates through
//! the same rules, so a bad `POST` changes nothing either.

use serde_json::{Map, Value};

use super::reply::GraphError;

pub(crate) fn invalid_property(name: &str, resource: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{name}' of resource '{resource}'."
    ))
}

/// Which properties of a resource a client may set, and how each is checked.
pub(crate) struct PatchRules {
    resource: &'static str,
    graph_type: &'static str,
    read_only: &'static [&'static str],
    strings: &'static [&'static str],
    nullable_strings: &'static [&'static str],
    string_lists: &'static [&'static str],
}

pub(crate) const APP_RULES: PatchRules = PatchRules {
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

pub(crate) const SP_RULES: PatchRules = PatchRules {
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
pub(crate) fn apply_patch(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::GRAPH_APP_ID;
    use serde_json::json;

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

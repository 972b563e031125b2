//! The application permissions on Microsoft Graph: resolving their ids from the tenant's
//! Graph service principal (never hard-coded), and declaring them in the application's
//! `requiredResourceAccess` without touching what else it declares.

use serde::Serialize;

use super::error::ProvisionError;
use super::options::PermissionSet;
use crate::cloud::MICROSOFT_GRAPH_APP_ID;
use crate::graph::models::{RequiredResourceAccess, ResourceAccess, ServicePrincipal};

/// One Graph application permission, resolved in this tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphPermission {
    /// e.g. `User.Read.All`.
    pub value: String,
    /// The app role id.
    pub id: String,
}

/// Find each permission of `set` among the Graph service principal's app roles: matched by
/// `value`, enabled, and grantable to applications (delegated permissions have other ids).
pub fn resolve_permissions(
    graph_sp: &ServicePrincipal,
    set: PermissionSet,
) -> Result<Vec<GraphPermission>, ProvisionError> {
    set.role_values()
        .iter()
        .map(|value| {
            graph_sp
                .app_roles
                .iter()
                .find(|r| r.value.as_deref() == Some(value) && r.is_application_permission())
                .map(|r| GraphPermission {
                    value: value.to_string(),
                    id: r.id.clone(),
                })
                .ok_or_else(|| ProvisionError::UnknownPermission {
                    value: value.to_string(),
                })
        })
        .collect()
}

/// `current` with every permission in `wanted` declared as a Graph application permission
/// (`type: Role`), or `None` if all already are. Other APIs' entries, and other Graph
/// permissions (delegated or not), are kept as they are: `requiredResourceAccess` is
/// replaced as a whole by a PATCH, so dropping them would silently remove them.
pub fn merged_required_access(
    current: &[RequiredResourceAccess],
    wanted: &[GraphPermission],
) -> Option<Vec<RequiredResourceAccess>> {
    let mut merged = current.to_vec();
    let index = match merged
        .iter()
        .position(|r| r.resource_app_id == MICROSOFT_GRAPH_APP_ID)
    {
        Some(i) => i,
        None => {
            merged.push(RequiredResourceAccess {
                resource_app_id: MICROSOFT_GRAPH_APP_ID.to_string(),
                resource_access: Vec::new(),
            });
            merged.len() - 1
        }
    };
    let entry = &mut merged[index];
    let mut changed = false;
    for p in wanted {
        if !declares(std::slice::from_ref(entry), p) {
            entry.resource_access.push(ResourceAccess {
                id: p.id.clone(),
                kind: "Role".to_string(),
            });
            changed = true;
        }
    }
    changed.then_some(merged)
}

/// Whether `access` declares `p` as a Microsoft Graph application permission.
pub(crate) fn declares(access: &[RequiredResourceAccess], p: &GraphPermission) -> bool {
    access
        .iter()
        .filter(|r| r.resource_app_id == MICROSOFT_GRAPH_APP_ID)
        .flat_map(|r| &r.resource_access)
        .any(|a| a.id.eq_ignore_ascii_case(&p.id) && a.kind == "Role")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_sp() -> ServicePrincipal {
        let path = format!(
            "{}/fixtures/graph-samples/graph-service-principal-approles.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn resolves_the_default_set_from_the_tenant() {
        let p = resolve_permissions(&graph_sp(), PermissionSet::Default).unwrap();
        let ids: Vec<&str> = p.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
                "62a82d76-70ea-41e2-9197-370581804d09",
                "df021288-bdef-4463-88db-98f22de89214"
            ]
        );
    }

    #[test]
    fn a_permission_the_tenant_lacks_is_named() {
        // The sample holds only the three default roles.
        let err = resolve_permissions(&graph_sp(), PermissionSet::LeastPrivilege).unwrap_err();
        assert!(err.to_string().contains("GroupMember.Read.All"), "{err}");
    }

    #[test]
    fn delegated_or_disabled_roles_do_not_count() {
        let mut sp = graph_sp();
        sp.app_roles[2].allowed_member_types = vec!["User".into()];
        assert!(resolve_permissions(&sp, PermissionSet::Default).is_err());
        let mut sp = graph_sp();
        sp.app_roles[0].is_enabled = false;
        assert!(resolve_permissions(&sp, PermissionSet::Default).is_err());
    }

    #[test]
    fn merge_keeps_other_resources_and_other_graph_permissions() {
        let wanted = resolve_permissions(&graph_sp(), PermissionSet::Default).unwrap();
        let other_api = RequiredResourceAccess {
            resource_app_id: "00000002-0000-0ff1-ce00-000000000000".into(),
            resource_access: vec![ResourceAccess {
                id: "x".into(),
                kind: "Scope".into(),
            }],
        };
        let graph_entry = RequiredResourceAccess {
            resource_app_id: MICROSOFT_GRAPH_APP_ID.into(),
            resource_access: vec![
                ResourceAccess {
                    id: "e1fe6dd8-ba31-4d61-89e7-88639da4683d".into(),
                    kind: "Scope".into(),
                },
                ResourceAccess {
                    id: wanted[2].id.clone(),
                    kind: "Role".into(),
                },
            ],
        };
        let merged = merged_required_access(&[other_api.clone(), graph_entry], &wanted).unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0], other_api);
        let access = &merged[1].resource_access;
        assert_eq!(access.len(), 4);
        assert_eq!(access[0].kind, "Scope");
        assert!(wanted
            .iter()
            .all(|w| access.iter().any(|a| a.id == w.id && a.kind == "Role")));
        assert_eq!(merged_required_access(&merged, &wanted), None);
    }

    #[test]
    fn merge_adds_a_graph_entry_when_there_is_none() {
        let wanted = resolve_permissions(&graph_sp(), PermissionSet::Default).unwrap();
        let merged = merged_required_access(&[], &wanted).unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].resource_app_id, MICROSOFT_GRAPH_APP_ID);
        assert_eq!(merged[0].resource_access.len(), 3);
    }
}

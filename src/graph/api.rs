//! The typed Graph calls the provisioning flow makes. Each is one request (plus paging);
//! retrying on replication is the caller's business, since only the caller knows whether
//! the object it is touching was just created.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;

use super::client::{GraphClient, Replay};
use super::error::GraphError;
use super::models::{
    AppRoleAssignment, Application, ApplicationServicePrincipal, NewPassword, Organization,
    RequiredResourceAccess, ServicePrincipal, APPLICATION_SELECT, SERVICE_PRINCIPAL_SELECT,
};
use super::odata::{any_eq_filter, eq_filter, with_query};
use crate::cloud::MICROSOFT_GRAPH_APP_ID;

/// Properties of an application that the flow changes. Unset fields are left out of the
/// PATCH body, so Graph leaves them alone.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
}

/// Path segment for an id we put in a URL. Ids come from Graph or the user; percent-encode
/// them so a stray `/` or `?` cannot change which resource is addressed.
fn seg(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl GraphClient {
    /// Applications whose `appId` (client id) is `app_id` (zero or one).
    pub async fn find_applications_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Vec<Application>, GraphError> {
        self.find_applications(&eq_filter("appId", app_id)).await
    }

    /// Applications carrying `tag`.
    pub async fn find_applications_by_tag(
        &self,
        tag: &str,
    ) -> Result<Vec<Application>, GraphError> {
        self.find_applications(&any_eq_filter("tags", tag)).await
    }

    /// Applications whose display name is exactly `name` (names are not unique).
    pub async fn find_applications_by_display_name(
        &self,
        name: &str,
    ) -> Result<Vec<Application>, GraphError> {
        let found = self
            .find_applications(&eq_filter("displayName", name))
            .await?;
        // `eq` on displayName is case-insensitive in Graph; we want the exact name.
        Ok(found
            .into_iter()
            .filter(|a| a.display_name.as_deref() == Some(name))
            .collect())
    }

    async fn find_applications(&self, filter: &str) -> Result<Vec<Application>, GraphError> {
        let path = with_query(
            "/applications",
            &[
                ("$filter", filter),
                ("$select", APPLICATION_SELECT),
                ("$top", "100"),
            ],
        );
        self.get_collection(&path).await
    }

    /// One application by object id.
    pub async fn get_application(&self, object_id: &str) -> Result<Application, GraphError> {
        let path = with_query(
            &format!("/applications/{}", seg(object_id)),
            &[("$select", APPLICATION_SELECT)],
        );
        self.get_json(&path).await
    }

    /// Create an application and its service principal from an application template (the
    /// "non-gallery" template makes what the portal's "Create your own application" makes).
    /// Not idempotent: each call creates a new pair.
    pub async fn instantiate_template(
        &self,
        template_id: &str,
        display_name: &str,
    ) -> Result<ApplicationServicePrincipal, GraphError> {
        let path = format!("/applicationTemplates/{}/instantiate", seg(template_id));
        self.post_json(
            &path,
            &json!({ "displayName": display_name }),
            Replay::NotSafe,
        )
        .await
    }

    /// Change some properties of an application.
    pub async fn update_application(
        &self,
        object_id: &str,
        patch: &ApplicationPatch,
    ) -> Result<(), GraphError> {
        self.patch(&format!("/applications/{}", seg(object_id)), patch)
            .await
    }

    /// Add a client secret valid until `end`. The answer holds the secret's value, which
    /// Graph never shows again. Not idempotent.
    pub async fn add_password(
        &self,
        object_id: &str,
        display_name: &str,
        end: DateTime<Utc>,
    ) -> Result<NewPassword, GraphError> {
        let body = json!({
            "passwordCredential": {
                "displayName": display_name,
                "endDateTime": end.to_rfc3339_opts(SecondsFormat::Secs, true),
            }
        });
        self.post_json(
            &format!("/applications/{}/addPassword", seg(object_id)),
            &body,
            Replay::NotSafe,
        )
        .await
    }

    /// Remove the client secret `key_id` from an application.
    pub async fn remove_password(&self, object_id: &str, key_id: &str) -> Result<(), GraphError> {
        self.post_no_content(
            &format!("/applications/{}/removePassword", seg(object_id)),
            &json!({ "keyId": key_id }),
            Replay::Safe,
        )
        .await
    }

    /// Delete an application (Entra keeps it in "deleted items" for 30 days).
    pub async fn delete_application(&self, object_id: &str) -> Result<(), GraphError> {
        self.delete(&format!("/applications/{}", seg(object_id)))
            .await
    }

    /// The service principal of the application `app_id`, if there is one.
    pub async fn find_service_principal_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<ServicePrincipal>, GraphError> {
        let path = with_query(
            "/servicePrincipals",
            &[
                ("$filter", &eq_filter("appId", app_id)),
                ("$select", SERVICE_PRINCIPAL_SELECT),
            ],
        );
        let found: Vec<ServicePrincipal> = self.get_collection(&path).await?;
        Ok(found.into_iter().next())
    }

    /// One service principal by object id.
    pub async fn get_service_principal(
        &self,
        object_id: &str,
    ) -> Result<ServicePrincipal, GraphError> {
        let path = with_query(
            &format!("/servicePrincipals/{}", seg(object_id)),
            &[("$select", SERVICE_PRINCIPAL_SELECT)],
        );
        self.get_json(&path).await
    }

    /// Create the service principal for an application that has none. A duplicate answers
    /// 409 (already exists), so the call may be repeated.
    pub async fn create_service_principal(
        &self,
        app_id: &str,
    ) -> Result<ServicePrincipal, GraphError> {
        self.post_json(
            "/servicePrincipals",
            &json!({ "appId": app_id }),
            Replay::Safe,
        )
        .await
    }

    /// Delete a service principal.
    pub async fn delete_service_principal(&self, object_id: &str) -> Result<(), GraphError> {
        self.delete(&format!("/servicePrincipals/{}", seg(object_id)))
            .await
    }

    /// The tenant's Microsoft Graph service principal, with the application roles it
    /// offers (the permissions), or `None` if the tenant has none yet.
    pub async fn microsoft_graph_service_principal(
        &self,
    ) -> Result<Option<ServicePrincipal>, GraphError> {
        let path = with_query(
            "/servicePrincipals",
            &[
                ("$filter", &eq_filter("appId", MICROSOFT_GRAPH_APP_ID)),
                (
                    "$select",
                    "id,appId,displayName,appOwnerOrganizationId,appRoles",
                ),
            ],
        );
        let found: Vec<ServicePrincipal> = self.get_collection(&path).await?;
        Ok(found.into_iter().next())
    }

    /// Application roles granted to the service principal `principal_id` (on any resource).
    pub async fn list_app_role_assignments(
        &self,
        principal_id: &str,
    ) -> Result<Vec<AppRoleAssignment>, GraphError> {
        self.get_collection(&format!(
            "/servicePrincipals/{}/appRoleAssignments",
            seg(principal_id)
        ))
        .await
    }

    /// Grant application role `app_role_id` of `resource_id` to `principal_id` (admin
    /// consent for one application permission). A duplicate answers "already exists", so
    /// the call may be repeated.
    pub async fn create_app_role_assignment(
        &self,
        resource_id: &str,
        principal_id: &str,
        app_role_id: &str,
    ) -> Result<AppRoleAssignment, GraphError> {
        self.post_json(
            &format!("/servicePrincipals/{}/appRoleAssignedTo", seg(resource_id)),
            &json!({
                "principalId": principal_id,
                "resourceId": resource_id,
                "appRoleId": app_role_id,
            }),
            Replay::Safe,
        )
        .await
    }

    /// The tenant's organization object(s) (exactly one in practice).
    pub async fn organization(&self) -> Result<Vec<Organization>, GraphError> {
        self.get_collection("/organization?$select=id,displayName")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("abc-123"), "abc-123");
        assert_eq!(seg("a/b?c d"), "a%2Fb%3Fc%20d");
    }

    #[test]
    fn patch_leaves_unset_fields_out() {
        let p = ApplicationPatch {
            tags: Some(vec!["t".into()]),
            ..ApplicationPatch::default()
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap_or_default(),
            r#"{"tags":["t"]}"#
        );
    }
}

//! Typed views of the few Graph objects the tool reads and writes. Only the fields we use
//! are declared; everything else in Graph's (large) objects is ignored, so new fields in
//! Graph responses never break parsing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::secret::SecretString;

/// An application object (app registration).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Object id: used in `/applications/{id}` paths.
    pub id: String,
    /// Application (client) id: the realm's `client_id`.
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub required_resource_access: Vec<RequiredResourceAccess>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub password_credentials: Vec<PasswordCredential>,
}

/// The `$select` list that fills every field of [`Application`].
pub const APPLICATION_SELECT: &str =
    "id,appId,displayName,tags,notes,requiredResourceAccess,passwordCredentials";

/// One API the application declares it needs (`requiredResourceAccess[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    pub resource_app_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub resource_access: Vec<ResourceAccess>,
}

/// One permission in a [`RequiredResourceAccess`]: `Role` (application) or `Scope`
/// (delegated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAccess {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A client secret's metadata as Graph lists it (the value is never listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    pub key_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_date_time: Option<DateTime<Utc>>,
    /// First characters of the secret, as Graph shows them in the portal.
    #[serde(default)]
    pub hint: Option<String>,
}

/// The answer to `addPassword`: the only time Graph shows a secret's value.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPassword {
    pub key_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub hint: Option<String>,
    /// Read straight into the secret: no plain `String` copy is made on the way.
    #[serde(deserialize_with = "crate::secret::deserialize_secret")]
    pub secret_text: SecretString,
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPassword")
            .field("key_id", &self.key_id)
            .field("display_name", &self.display_name)
            .field("end_date_time", &self.end_date_time)
            .field("secret_text", &"[REDACTED]")
            .finish()
    }
}

impl NewPassword {
    /// The metadata part, as it will appear in the app's `passwordCredentials`.
    pub fn credential(&self) -> PasswordCredential {
        PasswordCredential {
            key_id: self.key_id.clone(),
            display_name: self.display_name.clone(),
            start_date_time: self.start_date_time,
            end_date_time: self.end_date_time,
            hint: self.hint.clone(),
        }
    }
}

/// A service principal (enterprise application).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Tenant that owns the application: the realm's `tenant_id`.
    #[serde(default)]
    pub app_owner_organization_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub app_roles: Vec<AppRole>,
}

/// The `$select` list for [`ServicePrincipal`] without `appRoles` (which is large on
/// Microsoft Graph's own service principal and only needed there).
pub const SERVICE_PRINCIPAL_SELECT: &str = "id,appId,displayName,appOwnerOrganizationId";

/// An application role a service principal offers.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub id: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub allowed_member_types: Vec<String>,
    #[serde(default = "enabled_by_default")]
    pub is_enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

impl AppRole {
    /// Whether this role can be granted to an application (an application permission),
    /// as opposed to users or groups only.
    pub fn is_application_permission(&self) -> bool {
        self.is_enabled && self.allowed_member_types.iter().any(|t| t == "Application")
    }
}

/// A granted application role (one admin-consented application permission).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    pub id: String,
    pub app_role_id: String,
    pub principal_id: String,
    pub resource_id: String,
}

/// The answer to instantiating an application template: both new objects.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationServicePrincipal {
    pub application: Application,
    pub service_principal: ServicePrincipal,
}

/// The tenant (`GET /organization`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// One page of a Graph collection.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// Graph sends `null` for some empty collections; read it as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ExposeSecret;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/fixtures/graph-samples/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn parses_the_instantiate_response() {
        let r: ApplicationServicePrincipal =
            serde_json::from_slice(&fixture("instantiate-response.json")).unwrap();
        assert_eq!(r.application.id, "bf21f7e9-9d25-4da2-82ab-7fdd85049f83");
        assert_eq!(r.application.app_id, "32977d3b-ee0e-4614-9f50-f583a07842d2");
        assert_eq!(r.service_principal.app_id, r.application.app_id);
        assert!(r.service_principal.app_owner_organization_id.is_some());
    }

    #[test]
    fn parses_an_application_and_a_service_principal() {
        let app: Application = serde_json::from_slice(&fixture("application.json")).unwrap();
        assert_eq!(app.app_id, "631a96bc-a705-4eda-9f99-fdaf9f54f6a2");
        assert!(app.password_credentials.is_empty());
        let sp: ServicePrincipal =
            serde_json::from_slice(&fixture("service-principal.json")).unwrap();
        assert_eq!(
            sp.app_owner_organization_id.as_deref(),
            Some("1bc1c026-2f7b-48a5-98da-afa2fd8bc7bc")
        );
    }

    #[test]
    fn parses_add_password_without_leaking_the_secret_in_debug() {
        let p: NewPassword =
            serde_json::from_slice(&fixture("add-password-response.json")).unwrap();
        assert_eq!(p.key_id, "f0b0b335-1d71-4883-8f98-567911bfdca6");
        assert_eq!(
            p.secret_text.expose_secret(),
            "[6gyXA5S20@MN+WRXAJ]I-TO7g1:h2P8"
        );
        assert!(p.end_date_time.is_some());
        let shown = format!("{p:?}");
        assert!(!shown.contains("6gyXA5S20"), "{shown}");
    }

    #[test]
    fn parses_graph_app_roles() {
        let sp: ServicePrincipal =
            serde_json::from_slice(&fixture("graph-service-principal-approles.json")).unwrap();
        assert_eq!(sp.app_roles.len(), 3);
        assert!(sp.app_roles.iter().all(AppRole::is_application_permission));
    }

    #[test]
    fn parses_assignment_pages_and_requested_access() {
        let page: Page<AppRoleAssignment> =
            serde_json::from_slice(&fixture("app-role-assignments-list.json")).unwrap();
        assert_eq!(page.value.len(), 1);
        assert_eq!(
            page.value[0].app_role_id,
            "df021288-bdef-4463-88db-98f22de89214"
        );
        assert!(page.next_link.is_none());
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Fragment {
            required_resource_access: Vec<RequiredResourceAccess>,
        }
        let f: Fragment =
            serde_json::from_slice(&fixture("application-requiredResourceAccess-fragment.json"))
                .unwrap();
        assert_eq!(f.required_resource_access[0].resource_access.len(), 3);
    }

    #[test]
    fn null_collections_read_as_empty() {
        let app: Application = serde_json::from_str(
            r#"{"id":"1","appId":"2","tags":null,"passwordCredentials":null,"requiredResourceAccess":null}"#,
        )
        .unwrap();
        assert!(app.tags.is_empty());
        let page: Page<Application> = serde_json::from_str(r#"{"value":null}"#).unwrap();
        assert!(page.value.is_empty());
    }
}

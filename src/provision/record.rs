//! The result of a run: what exists, what changed, and (once) the new secret. Serialized
//! as the `--output json` record; the secret's value is never serialized.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::options::PermissionSet;
use crate::graph::models::PasswordCredential;
use crate::secret::SecretString;

/// How the application was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundBy {
    /// `--app-id`.
    AppId,
    /// The realm's `client_id` in elasticsearch.yml.
    ConfiguredClientId,
    /// The tool's marker tag.
    MarkerTag,
    /// An exact display-name match.
    DisplayName,
}

/// What happened about admin consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ConsentOutcome {
    /// Missing permissions were granted by this run.
    Granted,
    /// Every permission was already granted.
    AlreadyGranted,
    /// The caller may not grant: an administrator must (instructions included).
    Forbidden { instructions: String },
    /// Not attempted (`--no-consent`) and some permissions are still missing.
    Skipped,
    /// Dry run: the missing permissions would be granted.
    Planned,
}

/// Kinds of change a run makes (or, in a dry run, would make).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    CreateApplication,
    TagApplication,
    CreateServicePrincipal,
    CreateGraphServicePrincipal,
    SetRequiredResourceAccess,
    GrantPermission,
    AddSecret,
    RemoveOrphanSecret,
}

/// One change, with a sentence saying what it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub detail: String,
}

/// A client secret's metadata (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretInfo {
    pub key_id: String,
    pub display_name: Option<String>,
    pub end_date_time: Option<DateTime<Utc>>,
}

impl From<&PasswordCredential> for SecretInfo {
    fn from(c: &PasswordCredential) -> Self {
        SecretInfo {
            key_id: c.key_id.clone(),
            display_name: c.display_name.clone(),
            end_date_time: c.end_date_time,
        }
    }
}

/// A secret added by this run. `value` is shown by Graph only once: hand it on (secret
/// file, keystore) and drop it.
#[derive(Debug, Serialize)]
pub struct NewSecret {
    pub key_id: String,
    pub display_name: Option<String>,
    pub end_date_time: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub value: SecretString,
}

/// What exists after the run, and what the run changed.
///
/// `app_object_id`, `app_id` and `sp_id` are `None` only in a dry run that would create
/// the application.
#[derive(Debug, Serialize)]
pub struct Provisioned {
    pub dry_run: bool,
    pub display_name: String,
    /// Application object id (for Graph calls).
    pub app_object_id: Option<String>,
    /// Application (client) id: the realm's `client_id`.
    pub app_id: Option<String>,
    /// Service principal object id.
    pub sp_id: Option<String>,
    /// The realm's `tenant_id`.
    pub tenant_id: String,
    /// Whether this run created the application (in a dry run: would create).
    pub created: bool,
    pub found_by: Option<FoundBy>,
    /// Changes made (in a dry run: planned), in order.
    pub changes: Vec<Change>,
    pub permissions: PermissionSet,
    /// Permissions (Graph app role values) granted to the application.
    pub granted_permissions: Vec<String>,
    /// Permissions of the set still not granted.
    pub missing_permissions: Vec<String>,
    pub consent: ConsentOutcome,
    /// Every client secret on the application (metadata only), the new one included.
    pub secrets: Vec<SecretInfo>,
    /// The secret added by this run, if any.
    pub new_secret: Option<NewSecret>,
}

/// What the consent step found and did (kept with the records it becomes part of, so the
/// flow and the consent step both read it without importing each other).
pub(crate) struct ConsentState {
    pub outcome: ConsentOutcome,
    pub granted: Vec<String>,
    pub missing: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_value_is_not_serialized_or_debug_printed() {
        let record = Provisioned {
            dry_run: false,
            display_name: "n".into(),
            app_object_id: Some("o".into()),
            app_id: Some("a".into()),
            sp_id: Some("s".into()),
            tenant_id: "t".into(),
            created: true,
            found_by: None,
            changes: vec![],
            permissions: PermissionSet::Default,
            granted_permissions: vec![],
            missing_permissions: vec![],
            consent: ConsentOutcome::Forbidden {
                instructions: "ask an admin".into(),
            },
            secrets: vec![],
            new_secret: Some(NewSecret {
                key_id: "k".into(),
                display_name: None,
                end_date_time: None,
                value: SecretString::from("s3cr3t-VALUE"),
            }),
        };
        let json = serde_json::to_string(&record).unwrap_or_default();
        assert!(json.contains(r#""key_id":"k""#), "{json}");
        assert!(json.contains(r#""outcome":"forbidden""#), "{json}");
        assert!(!json.contains("s3cr3t-VALUE"), "{json}");
        assert!(!format!("{record:?}").contains("s3cr3t-VALUE"));
    }
}

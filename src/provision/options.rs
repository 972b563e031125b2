//! What a provisioning run is asked to do, with the tool's defaults and naming rules (the
//! marker tag, secret display names) that later runs and `rotate` rely on.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cloud::{Cloud, Endpoints};
use crate::graph::models::PasswordCredential;

/// Display name of the application when none is given.
pub const DEFAULT_APP_NAME: &str = "elasticsearch-graph-authz";

/// Every application the tool creates or adopts carries the tag `msgraph-keystore:<name>`,
/// so later runs find it even if someone renames it or another app takes the same name.
pub const MARKER_TAG_PREFIX: &str = "msgraph-keystore:";

/// Graph limits each tag to 256 characters.
const MAX_TAG_CHARS: usize = 256;

/// Client secrets the tool adds are named `msgraph-keystore <label> <YYYY-MM-DD>`, where
/// the label says which cluster (or host) and realm the secret is for.
pub const SECRET_DISPLAY_NAME_PREFIX: &str = "msgraph-keystore ";

/// Default client-secret lifetime: short enough for common tenant policies (and CISA's
/// ≤180-day guidance), long enough not to be a chore.
pub const DEFAULT_SECRET_LIFETIME_DAYS: u32 = 180;

/// Written to the application's `notes` so a person looking at it in the portal knows who
/// manages it.
pub const APP_NOTES: &str = "Managed by msgraph-keystore for the Elasticsearch microsoft_graph authorization realm. It finds this application by its msgraph-keystore:<name> tag: keep the tag. Re-run `msgraph-keystore provision` (or `setup`) to repair it.";

/// The marker tag for an application named `app_name`.
pub fn marker_tag(app_name: &str) -> String {
    let tag = format!("{MARKER_TAG_PREFIX}{app_name}");
    match tag.char_indices().nth(MAX_TAG_CHARS) {
        Some((cut, _)) => tag[..cut].to_string(),
        None => tag,
    }
}

/// The display name for a new client secret for `label` (e.g. `prod-cluster/microsoft_graph1`),
/// dated today (UTC).
pub fn secret_display_name(label: &str) -> String {
    secret_display_name_on(label, Utc::now())
}

/// [`secret_display_name`] for a given day.
pub fn secret_display_name_on(label: &str, when: DateTime<Utc>) -> String {
    format!(
        "{}{}",
        secret_display_name_prefix(label),
        when.format("%Y-%m-%d")
    )
}

/// The part of [`secret_display_name`] before the date: every secret the tool made for
/// `label` starts with it (`rotate` uses this to find the old ones).
pub fn secret_display_name_prefix(label: &str) -> String {
    format!("{SECRET_DISPLAY_NAME_PREFIX}{label} ")
}

/// Whether `credential` is a client secret this tool created for `label`.
pub fn is_tool_secret_for(credential: &PasswordCredential, label: &str) -> bool {
    credential
        .display_name
        .as_deref()
        .is_some_and(|n| n.starts_with(&secret_display_name_prefix(label)))
}

/// Which Microsoft Graph application permissions the realm gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionSet {
    /// What Elastic's documentation asks for: Directory.ReadWrite.All, Group.ReadWrite.All, User.Read.All.
    #[default]
    Default,
    /// What the realm's code actually reads: User.Read.All and GroupMember.Read.All.
    LeastPrivilege,
}

impl PermissionSet {
    /// The permissions (Graph app role values) in this set.
    pub fn role_values(self) -> &'static [&'static str] {
        match self {
            PermissionSet::Default => &[
                "Directory.ReadWrite.All",
                "Group.ReadWrite.All",
                "User.Read.All",
            ],
            PermissionSet::LeastPrivilege => &["User.Read.All", "GroupMember.Read.All"],
        }
    }
}

/// When to add a client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddSecret {
    /// Never (the caller has nowhere to put one).
    Never,
    /// Only when the application has no client secret at all (first run).
    IfNone,
    /// Always add a new one (rotation, `--new-secret`).
    Always,
}

/// Whether to grant admin consent (create the app-role assignments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    Grant,
    Skip,
}

/// Everything a provisioning run needs to know.
#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    /// Display name of the application (and the suffix of its marker tag).
    pub app_name: String,
    /// An explicit application (client) id to use (`--app-id`): never creates another.
    pub app_id: Option<String>,
    /// The realm's `client_id` already in elasticsearch.yml, if any.
    pub configured_client_id: Option<String>,
    /// Where `configured_client_id` came from, for messages (e.g. the yml path and key).
    pub configured_client_id_source: Option<String>,
    pub permissions: PermissionSet,
    pub add_secret: AddSecret,
    pub secret_lifetime_days: u32,
    /// Display name of a new secret; see [`secret_display_name`].
    pub credential_name: String,
    pub consent: ConsentMode,
    /// Read only; report what would change.
    pub dry_run: bool,
    /// Application template to instantiate (the cloud's non-gallery template).
    pub template_id: String,
    /// Tag that marks the application as managed by this tool; see [`marker_tag`].
    pub marker_tag: String,
    /// Login host of the cloud, for the admin-consent URL.
    pub access_token_host: String,
}

impl ProvisionOptions {
    /// Defaults for `endpoints`: app name `elasticsearch-graph-authz`, Elastic's permission
    /// set, consent granted, no secret, 180-day lifetime, secret label `msgraph-keystore`.
    pub fn for_endpoints(endpoints: &Endpoints) -> ProvisionOptions {
        ProvisionOptions {
            app_name: DEFAULT_APP_NAME.to_string(),
            app_id: None,
            configured_client_id: None,
            configured_client_id_source: None,
            permissions: PermissionSet::Default,
            add_secret: AddSecret::Never,
            secret_lifetime_days: DEFAULT_SECRET_LIFETIME_DAYS,
            credential_name: secret_display_name("msgraph-keystore"),
            consent: ConsentMode::Grant,
            dry_run: false,
            template_id: endpoints.non_gallery_template_id.clone(),
            marker_tag: marker_tag(DEFAULT_APP_NAME),
            access_token_host: endpoints.access_token_host.clone(),
        }
    }

    /// Set the display name and the marker tag that goes with it.
    pub fn with_app_name(mut self, name: &str) -> Self {
        self.app_name = name.to_string();
        self.marker_tag = marker_tag(name);
        self
    }
}

impl Default for ProvisionOptions {
    fn default() -> Self {
        ProvisionOptions::for_endpoints(&Cloud::Global.endpoints())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn marker_tag_names_the_app_and_fits_graph_limits() {
        assert_eq!(
            marker_tag("elasticsearch-graph-authz"),
            "msgraph-keystore:elasticsearch-graph-authz"
        );
        assert_eq!(marker_tag(&"é".repeat(300)).chars().count(), 256);
    }

    #[test]
    fn secret_names_carry_label_and_date_and_are_recognised() {
        let when = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
        let name = secret_display_name_on("prod/microsoft_graph1", when);
        assert_eq!(name, "msgraph-keystore prod/microsoft_graph1 2026-11-26");
        let cred = |n: &str| PasswordCredential {
            key_id: "k".into(),
            display_name: Some(n.into()),
            start_date_time: None,
            end_date_time: None,
            hint: None,
        };
        assert!(is_tool_secret_for(&cred(&name), "prod/microsoft_graph1"));
        assert!(!is_tool_secret_for(&cred(&name), "prod/microsoft_graph"));
        assert!(!is_tool_secret_for(
            &cred("Password friendly name"),
            "prod/microsoft_graph1"
        ));
    }

    #[test]
    fn permission_sets() {
        assert_eq!(PermissionSet::Default.role_values().len(), 3);
        assert_eq!(
            PermissionSet::LeastPrivilege.role_values(),
            &["User.Read.All", "GroupMember.Read.All"]
        );
    }

    #[test]
    fn options_follow_the_cloud() {
        let o = ProvisionOptions::for_endpoints(&Cloud::China.endpoints()).with_app_name("x");
        assert_eq!(o.template_id, "5a532e38-1581-4918-9658-008dc27c1d68");
        assert_eq!(o.access_token_host, "https://login.chinacloudapi.cn");
        assert_eq!(o.marker_tag, "msgraph-keystore:x");
    }
}

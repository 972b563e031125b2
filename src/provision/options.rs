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

/// Client secrets the tool adds are named
/// `msgraph-keystore <label> <YYYY-MM-DD> run:<id>[ replaces:<keyId>[,<keyId>…]]`: the label
/// says which cluster (or host) and realm the secret is for, `run:` is random per run and
/// `replaces:` names the secrets the config directories held when this one replaced them.
/// Labels collide (`cluster.name` defaults to `elasticsearch`), so the label only groups
/// secrets for people; what may be removed is decided by `replaces:` and the run id (see
/// `setup::retire`).
pub const SECRET_DISPLAY_NAME_PREFIX: &str = "msgraph-keystore ";

/// Default client-secret lifetime: short enough for common tenant policies (and CISA's
/// ≤180-day guidance), long enough not to be a chore.
pub const DEFAULT_SECRET_LIFETIME_DAYS: u32 = 180;

/// Written to the application's `notes` so a person looking at it in the portal knows who
/// manages it.
pub const APP_NOTES: &str = "Managed by msgraph-keystore for the Elasticsearch microsoft_graph authorization realm. It finds this application by its msgraph-keystore:<name> tag: keep the tag. Re-run `msgraph-keystore provision` (or `setup`) to repair it.";

const RUN_TOKEN: &str = "run:";
const REPLACES_TOKEN: &str = "replaces:";

/// The marker tag for an application named `app_name`.
pub fn marker_tag(app_name: &str) -> String {
    let tag = format!("{MARKER_TAG_PREFIX}{app_name}");
    match tag.char_indices().nth(MAX_TAG_CHARS) {
        Some((cut, _)) => tag[..cut].to_string(),
        None => tag,
    }
}

/// The display name for a new client secret for `label` (e.g. `prod-cluster/microsoft_graph1`),
/// dated today (UTC), with a fresh run id and no predecessor.
pub fn secret_display_name(label: &str) -> String {
    secret_display_name_replacing(label, &[])
}

/// [`secret_display_name`] for a secret that replaces the secrets `replaces` (keyIds).
pub fn secret_display_name_replacing(label: &str, replaces: &[String]) -> String {
    // The run id keeps two runs on the same day for colliding labels apart: the clean-up of
    // secrets whose `addPassword` answer was lost matches the whole display name.
    let run = uuid::Uuid::new_v4().simple().to_string();
    secret_display_name_on(label, Utc::now(), &run[..8], replaces)
}

/// [`secret_display_name_replacing`] for a given day and run id.
pub fn secret_display_name_on(
    label: &str,
    when: DateTime<Utc>,
    run: &str,
    replaces: &[String],
) -> String {
    let mut name = format!(
        "{}{} {RUN_TOKEN}{run}",
        secret_display_name_prefix(label),
        when.format("%Y-%m-%d")
    );
    if !replaces.is_empty() {
        name.push_str(&format!(" {REPLACES_TOKEN}{}", replaces.join(",")));
    }
    name
}

/// The part of [`secret_display_name`] before the date.
pub fn secret_display_name_prefix(label: &str) -> String {
    format!("{SECRET_DISPLAY_NAME_PREFIX}{label} ")
}

/// What the display name of a secret this tool made says (see [`SECRET_DISPLAY_NAME_PREFIX`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSecretName<'a> {
    /// `<cluster>/<realm>`.
    pub label: &'a str,
    /// `YYYY-MM-DD`, the day it was made.
    pub date: &'a str,
    /// The keyIds it replaced (empty for names without `replaces:`, e.g. older versions').
    pub replaces: Vec<&'a str>,
}

/// Read a display name written by [`secret_display_name_on`] (or by older versions, which
/// wrote `msgraph-keystore <label> <YYYY-MM-DD>`); `None` for any other name. Parsed from the
/// right, so a label may contain spaces.
pub fn parse_secret_display_name(name: &str) -> Option<ToolSecretName<'_>> {
    let mut rest = name.strip_prefix(SECRET_DISPLAY_NAME_PREFIX)?;
    let mut replaces = Vec::new();
    loop {
        let (head, last) = rest.rsplit_once(' ')?;
        if let Some(ids) = last.strip_prefix(REPLACES_TOKEN) {
            replaces = ids.split(',').filter(|id| !id.is_empty()).collect();
        } else if !last.starts_with(RUN_TOKEN) {
            let is_date = last.len() == 10
                && last.char_indices().all(|(i, c)| {
                    if i == 4 || i == 7 {
                        c == '-'
                    } else {
                        c.is_ascii_digit()
                    }
                });
            return (is_date && !head.is_empty()).then_some(ToolSecretName {
                label: head,
                date: last,
                replaces,
            });
        }
        rest = head;
    }
}

/// Whether a display name is that of a client secret this tool created for `label`: the one
/// test of "tool-made for this label" (`status`, `rotate --finish`, `setup`'s warning).
pub fn is_tool_secret_name_for(display_name: Option<&str>, label: &str) -> bool {
    display_name
        .and_then(parse_secret_display_name)
        .is_some_and(|n| n.label == label)
}

/// Whether `credential` is a client secret this tool created for `label`.
pub fn is_tool_secret_for(credential: &PasswordCredential, label: &str) -> bool {
    is_tool_secret_name_for(credential.display_name.as_deref(), label)
}

/// Whether `credential` is a client secret this tool created (for any label).
pub fn is_tool_secret(credential: &PasswordCredential) -> bool {
    credential
        .display_name
        .as_deref()
        .and_then(parse_secret_display_name)
        .is_some()
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
    fn secret_names_carry_label_date_run_and_predecessors_and_are_recognised() {
        let when = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
        let name = secret_display_name_on("prod/microsoft_graph1", when, "0a1b2c3d", &[]);
        assert_eq!(
            name,
            "msgraph-keystore prod/microsoft_graph1 2026-11-26 run:0a1b2c3d"
        );
        let cred = |n: &str| PasswordCredential {
            key_id: "k".into(),
            display_name: Some(n.into()),
            start_date_time: None,
            end_date_time: None,
            hint: None,
        };
        assert!(is_tool_secret_for(&cred(&name), "prod/microsoft_graph1"));
        assert!(!is_tool_secret_for(&cred(&name), "prod/microsoft_graph"));
        assert!(!is_tool_secret_for(&cred(&name), "microsoft_graph1"));
        assert!(!is_tool_secret_for(
            &cred("Password friendly name"),
            "prod/microsoft_graph1"
        ));
        assert!(!is_tool_secret(&cred("msgraph-keystore prod/x")));
        assert!(!is_tool_secret(&cred("msgraph-keystore 2026-11-26")));

        let replacing = secret_display_name_on(
            "my cluster/microsoft_graph1",
            when,
            "ffffffff",
            &["k1".to_string(), "k2".to_string()],
        );
        let parsed = parse_secret_display_name(&replacing).unwrap();
        assert_eq!(parsed.label, "my cluster/microsoft_graph1");
        assert_eq!(parsed.date, "2026-11-26");
        assert_eq!(parsed.replaces, ["k1", "k2"]);
        // Names older versions wrote are still the tool's.
        let legacy = parse_secret_display_name("msgraph-keystore prod/g1 2026-01-02").unwrap();
        assert_eq!((legacy.label, legacy.replaces.len()), ("prod/g1", 0));
        // Two runs on the same day never share a display name.
        assert_ne!(
            secret_display_name("prod/g1"),
            secret_display_name("prod/g1")
        );
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

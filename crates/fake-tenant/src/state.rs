//! The tenant's directory: applications, service principals, app-role assignments, users and
//! groups, with the per-object counters that simulate replication. Pure data and rules, no
//! HTTP: the route handlers lock it, call in, and render what comes back.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::catalog::{self, GRAPH_APP_ID, MICROSOFT_TENANT_ID};
use super::faults::Faults;
use super::issued::IssuedLog;
use super::jwt::Signer;
use super::secret_text;
use super::{
    AppSnapshot, AssignmentSnapshot, PasswordSnapshot, ServicePrincipalSnapshot, TenantSnapshot,
};

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Graph's timestamp format (`2024-02-22T16:48:09Z`).
pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One client secret of an application.
pub(crate) struct Password {
    pub key_id: String,
    pub display_name: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub hint: String,
    pub digest: [u8; 32],
    /// Token requests with this secret still to refuse (secret replication).
    pub token_refusals_left: u32,
}

impl Password {
    fn to_json(&self) -> Value {
        json!({
            "customKeyIdentifier": null,
            "displayName": self.display_name,
            "endDateTime": fmt_time(self.end),
            "hint": self.hint,
            "keyId": self.key_id,
            "secretText": null,
            "startDateTime": fmt_time(self.start),
        })
    }
}

pub(crate) struct App {
    pub id: String,
    pub app_id: String,
    /// Every Graph property except `passwordCredentials`, which is rendered from `passwords`.
    pub doc: Map<String, Value>,
    pub passwords: Vec<Password>,
    /// Reads still to answer 404 (replication).
    pub pending_reads: u32,
    /// Accepts any client assertion at the token endpoint (a configured federated credential).
    pub accepts_assertions: bool,
}

impl App {
    pub fn display_name(&self) -> &str {
        self.doc
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> Value {
        let mut doc = self.doc.clone();
        doc.insert(
            "passwordCredentials".into(),
            Value::Array(self.passwords.iter().map(Password::to_json).collect()),
        );
        Value::Object(doc)
    }
}

pub(crate) struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub doc: Map<String, Value>,
    pub pending_reads: u32,
    /// `appRoleAssignedTo` POSTs naming this SP still to refuse with "Not a valid reference update."
    pub pending_bad_references: u32,
    /// Token requests still to refuse with AADSTS7000229 (the login service has not seen
    /// this new SP yet).
    pub token_refusals_left: u32,
    /// User and membership reads by this SP still to answer 403 after a grant made through
    /// Graph (the grant has not reached Graph's authorization yet).
    pub forbidden_reads_left: u32,
}

impl ServicePrincipal {
    pub fn display_name(&self) -> &str {
        self.doc
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> Value {
        Value::Object(self.doc.clone())
    }

    /// Whether `role_id` is one of this SP's app roles that applications may be granted.
    pub fn offers_app_role(&self, role_id: &str) -> bool {
        self.doc
            .get("appRoles")
            .and_then(Value::as_array)
            .is_some_and(|roles| {
                roles.iter().any(|r| {
                    r.get("id").and_then(Value::as_str) == Some(role_id)
                        && r.get("allowedMemberTypes")
                            .and_then(Value::as_array)
                            .is_some_and(|t| t.iter().any(|t| t == "Application"))
                })
            })
    }

    fn role_value(&self, role_id: &str) -> Option<String> {
        self.doc
            .get("appRoles")?
            .as_array()?
            .iter()
            .find(|r| r.get("id").and_then(Value::as_str) == Some(role_id))?
            .get("value")?
            .as_str()
            .map(str::to_owned)
    }
}

pub(crate) struct Assignment {
    pub id: String,
    pub principal_id: String,
    pub resource_id: String,
    pub app_role_id: String,
    pub created: DateTime<Utc>,
    pub principal_display_name: String,
    pub resource_display_name: String,
    /// Tokens still to issue without this grant (it has not reached the token service).
    pub pending_tokens: u32,
}

impl Assignment {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "deletedDateTime": null,
            "appRoleId": self.app_role_id,
            "createdDateTime": fmt_time(self.created),
            "principalDisplayName": self.principal_display_name,
            "principalId": self.principal_id,
            "principalType": "ServicePrincipal",
            "resourceDisplayName": self.resource_display_name,
            "resourceId": self.resource_id,
        })
    }
}

pub(crate) struct User {
    pub id: String,
    pub doc: Value,
}

pub(crate) struct Group {
    pub id: String,
    pub doc: Value,
    pub user_members: Vec<String>,
    pub group_members: Vec<String>,
}

/// Everything the fake tenant knows.
pub(crate) struct TenantState {
    pub tenant_id: String,
    pub domain: String,
    pub signer: Signer,
    pub faults: Faults,
    /// Graph requests since start or the last `set_faults` (drives the fault schedule).
    pub fault_seq: u64,
    pub graph_requests: u64,
    pub token_requests: u64,
    pub apps: Vec<App>,
    pub sps: Vec<ServicePrincipal>,
    pub assignments: Vec<Assignment>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub graph_sp_id: String,
    pub admin_app_id: String,
    /// Id of the app-management policy named in lifetime rejections.
    pub policy_id: String,
    /// Tokens and secret values handed out, for leak tests.
    pub issued: IssuedLog,
    /// `METHOD /path` of Graph requests carried out whose answer was then dropped
    /// (`drop_after_processing`), oldest first, at most `LOST_ANSWERS_KEPT`.
    pub lost_answers: Vec<String>,
    /// Request lines (`GET /v1.0/users/…?…`, as received) of the most recent Graph requests,
    /// oldest first, at most `REQUEST_LOG_KEPT`: what a client really sent.
    pub request_log: std::collections::VecDeque<String>,
}

/// How many Graph request lines are remembered.
pub(crate) const REQUEST_LOG_KEPT: usize = 4096;

/// How many lost answers are remembered (a soak run makes a few dozen requests).
pub(crate) const LOST_ANSWERS_KEPT: usize = 1024;

/// How an object comes to exist: made through Graph just now (subject to the replication
/// knobs) or already there when a test starts (fully replicated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Created,
    Seeded,
}

impl TenantState {
    /// A tenant with Microsoft Graph's service principal, an admin caller app and a small
    /// directory. Returns the state and the admin's client secret.
    pub fn new(tenant_id: String, faults: Faults) -> (TenantState, Zeroizing<String>) {
        let domain = format!(
            "fake{}.onmicrosoft.com",
            tenant_id.get(..8).unwrap_or("tenant")
        );
        let mut st = TenantState {
            tenant_id,
            domain,
            signer: Signer::random(),
            faults,
            fault_seq: 0,
            graph_requests: 0,
            token_requests: 0,
            apps: Vec::new(),
            sps: Vec::new(),
            assignments: Vec::new(),
            users: Vec::new(),
            groups: Vec::new(),
            graph_sp_id: String::new(),
            admin_app_id: String::new(),
            policy_id: new_id(),
            issued: IssuedLog::default(),
            lost_answers: Vec::new(),
            request_log: std::collections::VecDeque::new(),
        };
        st.graph_sp_id = st.seed_graph_service_principal();
        st.seed_directory();
        st.seed_extra_groups();

        let admin = st.create_app("msgraph-keystore fake-tenant admin", None, Origin::Seeded);
        st.apps[admin].accepts_assertions = true;
        st.apps[admin]
            .doc
            .insert("notes".into(), json!("The caller the fake tenant hands out: may create apps, add secrets and grant admin consent."));
        let admin_app_id = st.apps[admin].app_id.clone();
        let admin_sp = st.create_service_principal(&admin_app_id, None, Origin::Seeded);
        let graph_sp_id = st.graph_sp_id.clone();
        for value in catalog::ADMIN_ROLE_VALUES {
            if let Some(role) = catalog::graph_role_by_value(value) {
                st.assign(&admin_sp, &graph_sp_id, role.id);
            }
        }
        let now = Utc::now();
        let (_, secret) = st.add_password(
            admin,
            Some("fake-tenant admin".into()),
            now,
            now + chrono::Duration::days(365),
            Origin::Seeded,
        );
        st.admin_app_id = admin_app_id;
        (st, secret)
    }

    fn seed_graph_service_principal(&mut self) -> String {
        let id = new_id();
        let doc = json!({
            "id": id,
            "deletedDateTime": null,
            "accountEnabled": true,
            "appDisplayName": "Microsoft Graph",
            "appId": GRAPH_APP_ID,
            "applicationTemplateId": null,
            "appOwnerOrganizationId": MICROSOFT_TENANT_ID,
            "appRoleAssignmentRequired": false,
            "displayName": "Microsoft Graph",
            "servicePrincipalNames": [GRAPH_APP_ID, "https://graph.microsoft.com"],
            "servicePrincipalType": "Application",
            "tags": [],
            "appRoles": catalog::graph_app_roles_json(),
            "oauth2PermissionScopes": [],
            "keyCredentials": [],
            "passwordCredentials": [],
        });
        self.sps.push(ServicePrincipal {
            id: id.clone(),
            app_id: GRAPH_APP_ID.to_string(),
            doc: into_map(doc),
            pending_reads: 0,
            pending_bad_references: 0,
            token_refusals_left: 0,
            forbidden_reads_left: 0,
        });
        id
    }

    fn seed_directory(&mut self) {
        for (name, nick) in catalog::SEED_USERS {
            self.add_user(name, nick);
        }
        let group_ids: Vec<String> = catalog::SEED_GROUPS
            .iter()
            .map(|(name, _, _)| self.add_group(name))
            .collect();
        for (i, (_, users, nested)) in catalog::SEED_GROUPS.iter().enumerate() {
            for nick in *users {
                let upn = format!("{nick}@{}", self.domain);
                if let Some(user) = self.user_id_by_upn(&upn) {
                    self.add_user_to_group(&group_ids[i], &user);
                }
            }
            for j in *nested {
                if let Some(member) = group_ids.get(*j) {
                    self.add_group_to_group(&group_ids[i], member);
                }
            }
        }
    }

    /// The replication counters a new object gets.
    fn pending(&self, origin: Origin) -> (u32, u32) {
        match origin {
            Origin::Created => (
                self.faults.replication_reads,
                self.faults.not_valid_reference,
            ),
            Origin::Seeded => (0, 0),
        }
    }

    /// Create an application; with `template`, shaped like one made from the non-gallery
    /// template (the portal's "Create your own application"). Returns its index.
    pub fn create_app(
        &mut self,
        display_name: &str,
        template: Option<&str>,
        origin: Origin,
    ) -> usize {
        let id = new_id();
        let app_id = new_id();
        let now = fmt_time(Utc::now());
        let custom_sso = template.is_some();
        let (app_roles, scopes) = if custom_sso {
            custom_sso_roles_and_scopes(display_name)
        } else {
            (json!([]), json!([]))
        };
        let doc = json!({
            "id": id,
            "deletedDateTime": null,
            "appId": app_id,
            "applicationTemplateId": template,
            "createdDateTime": now,
            "displayName": display_name,
            "description": null,
            "notes": null,
            "groupMembershipClaims": null,
            "identifierUris": [],
            "isDeviceOnlyAuthSupported": null,
            "isFallbackPublicClient": if custom_sso { json!(false) } else { json!(null) },
            "publisherDomain": self.domain,
            "serviceManagementReference": null,
            "signInAudience": "AzureADMyOrg",
            "tags": [],
            "tokenEncryptionKeyId": null,
            "uniqueName": null,
            "defaultRedirectUri": null,
            "samlMetadataUrl": null,
            "optionalClaims": null,
            "addIns": [],
            "api": {
                "acceptMappedClaims": null,
                "knownClientApplications": [],
                "requestedAccessTokenVersion": null,
                "oauth2PermissionScopes": scopes,
                "preAuthorizedApplications": [],
            },
            "appRoles": app_roles,
            "info": {
                "logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null,
                "supportUrl": null, "termsOfServiceUrl": null,
            },
            "keyCredentials": [],
            "parentalControlSettings": { "countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow" },
            "publicClient": { "redirectUris": [] },
            "requiredResourceAccess": [],
            "spa": { "redirectUris": [] },
            "web": {
                "homePageUrl": if custom_sso { json!(CUSTOM_SSO_HOME) } else { json!(null) },
                "logoutUrl": null,
                "redirectUris": [],
                "implicitGrantSettings": { "enableAccessTokenIssuance": false, "enableIdTokenIssuance": false },
            },
        });
        let (pending_reads, _) = self.pending(origin);
        self.apps.push(App {
            id,
            app_id,
            doc: into_map(doc),
            passwords: Vec::new(),
            pending_reads,
            accepts_assertions: false,
        });
        self.apps.len() - 1
    }

    /// Create the service principal of application `app_id`. Returns its object id.
    pub fn create_service_principal(
        &mut self,
        app_id: &str,
        template: Option<&str>,
        origin: Origin,
    ) -> String {
        let id = new_id();
        let app = self.apps.iter().find(|a| a.app_id == app_id);
        let display_name = app
            .map(|a| a.display_name().to_string())
            .unwrap_or_default();
        let app_roles = app
            .and_then(|a| a.doc.get("appRoles").cloned())
            .unwrap_or_else(|| json!([]));
        let scopes = app
            .and_then(|a| a.doc.get("api"))
            .and_then(|api| api.get("oauth2PermissionScopes").cloned())
            .unwrap_or_else(|| json!([]));
        let custom_sso = template.is_some();
        let tags = if custom_sso {
            json!([
                "WindowsAzureActiveDirectoryCustomSingleSignOnApplication",
                "WindowsAzureActiveDirectoryIntegratedApp"
            ])
        } else {
            json!([])
        };
        let doc = json!({
            "id": id,
            "deletedDateTime": null,
            "accountEnabled": true,
            "alternativeNames": [],
            "appDisplayName": display_name,
            "appDescription": null,
            "appId": app_id,
            "applicationTemplateId": template,
            "appOwnerOrganizationId": self.tenant_id,
            "appRoleAssignmentRequired": custom_sso,
            "description": null,
            "displayName": display_name,
            "homepage": if custom_sso { json!(CUSTOM_SSO_HOME) } else { json!(null) },
            "loginUrl": null,
            "logoutUrl": null,
            "notes": null,
            "notificationEmailAddresses": [],
            "preferredSingleSignOnMode": null,
            "preferredTokenSigningKeyThumbprint": null,
            "replyUrls": [],
            "servicePrincipalNames": [app_id],
            "servicePrincipalType": "Application",
            "signInAudience": "AzureADMyOrg",
            "tags": tags,
            "tokenEncryptionKeyId": null,
            "samlSingleSignOnSettings": null,
            "addIns": [],
            "appRoles": app_roles,
            "info": {
                "logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null,
                "supportUrl": null, "termsOfServiceUrl": null,
            },
            "keyCredentials": [],
            "oauth2PermissionScopes": scopes,
            "passwordCredentials": [],
            "verifiedPublisher": { "displayName": null, "verifiedPublisherId": null, "addedDateTime": null },
        });
        let (pending_reads, pending_bad_references) = self.pending(origin);
        let token_refusals_left = match origin {
            Origin::Created => self.faults.sp_replication_failures,
            Origin::Seeded => 0,
        };
        self.sps.push(ServicePrincipal {
            id: id.clone(),
            app_id: app_id.to_string(),
            doc: into_map(doc),
            pending_reads,
            pending_bad_references,
            token_refusals_left,
            forbidden_reads_left: 0,
        });
        id
    }

    /// Add a client secret to `apps[app]`; returns its JSON (with `secretText`) and the secret.
    pub fn add_password(
        &mut self,
        app: usize,
        display_name: Option<String>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        origin: Origin,
    ) -> (Value, Zeroizing<String>) {
        let secret = secret_text::generate();
        let refusals = match origin {
            Origin::Created => self.faults.secret_replication_failures,
            Origin::Seeded => 0,
        };
        let password = Password {
            key_id: new_id(),
            display_name,
            start,
            end,
            hint: secret_text::hint(&secret),
            digest: secret_text::digest(&secret),
            token_refusals_left: refusals,
        };
        let mut body = password.to_json();
        body["secretText"] = json!(secret.as_str());
        self.issued.secret(&secret);
        self.apps[app].passwords.push(password);
        (body, secret)
    }

    /// Record an app-role assignment (no checks: callers validate first).
    pub fn assign(&mut self, principal_id: &str, resource_id: &str, app_role_id: &str) -> usize {
        use base64::Engine;
        let name_of = |id: &str| {
            self.sps
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.display_name().to_string())
                .unwrap_or_default()
        };
        let mut raw = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut raw);
        let assignment = Assignment {
            // Real assignment ids are 43-character base64url strings.
            id: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw),
            principal_id: principal_id.to_string(),
            resource_id: resource_id.to_string(),
            app_role_id: app_role_id.to_string(),
            created: Utc::now(),
            principal_display_name: name_of(principal_id),
            resource_display_name: name_of(resource_id),
            pending_tokens: 0,
        };
        self.assignments.push(assignment);
        self.assignments.len() - 1
    }

    pub fn app_index(&self, id: &str) -> Option<usize> {
        self.apps.iter().position(|a| a.id.eq_ignore_ascii_case(id))
    }

    pub fn app_index_by_app_id(&self, app_id: &str) -> Option<usize> {
        self.apps
            .iter()
            .position(|a| a.app_id.eq_ignore_ascii_case(app_id))
    }

    pub fn sp_index(&self, id: &str) -> Option<usize> {
        self.sps.iter().position(|s| s.id.eq_ignore_ascii_case(id))
    }

    pub fn sp_index_by_app_id(&self, app_id: &str) -> Option<usize> {
        self.sps
            .iter()
            .position(|s| s.app_id.eq_ignore_ascii_case(app_id))
    }

    /// Whether the app is visible to this read; a read of a not-yet-replicated app uses up one
    /// of its pending reads and sees nothing.
    pub fn read_app(&mut self, idx: usize) -> bool {
        consume(&mut self.apps[idx].pending_reads)
    }

    pub fn read_sp(&mut self, idx: usize) -> bool {
        consume(&mut self.sps[idx].pending_reads)
    }

    /// Values of the Graph app roles granted to service principal `sp_id`.
    /// The Graph roles a token issued now carries for `sp_id`: grants that have not reached
    /// the token service yet (`grant_replication_tokens`) are left out, once per token.
    pub fn token_roles_of(&mut self, sp_id: &str) -> Vec<String> {
        let graph = self.graph_sp_id.clone();
        let mut held_back = Vec::new();
        for a in &mut self.assignments {
            if a.principal_id == sp_id && a.resource_id == graph && a.pending_tokens > 0 {
                a.pending_tokens -= 1;
                held_back.push(a.app_role_id.clone());
            }
        }
        let Some(graph_sp) = self.sp_index(&graph).map(|i| &self.sps[i]) else {
            return Vec::new();
        };
        let held: Vec<String> = held_back
            .iter()
            .filter_map(|id| graph_sp.role_value(id))
            .collect();
        self.graph_roles_of(sp_id)
            .into_iter()
            .filter(|r| !held.contains(r))
            .collect()
    }

    pub fn graph_roles_of(&self, sp_id: &str) -> Vec<String> {
        let Some(graph) = self.sp_index(&self.graph_sp_id).map(|i| &self.sps[i]) else {
            return Vec::new();
        };
        let mut roles: Vec<String> = self
            .assignments
            .iter()
            .filter(|a| a.principal_id == sp_id && a.resource_id == graph.id)
            .filter_map(|a| graph.role_value(&a.app_role_id))
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// Delete application `idx`, its service principal and that SP's assignments.
    pub fn delete_app(&mut self, idx: usize) {
        let app = self.apps.remove(idx);
        if let Some(sp) = self.sp_index_by_app_id(&app.app_id) {
            self.delete_sp(sp);
        }
    }

    /// Delete service principal `idx` and every assignment it takes part in.
    pub fn delete_sp(&mut self, idx: usize) {
        let sp = self.sps.remove(idx);
        self.assignments
            .retain(|a| a.principal_id != sp.id && a.resource_id != sp.id);
    }

    /// Groups `user_id` belongs to, directly or through nested groups.
    pub fn transitive_groups(&self, user_id: &str) -> Vec<&Group> {
        let mut member_of: Vec<&str> = Vec::new();
        let mut frontier: Vec<&str> = self
            .groups
            .iter()
            .filter(|g| g.user_members.iter().any(|u| u == user_id))
            .map(|g| g.id.as_str())
            .collect();
        while let Some(gid) = frontier.pop() {
            if member_of.contains(&gid) {
                continue;
            }
            member_of.push(gid);
            frontier.extend(
                self.groups
                    .iter()
                    .filter(|g| g.group_members.iter().any(|m| m == gid))
                    .map(|g| g.id.as_str()),
            );
        }
        self.groups
            .iter()
            .filter(|g| member_of.contains(&g.id.as_str()))
            .collect()
    }

    pub fn snapshot(&self) -> TenantSnapshot {
        TenantSnapshot {
            tenant_id: self.tenant_id.clone(),
            applications: self
                .apps
                .iter()
                .map(|a| AppSnapshot {
                    id: a.id.clone(),
                    app_id: a.app_id.clone(),
                    display_name: a.display_name().to_string(),
                    tags: a
                        .doc
                        .get("tags")
                        .and_then(Value::as_array)
                        .map(|t| {
                            t.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                    notes: a
                        .doc
                        .get("notes")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    required_resource_access: a
                        .doc
                        .get("requiredResourceAccess")
                        .cloned()
                        .unwrap_or_else(|| json!([])),
                    password_credentials: a
                        .passwords
                        .iter()
                        .map(|p| PasswordSnapshot {
                            key_id: p.key_id.clone(),
                            display_name: p.display_name.clone(),
                            start_date_time: p.start,
                            end_date_time: p.end,
                            hint: p.hint.clone(),
                        })
                        .collect(),
                })
                .collect(),
            service_principals: self
                .sps
                .iter()
                .map(|s| ServicePrincipalSnapshot {
                    id: s.id.clone(),
                    app_id: s.app_id.clone(),
                    display_name: s.display_name().to_string(),
                    app_owner_organization_id: s
                        .doc
                        .get("appOwnerOrganizationId")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                })
                .collect(),
            app_role_assignments: self
                .assignments
                .iter()
                .map(|a| AssignmentSnapshot {
                    id: a.id.clone(),
                    principal_id: a.principal_id.clone(),
                    resource_id: a.resource_id.clone(),
                    app_role_id: a.app_role_id.clone(),
                })
                .collect(),
            graph_sp_id: self.graph_sp_id.clone(),
            admin_app_id: self.admin_app_id.clone(),
            request_count: self.graph_requests,
            token_request_count: self.token_requests,
        }
    }
}

const CUSTOM_SSO_HOME: &str = "https://account.activedirectory.windowsazure.com:444/applications/default.aspx?metadata=customappsso|ISV9.1|primary|z";

/// The `User` / `msiam_access` roles and `user_impersonation` scope every custom-SSO app gets.
fn custom_sso_roles_and_scopes(display_name: &str) -> (Value, Value) {
    let roles = json!([
        { "allowedMemberTypes": ["User"], "displayName": "User", "id": new_id(), "isEnabled": true,
          "description": "User", "value": null, "origin": "Application" },
        { "allowedMemberTypes": ["User"], "displayName": "msiam_access", "id": new_id(), "isEnabled": true,
          "description": "msiam_access", "value": null, "origin": "Application" },
    ]);
    let scopes = json!([{
        "adminConsentDescription": format!("Allow the application to access {display_name} on behalf of the signed-in user."),
        "adminConsentDisplayName": format!("Access {display_name}"),
        "id": new_id(),
        "isEnabled": true,
        "type": "User",
        "userConsentDescription": format!("Allow the application to access {display_name} on your behalf."),
        "userConsentDisplayName": format!("Access {display_name}"),
        "value": "user_impersonation",
    }]);
    (roles, scopes)
}

fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn consume(pending: &mut u32) -> bool {
    if *pending > 0 {
        *pending -= 1;
        false
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_tenant_has_graph_an_admin_and_a_directory() {
        let (st, secret) = TenantState::new(new_id(), Faults::default());
        assert_eq!(secret.len(), 40);
        let graph = st.sp_index(&st.graph_sp_id).map(|i| &st.sps[i]);
        assert_eq!(graph.map(|g| g.app_id.as_str()), Some(GRAPH_APP_ID));
        let admin_sp = st
            .sp_index_by_app_id(&st.admin_app_id)
            .map(|i| st.sps[i].id.clone());
        let roles = st.graph_roles_of(&admin_sp.unwrap_or_default());
        assert_eq!(
            roles,
            vec![
                "AppRoleAssignment.ReadWrite.All",
                "Application.Read.All",
                "Application.ReadWrite.All"
            ]
        );
        assert_eq!(st.users.len(), 4);
        // Ada is in Elastic Admins directly and in Engineering through it.
        let ada = &st.users[0].id;
        let mut names: Vec<&str> = st
            .transitive_groups(ada)
            .iter()
            .filter_map(|g| g.doc["displayName"].as_str())
            .collect();
        names.sort();
        assert_eq!(names, vec!["Elastic Admins", "Engineering"]);
    }

    #[test]
    fn created_objects_hide_for_their_replication_reads() {
        let faults = Faults {
            replication_reads: 2,
            not_valid_reference: 1,
            ..Faults::default()
        };
        let (mut st, _) = TenantState::new(new_id(), faults);
        let app = st.create_app("x", None, Origin::Created);
        assert!(!st.read_app(app));
        assert!(!st.read_app(app));
        assert!(st.read_app(app));
        let seeded = st.create_app("y", None, Origin::Seeded);
        assert!(st.read_app(seeded));
        let app_id = st.apps[app].app_id.clone();
        let sp = st.create_service_principal(&app_id, None, Origin::Created);
        let idx = st.sp_index(&sp).unwrap_or(usize::MAX);
        assert_eq!(st.sps[idx].pending_bad_references, 1);
        st.delete_app(app);
        assert!(st.sp_index(&sp).is_none());
    }
}

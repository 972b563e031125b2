//! An in-process, stateful fake Entra ID tenant: the v2.0 token endpoint and the Microsoft
//! Graph v1.0 calls that provisioning and the realm make, with realistic bodies, errors and
//! fault knobs (throttling, outages, dropped connections, replication delays, consent and
//! policy refusals, paging). Tests start one per case on `127.0.0.1:0`; the
//! `msgraph-keystore fake-tenant` command runs one standalone. `docs/fake-tenant.md`
//! describes what is simulated and what is not.
//!
//! It hands admin credentials to anyone who asks its token endpoint, so it only ever binds a
//! loopback address: [`FakeTenant::start_on`] refuses any other before it binds. It is its own
//! crate so that `msgraph-keystore` built with `--no-default-features` (no `demo`) contains no
//! server; it must never depend on `msgraph-keystore`, which it tests.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fake_tenant::{FakeTenant, FakeTenantConfig};
//! let tenant = FakeTenant::start(FakeTenantConfig::default()).await?;
//! let admin = tenant.admin(); // may create apps, add secrets and grant consent
//! println!("token: {}/{}/oauth2/v2.0/token", tenant.access_token_host(), admin.tenant_id);
//! println!("graph: {}", tenant.graph_host());
//! tenant.shutdown().await;
//! # Ok(()) }
//! ```

mod app_routes;
mod catalog;
mod directory;
mod faults;
mod grant_routes;
mod graph_routes;
mod group_routes;
mod issued;
mod jwt;
mod listener;
mod lookup;
mod odata;
mod org_routes;
mod patch;
mod reply;
mod request;
mod secret_text;
mod server;
mod sp_routes;
mod state;
mod tls;
mod token;
mod user_routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use secrecy::SecretString;

pub use catalog::{
    GraphRole, ADMIN_ROLE_VALUES, GRAPH_APP_ID, GRAPH_ROLES, NON_GALLERY_TEMPLATE_IDS,
};
pub use faults::Faults;
pub use jwt::{decode_unverified as decode_token_claims, Claims as TokenClaims};
pub use tls::{TestPki, TlsIdentity, LOOPBACK_NAMES};

use listener::{ConnHandle, FaultListener};
use server::Shared;
use state::{Origin, TenantState};

/// How to start a fake tenant.
#[derive(Debug, Clone, Default)]
pub struct FakeTenantConfig {
    pub faults: Faults,
    /// The tenant's id (a GUID); a random one when `None`.
    pub tenant_id: Option<String>,
}

/// Client-credentials for a caller application of the fake tenant.
#[derive(Debug, Clone)]
pub struct FakeCredentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

/// An application (with its service principal) put in the tenant by a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededApp {
    /// Object id of the application.
    pub id: String,
    /// Client id.
    pub app_id: String,
    /// Object id of its service principal.
    pub sp_id: String,
}

/// A copy of the tenant's directory at one moment, for assertions.
#[derive(Debug, Clone)]
pub struct TenantSnapshot {
    pub tenant_id: String,
    /// Every application, including the admin caller's (`admin_app_id`) and seeded ones.
    pub applications: Vec<AppSnapshot>,
    /// Every service principal, including Microsoft Graph's (`graph_sp_id`) and the admin's.
    pub service_principals: Vec<ServicePrincipalSnapshot>,
    pub app_role_assignments: Vec<AssignmentSnapshot>,
    /// Object id of the Microsoft Graph service principal (the `resourceId` of consent).
    pub graph_sp_id: String,
    /// Client id of the admin caller application.
    pub admin_app_id: String,
    /// Graph requests received, including those answered with an injected fault.
    pub request_count: u64,
    /// Token endpoint requests received.
    pub token_request_count: u64,
}

#[derive(Debug, Clone)]
pub struct AppSnapshot {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub required_resource_access: Value,
    pub password_credentials: Vec<PasswordSnapshot>,
}

#[derive(Debug, Clone)]
pub struct PasswordSnapshot {
    pub key_id: String,
    pub display_name: Option<String>,
    pub start_date_time: DateTime<Utc>,
    pub end_date_time: DateTime<Utc>,
    pub hint: String,
}

#[derive(Debug, Clone)]
pub struct ServicePrincipalSnapshot {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
    pub app_owner_organization_id: String,
}

#[derive(Debug, Clone)]
pub struct AssignmentSnapshot {
    pub id: String,
    pub principal_id: String,
    pub resource_id: String,
    pub app_role_id: String,
}

impl TenantSnapshot {
    /// Applications whose display name is exactly `name`.
    pub fn applications_named(&self, name: &str) -> Vec<&AppSnapshot> {
        self.applications
            .iter()
            .filter(|a| a.display_name == name)
            .collect()
    }

    /// The service principal of application `app_id` (client id).
    pub fn service_principal_of(&self, app_id: &str) -> Option<&ServicePrincipalSnapshot> {
        self.service_principals
            .iter()
            .find(|s| s.app_id.eq_ignore_ascii_case(app_id))
    }

    /// Values (`User.Read.All`, …) of the Microsoft Graph app roles granted to `sp_id`, sorted.
    pub fn graph_roles_granted_to(&self, sp_id: &str) -> Vec<String> {
        let mut roles: Vec<String> = self
            .app_role_assignments
            .iter()
            .filter(|a| a.principal_id == sp_id && a.resource_id == self.graph_sp_id)
            .filter_map(|a| {
                GRAPH_ROLES
                    .iter()
                    .find(|r| r.id.eq_ignore_ascii_case(&a.app_role_id))
            })
            .map(|r| r.value.to_string())
            .collect();
        roles.sort();
        roles
    }
}

/// A running fake tenant. Dropping it stops the server; `shutdown` does so gracefully.
pub struct FakeTenant {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tenant_id: String,
    admin: FakeCredentials,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTenant")
            .field("addr", &self.addr)
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

impl FakeTenant {
    /// Start on `127.0.0.1` with a free port, serving plain http.
    pub async fn start(config: FakeTenantConfig) -> std::io::Result<FakeTenant> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Start on `127.0.0.1` with a free port, serving HTTPS with `identity` (e.g.
    /// [`TestPki::generate`]'s server identity): the hosts become `https://127.0.0.1:PORT`.
    pub async fn start_tls(
        config: FakeTenantConfig,
        identity: &TlsIdentity,
    ) -> std::io::Result<FakeTenant> {
        Self::launch(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
            Some(identity),
        )
        .await
    }

    /// Start on `addr`, serving plain http. Fails with `InvalidInput` if `addr` is not a
    /// loopback address or `tenant_id` is not a GUID, and as binding fails otherwise.
    pub async fn start_on(
        addr: SocketAddr,
        config: FakeTenantConfig,
    ) -> std::io::Result<FakeTenant> {
        Self::launch(addr, config, None).await
    }

    /// Start on `addr`, serving HTTPS with `identity`. Fails as [`FakeTenant::start_on`]
    /// does, and with `InvalidInput` if the certificate chain or key cannot be used.
    pub async fn start_on_tls(
        addr: SocketAddr,
        config: FakeTenantConfig,
        identity: &TlsIdentity,
    ) -> std::io::Result<FakeTenant> {
        Self::launch(addr, config, Some(identity)).await
    }

    async fn launch(
        addr: SocketAddr,
        config: FakeTenantConfig,
        tls: Option<&TlsIdentity>,
    ) -> std::io::Result<FakeTenant> {
        // The tenant hands admin credentials to anyone who asks its token endpoint: refuse
        // here, where it binds, so no caller of the library can expose it by mistake.
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{addr} is not a loopback address; the fake tenant hands out admin credentials to anyone who can reach it, so it only listens on 127.0.0.1 or [::1]"
                ),
            ));
        }
        let tenant_id = match config.tenant_id {
            Some(t) => uuid::Uuid::parse_str(t.trim())
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("tenant id `{t}` is not a GUID"),
                    )
                })?
                .to_string(),
            None => state::new_id(),
        };
        // Check the identity before binding, so a bad certificate fails without a port.
        let tls_config = tls.map(TlsIdentity::server_config).transpose()?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (scheme, listener) = match tls_config {
            Some(config) => ("https", FaultListener::tls(listener, config)?),
            None => ("http", FaultListener::plain(listener)?),
        };
        let (state, mut admin_secret) = TenantState::new(tenant_id.clone(), config.faults);
        let admin = FakeCredentials {
            tenant_id: tenant_id.clone(),
            client_id: state.admin_app_id.clone(),
            client_secret: SecretString::from(std::mem::take(&mut *admin_secret)),
        };
        let shared = Arc::new(Shared::new(state, format!("{scheme}://{addr}")));
        let app =
            server::router(shared.clone()).into_make_service_with_connect_info::<ConnHandle>();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!("fake tenant server stopped: {e}");
            }
        });
        Ok(FakeTenant {
            shared,
            addr,
            tenant_id,
            admin,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The realm's `access_token_host`: `http://127.0.0.1:PORT` (`https://` when started
    /// with TLS).
    pub fn access_token_host(&self) -> String {
        self.shared.host.clone()
    }

    /// The realm's `graph_host`: `http://127.0.0.1:PORT/v1.0` (`https://` with TLS).
    pub fn graph_host(&self) -> String {
        format!("{}/v1.0", self.shared.host)
    }

    /// The token endpoint: `{access_token_host}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.shared.host, self.tenant_id)
    }

    pub fn tenant_id(&self) -> String {
        self.tenant_id.clone()
    }

    /// Credentials of the built-in caller, granted `Application.ReadWrite.All`,
    /// `AppRoleAssignment.ReadWrite.All` and `Application.Read.All`. It also accepts any
    /// client assertion (workload identity).
    pub fn admin(&self) -> FakeCredentials {
        self.admin.clone()
    }

    /// The fault knobs in force.
    pub fn faults(&self) -> Faults {
        self.shared.lock().faults.clone()
    }

    /// Change the fault knobs. The periodic schedules restart: the next Graph request is
    /// request 1. Replication counters apply to objects created from now on.
    pub fn set_faults(&self, faults: Faults) {
        let mut st = self.shared.lock();
        st.faults = faults;
        st.fault_seq = 0;
    }

    /// Graph requests received so far (faulted ones included): the same number as
    /// `snapshot().request_count`, without copying the directory, for tests that poll it.
    pub fn request_count(&self) -> u64 {
        self.shared.lock().graph_requests
    }

    pub fn snapshot(&self) -> TenantSnapshot {
        self.shared.lock().snapshot()
    }

    /// Put an application and its service principal in the tenant, fully replicated, as if
    /// created long ago (for idempotency and ambiguous-name tests).
    pub fn seed_application(&self, display_name: &str, tags: &[&str]) -> SeededApp {
        let mut st = self.shared.lock();
        let idx = st.create_app(display_name, None, Origin::Seeded);
        st.apps[idx].doc.insert("tags".into(), json!(tags));
        let app_id = st.apps[idx].app_id.clone();
        let id = st.apps[idx].id.clone();
        let sp_id = st.create_service_principal(&app_id, None, Origin::Seeded);
        SeededApp { id, app_id, sp_id }
    }

    /// Add a client secret expiring in `days` (negative: already expired) to the application
    /// with client id (or object id) `app_id`, usable at once at the token endpoint.
    ///
    /// # Panics
    /// If no such application exists: that is a mistake in the calling test.
    pub fn add_secret(&self, app_id: &str, days: i64) -> FakeCredentials {
        let mut st = self.shared.lock();
        let idx = st
            .app_index_by_app_id(app_id)
            .or_else(|| st.app_index(app_id))
            .unwrap_or_else(|| panic!("fake tenant: no application with id or appId {app_id}"));
        let now = Utc::now();
        let end = now + chrono::Duration::days(days);
        let start = if days > 0 {
            now
        } else {
            end - chrono::Duration::days(30)
        };
        let (_, mut secret) = st.add_password(
            idx,
            Some(format!("added by test, {days} days")),
            start,
            end,
            Origin::Seeded,
        );
        FakeCredentials {
            tenant_id: st.tenant_id.clone(),
            client_id: st.apps[idx].app_id.clone(),
            client_secret: SecretString::from(std::mem::take(&mut *secret)),
        }
    }

    /// Grant Microsoft Graph app roles (by value, e.g. `User.Read.All`) to service principal
    /// `principal_sp_id`, as an admin consent would. Unknown values and existing grants are
    /// skipped.
    pub fn grant_graph_app_roles(&self, principal_sp_id: &str, values: &[&str]) {
        let mut st = self.shared.lock();
        let graph = st.graph_sp_id.clone();
        for value in values {
            let Some(role) = catalog::graph_role_by_value(value) else {
                continue;
            };
            let exists = st.assignments.iter().any(|a| {
                a.principal_id == principal_sp_id
                    && a.resource_id == graph
                    && a.app_role_id == role.id
            });
            if !exists {
                st.assign(principal_sp_id, &graph, role.id);
            }
        }
    }

    /// Remove every app-role assignment held by `principal_sp_id` (withdraw consent).
    pub fn revoke_app_role_assignments(&self, principal_sp_id: &str) {
        self.shared
            .lock()
            .assignments
            .retain(|a| !a.principal_id.eq_ignore_ascii_case(principal_sp_id));
    }

    /// Let the application with client id `app_id` sign in with any client assertion
    /// (a configured federated credential, for workload-identity tests).
    ///
    /// # Panics
    /// If no such application exists.
    pub fn allow_client_assertions(&self, app_id: &str) {
        let mut st = self.shared.lock();
        let idx = st
            .app_index_by_app_id(app_id)
            .unwrap_or_else(|| panic!("fake tenant: no application with appId {app_id}"));
        st.apps[idx].accepts_assertions = true;
    }

    /// `METHOD /path` (path after `/v1.0`) of every Graph request the tenant carried out but
    /// whose answer it dropped (`drop_after_processing`), oldest first (at most 1,024):
    /// what a client cannot know happened.
    pub fn lost_answers(&self) -> Vec<String> {
        self.shared.lock().lost_answers.clone()
    }

    /// Every access token this tenant issued (the most recent 1,024), for tests that check
    /// a command's output and logs never show one.
    pub fn issued_tokens(&self) -> Vec<SecretString> {
        let st = self.shared.lock();
        st.issued
            .tokens()
            .map(|t| SecretString::from(t.to_string()))
            .collect()
    }

    /// Every client secret value this tenant handed out (the admin's, `add_secret`'s, and
    /// each `addPassword` / `POST /applications` answer's; the most recent 1,024), for leak
    /// tests.
    pub fn issued_secrets(&self) -> Vec<SecretString> {
        let st = self.shared.lock();
        st.issued
            .secrets()
            .map(|t| SecretString::from(t.to_string()))
            .collect()
    }

    /// The tenant's DNS domain (`fake1234abcd.onmicrosoft.com`): users' UPNs end in it.
    pub fn domain(&self) -> String {
        self.shared.lock().domain.clone()
    }

    /// Add a user `display_name` with UPN `nick@{domain}`; returns (object id, UPN).
    pub fn add_user(&self, display_name: &str, nick: &str) -> (String, String) {
        let mut st = self.shared.lock();
        let id = st.add_user(display_name, nick);
        let upn = format!("{nick}@{}", st.domain);
        (id, upn)
    }

    /// Add a security group `display_name` (display names need not be unique); returns its id.
    pub fn add_group(&self, display_name: &str) -> String {
        self.shared.lock().add_group(display_name)
    }

    /// Make user `user_id` a member of group `group_id`, or group `member_id` a member of
    /// group `group_id` (whichever the id names).
    ///
    /// # Panics
    /// If either id is unknown: that is a mistake in the calling test.
    pub fn add_member(&self, group_id: &str, member_id: &str) {
        let mut st = self.shared.lock();
        if !(st.add_user_to_group(group_id, member_id)
            || st.add_group_to_group(group_id, member_id))
        {
            panic!("fake tenant: no group {group_id} or no user/group {member_id}");
        }
    }

    /// A user `nick` who is a direct member of `count` new groups named `{prefix} 1` …
    /// (for paging through a long `transitiveMemberOf`). Returns (user id, UPN, group ids in
    /// creation order).
    pub fn add_user_with_groups(
        &self,
        display_name: &str,
        nick: &str,
        prefix: &str,
        count: usize,
    ) -> (String, String, Vec<String>) {
        let (user, upn) = self.add_user(display_name, nick);
        let mut st = self.shared.lock();
        let groups: Vec<String> = (1..=count)
            .map(|i| {
                let g = st.add_group(&format!("{prefix} {i}"));
                st.add_user_to_group(&g, &user);
                g
            })
            .collect();
        (user, upn, groups)
    }

    /// The object id of the user with UPN `upn` (seeded users are `ada`, `grace`, `alan` and
    /// `edsger` at [`FakeTenant::domain`]).
    pub fn user_id(&self, upn: &str) -> Option<String> {
        self.shared.lock().user_id_by_upn(upn)
    }

    /// The request lines (`GET /v1.0/users/…?…`, exactly as received) of the most recent
    /// Graph requests (at most 4,096), oldest first.
    pub fn graph_request_lines(&self) -> Vec<String> {
        self.shared.lock().request_log.iter().cloned().collect()
    }

    /// Forget the recorded request lines.
    pub fn clear_graph_request_lines(&self) {
        self.shared.lock().request_log.clear();
    }

    /// Stop accepting connections, let in-flight requests finish (at most 5 s), and stop.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for FakeTenant {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

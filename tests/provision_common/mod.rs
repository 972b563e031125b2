//! Shared set-up for the provisioning and Graph tests: a fake tenant, a Graph client signed
//! in as its admin app with millisecond retry pacing, and a progress sink that records.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_tenant::{FakeTenant, FakeTenantConfig, Faults, TenantSnapshot};
use msgraph_keystore::auth::{ClientSecretSource, TokenSource};
use msgraph_keystore::cloud::{Cloud, Endpoints};
use msgraph_keystore::graph::{GraphClient, RetryPolicy};
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::provision::{Progress, ProvisionOptions};
use msgraph_keystore::secret::SecretString;

pub const APP_NAME: &str = "es-graph-test";

/// Start a fake tenant with `faults`.
pub async fn tenant(faults: Faults) -> FakeTenant {
    FakeTenant::start(FakeTenantConfig {
        faults,
        tenant_id: None,
    })
    .await
    .expect("start the fake tenant")
}

/// Faults whose `Retry-After` is short, so throttling tests take milliseconds.
pub fn quick_faults() -> Faults {
    Faults {
        retry_after_secs: 0.02,
        ..Faults::default()
    }
}

/// Endpoints of `tenant` (global cloud scope and template).
pub fn endpoints(tenant: &FakeTenant) -> Endpoints {
    let mut e = Cloud::Global.endpoints();
    e.access_token_host = tenant.access_token_host();
    e.graph_host = tenant.graph_host();
    e
}

pub fn http() -> reqwest::Client {
    build_client(&HttpOptions {
        request_timeout: Duration::from_secs(10),
        ..HttpOptions::default()
    })
    .expect("http client")
}

/// A token source for an app of `tenant` with `secret`.
pub fn token_source(
    tenant: &FakeTenant,
    client_id: &str,
    secret: SecretString,
) -> Arc<dyn TokenSource> {
    Arc::new(
        ClientSecretSource::new(
            http(),
            &tenant.access_token_host(),
            &tenant.tenant_id(),
            client_id,
            secret,
        )
        .expect("token source"),
    )
}

/// Millisecond pacing: the retry logic is the same, only the waits are short.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        consistent_reads: 3,
        consistent_read_interval: Duration::from_millis(2),
    }
}

/// A Graph client signed in as the tenant's admin app, with a 60 s deadline.
pub fn admin_graph(tenant: &FakeTenant) -> GraphClient {
    graph_with_deadline(tenant, Duration::from_secs(60))
}

pub fn graph_with_deadline(tenant: &FakeTenant, timeout: Duration) -> GraphClient {
    let admin = tenant.admin();
    let tokens = token_source(tenant, &admin.client_id, admin.client_secret);
    GraphClient::new(
        http(),
        tokens,
        &tenant.graph_host(),
        &Cloud::Global.endpoints().scope,
        Instant::now() + timeout,
    )
    .expect("graph client")
    .with_retry_policy(fast_policy())
}

/// Options for the test app name against `tenant`.
pub fn options(tenant: &FakeTenant) -> ProvisionOptions {
    ProvisionOptions::for_endpoints(&endpoints(tenant)).with_app_name(APP_NAME)
}

/// Progress that remembers every step line.
#[derive(Default)]
pub struct Recorder {
    pub steps: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn lines(&self) -> Vec<String> {
        self.steps.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Progress for Recorder {
    fn step(&self, message: &str) {
        if let Ok(mut s) = self.steps.lock() {
            s.push(message.to_string());
        }
    }
    fn waiting(&self, _message: &str) {}
    fn done_waiting(&self) {}
}

/// The tenant's state about the test application: (apps named APP_NAME, their service
/// principals, Graph roles granted to them, password count).
pub struct AppState {
    pub apps: usize,
    pub sps: usize,
    pub roles: Vec<String>,
    pub passwords: usize,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub required_resource_access: serde_json::Value,
    pub app_id: Option<String>,
}

pub fn app_state(snap: &TenantSnapshot) -> AppState {
    let apps = snap.applications_named(APP_NAME);
    let first = apps.first();
    let sps: Vec<_> = apps
        .iter()
        .filter_map(|a| snap.service_principal_of(&a.app_id))
        .collect();
    let mut roles: Vec<String> = sps
        .iter()
        .flat_map(|sp| snap.graph_roles_granted_to(&sp.id))
        .collect();
    roles.sort();
    AppState {
        apps: apps.len(),
        sps: sps.len(),
        roles,
        passwords: apps.iter().map(|a| a.password_credentials.len()).sum(),
        tags: first.map(|a| a.tags.clone()).unwrap_or_default(),
        notes: first.and_then(|a| a.notes.clone()),
        required_resource_access: first
            .map(|a| a.required_resource_access.clone())
            .unwrap_or_default(),
        app_id: first.map(|a| a.app_id.clone()),
    }
}

pub fn default_roles() -> Vec<String> {
    let mut v: Vec<String> = [
        "Directory.ReadWrite.All",
        "Group.ReadWrite.All",
        "User.Read.All",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.sort();
    v
}

/// Assert the tenant holds exactly one fully provisioned test application.
pub fn assert_converged(snap: &TenantSnapshot) -> AppState {
    let s = app_state(snap);
    assert_eq!(s.apps, 1, "exactly one application");
    assert_eq!(s.sps, 1, "exactly one service principal");
    assert_eq!(s.roles, default_roles(), "the three Graph roles");
    assert!(
        s.tags
            .iter()
            .any(|t| t == &format!("msgraph-keystore:{APP_NAME}")),
        "marker tag in {:?}",
        s.tags
    );
    let rra = s.required_resource_access.to_string();
    for id in [
        "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
        "62a82d76-70ea-41e2-9197-370581804d09",
        "df021288-bdef-4463-88db-98f22de89214",
    ] {
        assert!(rra.contains(id), "{id} declared in {rra}");
    }
    s
}

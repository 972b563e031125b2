//! How many round trips the happy path costs (issue 5 item 7).
//!
//! - `setup` (the real binary) into an empty config dir, then again: at most 8 *sequential*
//!   round trips each (token requests included), measured as the dependency depth of the
//!   request timeline a recording proxy sees (see `benches/setup/trace_proxy.rs`). The fake
//!   tenant adds 150 ms to every answer so that requests sent together always overlap and
//!   dependent ones never do; the bound holds however slow the machine is, as long as no
//!   request is held up for 150 ms before it is sent.
//! - `provision` (the library): exact request counts, so a change that adds a call shows.
//!
//! The wall-time figures (50 ms latency, wall time vs depth × 50 ms) are in the benchmark,
//! `cargo bench --bench setup`, not here: timing assertions flake on a loaded machine.

#[path = "../benches/setup/trace_proxy.rs"]
mod trace_proxy;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use fake_tenant::{FakeTenant, FakeTenantConfig, Faults};
use msgraph_keystore::auth::ClientSecretSource;
use msgraph_keystore::cloud::Cloud;
use msgraph_keystore::graph::{GraphClient, RetryPolicy};
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::provision::{provision, AddSecret, NoProgress, ProvisionOptions};
use msgraph_keystore::secret::ExposeSecret;
use trace_proxy::{critical_path, sequential_depth, TraceProxy};

/// The goal for `setup` on the happy path.
const MAX_SEQUENTIAL_ROUND_TRIPS: usize = 8;
/// Large next to scheduling noise, small enough to keep the test short.
const LATENCY: Duration = Duration::from_millis(150);

async fn tenant(faults: Faults) -> FakeTenant {
    match FakeTenant::start(FakeTenantConfig {
        faults,
        tenant_id: None,
    })
    .await
    {
        Ok(t) => t,
        Err(e) => panic!("cannot start the fake tenant: {e}"),
    }
}

/// `setup --config DIR` against the tenant through `proxy`, as the tenant's admin.
async fn run_setup(tenant: &FakeTenant, proxy: &TraceProxy, dir: &Path) -> Output {
    let admin = tenant.admin();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"));
    cmd.args(["setup", "--config"])
        .arg(dir)
        .args([
            "--realm",
            "microsoft_graph1",
            "--auth",
            "client-secret",
            "--access-token-host",
            proxy.origin(),
            "--graph-host",
            &format!("{}/v1.0", proxy.origin()),
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("AZURE_TENANT_ID", &admin.tenant_id)
        .env("AZURE_CLIENT_ID", &admin.client_id)
        .env("AZURE_CLIENT_SECRET", admin.client_secret.expose_secret());
    match tokio::task::spawn_blocking(move || cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("cannot run msgraph-keystore: {e}"),
        Err(e) => panic!("the setup thread failed: {e}"),
    }
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run `setup` and return (sequential round trips, token requests, Graph requests).
async fn measured_setup(
    tenant: &FakeTenant,
    proxy: &TraceProxy,
    dir: &Path,
    what: &str,
) -> (usize, u64, u64) {
    let before = tenant.snapshot();
    let out = run_setup(tenant, proxy, dir).await;
    assert_success(&out, what);
    let spans = proxy.take();
    let after = tenant.snapshot();
    let depth = sequential_depth(&spans);
    assert!(
        depth <= MAX_SEQUENTIAL_ROUND_TRIPS,
        "{what}: {depth} sequential round trips, more than {MAX_SEQUENTIAL_ROUND_TRIPS}: {:#?}",
        critical_path(&spans)
    );
    let tokens = after.token_request_count - before.token_request_count;
    let graph = after.request_count - before.request_count;
    assert_eq!(
        spans.len() as u64,
        tokens + graph,
        "{what}: every request went through the proxy"
    );
    (depth, tokens, graph)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_needs_at_most_eight_sequential_round_trips_first_time_and_again() {
    let tenant = tenant(Faults {
        latency: LATENCY,
        ..Faults::default()
    })
    .await;
    let proxy = match TraceProxy::start(&tenant.access_token_host()).await {
        Ok(p) => p,
        Err(e) => panic!("cannot start the proxy: {e}"),
    };
    let scratch = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temp dir: {e}"),
    };

    // Empty tenant, empty config dir: create, configure, grant, add a secret, write, verify.
    let (depth, tokens, graph) =
        measured_setup(&tenant, &proxy, scratch.path(), "first setup").await;
    // The admin's token and the realm's (verify); Graph: 3 look-ups, instantiate, 6
    // confirming reads, 1 PATCH, 3 grants, addPassword, and verify's 2 reads.
    assert_eq!(tokens, 2, "token requests of the first setup");
    assert_eq!(graph, 17, "Graph requests of the first setup");
    assert!(depth >= 5, "the timeline shows the waits: {depth}");

    // The same again: everything is found in place, the configured secret still works.
    let (depth, tokens, graph) = measured_setup(&tenant, &proxy, scratch.path(), "re-run").await;
    // The configured secret's check, the admin's token, verify's token.
    assert_eq!(tokens, 3, "token requests of the re-run");
    // The app and its service principal by the configured client_id and Graph's service
    // principal, the granted roles, and verify's 2 reads.
    assert_eq!(graph, 6, "Graph requests of the re-run");
    assert!(depth <= 7, "sequential round trips of the re-run: {depth}");
}

fn graph_client(tenant: &FakeTenant) -> GraphClient {
    let admin = tenant.admin();
    let http = match build_client(&HttpOptions::default()) {
        Ok(h) => h,
        Err(e) => panic!("http client: {e}"),
    };
    let tokens = match ClientSecretSource::new(
        http.clone(),
        &tenant.access_token_host(),
        &admin.tenant_id,
        &admin.client_id,
        admin.client_secret,
    ) {
        Ok(t) => t,
        Err(e) => panic!("token source: {e}"),
    };
    let graph = GraphClient::new(
        http,
        std::sync::Arc::new(tokens),
        &tenant.graph_host(),
        &Cloud::Global.endpoints().scope,
        std::time::Instant::now() + Duration::from_secs(60),
    );
    match graph {
        Ok(g) => g.with_retry_policy(RetryPolicy {
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(40),
            ..RetryPolicy::default()
        }),
        Err(e) => panic!("graph client: {e}"),
    }
}

#[tokio::test]
async fn provision_request_counts_first_time_and_again() {
    let tenant = tenant(Faults::default()).await;
    let graph = graph_client(&tenant);
    let mut endpoints = Cloud::Global.endpoints();
    endpoints.access_token_host = tenant.access_token_host();
    endpoints.graph_host = tenant.graph_host();
    let mut opts = ProvisionOptions::for_endpoints(&endpoints).with_app_name("roundtrips");
    opts.add_secret = AddSecret::IfNone;

    let counts = |t: &FakeTenant| {
        let s = t.snapshot();
        (s.token_request_count, s.request_count)
    };
    let before = counts(&tenant);
    if let Err(e) = provision(&graph, &opts, &NoProgress).await {
        panic!("first run: {e}");
    }
    let first = counts(&tenant);
    // Look-ups by tag and by name and Graph's service principal; instantiate; 3 + 3
    // confirming reads of the new app and service principal; one PATCH (tag, notes,
    // permissions); 3 grants; addPassword.
    assert_eq!(
        (first.0 - before.0, first.1 - before.1),
        (1, 15),
        "(token, Graph) requests of a first run"
    );

    if let Err(e) = provision(&graph, &opts, &NoProgress).await {
        panic!("second run: {e}");
    }
    let second = counts(&tenant);
    // The same 3 look-ups, the service principal by appId, its granted roles; the token
    // is cached.
    assert_eq!(
        (second.0 - first.0, second.1 - first.1),
        (0, 5),
        "(token, Graph) requests of a re-run"
    );

    opts.configured_client_id = tenant
        .snapshot()
        .applications_named("roundtrips")
        .first()
        .map(|a| a.app_id.clone());
    if let Err(e) = provision(&graph, &opts, &NoProgress).await {
        panic!("run with a configured client_id: {e}");
    }
    let third = counts(&tenant);
    // By appId: the app, its service principal and Graph's at once, then the granted roles.
    assert_eq!(
        (third.0 - second.0, third.1 - second.1),
        (0, 4),
        "(token, Graph) requests of a run with the client_id known"
    );
}

#[test]
fn sequential_depth_counts_the_longest_chain_of_requests_that_waited_for_each_other() {
    let t0 = std::time::Instant::now();
    let span = |start: u64, end: u64| trace_proxy::Span {
        method: "GET".into(),
        path: "/".into(),
        start: t0 + Duration::from_millis(start),
        end: t0 + Duration::from_millis(end),
    };
    // token; three look-ups at once; one write; two reads at once, one of them slow.
    let spans = [
        span(0, 50),
        span(51, 100),
        span(52, 101),
        span(51, 103),
        span(104, 150),
        span(151, 200),
        span(151, 260),
    ];
    assert_eq!(sequential_depth(&spans), 4);
    assert_eq!(
        critical_path(&spans).len(),
        4,
        "one request per sequential round trip"
    );
    assert_eq!(sequential_depth(&[]), 0);
    // Back to back, without overlap: each waited for the one before.
    assert_eq!(
        sequential_depth(&[span(0, 10), span(11, 20), span(21, 30)]),
        3
    );
}

//! Nothing a server sends can crash us (issue 8, item 7): absurd `Retry-After` values,
//! token lifetimes, device-code intervals, `expires_on` and JWT `exp` must give a token or a
//! clear error, never a panic, an overflow or a wait past the deadline.
//!
//! The reproduction from the issue: `fake-tenant --throttle-every 1 --retry-after 1e19`, then
//! `provision` against it, panicked with "overflow when adding duration to instant" (exit 101).

mod auth_support;

use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use assert_cmd::Command;
use auth_support::*;
use axum::http::HeaderValue;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use fake_tenant::{FakeTenant, FakeTenantConfig, Faults};
use msgraph_keystore::auth::{
    jwt, AuthError, AzureCliSource, ClientSecretSource, DeviceCodeSource, StaticTokenSource,
    TokenSource,
};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::graph::{GraphClient, GraphError};
use msgraph_keystore::secret::{secret_string, ExposeSecret};
use serde_json::json;

/// Longest lifetime a token may be given from one answer; anything longer was clamped.
const DAY: Duration = Duration::from_secs(24 * 3600);

async fn fake_tenant(faults: Faults) -> FakeTenant {
    FakeTenant::start(FakeTenantConfig {
        faults,
        tenant_id: None,
    })
    .await
    .expect("start the fake tenant")
}

/// `provision` as a user runs it against `tenant`, with a 60 s deadline.
async fn provision(tenant: &FakeTenant) -> (Output, Duration) {
    let admin = tenant.admin();
    let dir = tempfile::tempdir().expect("tmp");
    let secret_file = dir.path().join("client-secret");
    let mut cmd = Command::cargo_bin("msgraph-keystore").expect("binary");
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("AZURE_TENANT_ID", &admin.tenant_id)
        .env("AZURE_CLIENT_ID", &admin.client_id)
        .env("AZURE_CLIENT_SECRET", admin.client_secret.expose_secret())
        .args([
            "provision",
            "--app-name",
            "es-server-numbers",
            "--secret-file",
        ])
        .arg(&secret_file)
        .args([
            "--auth",
            "client-secret",
            "--access-token-host",
            &tenant.access_token_host(),
            "--graph-host",
            &tenant.graph_host(),
            "--timeout",
            "60s",
        ])
        .write_stdin("")
        .timeout(Duration::from_secs(90));
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run the binary");
    assert!(!secret_file.exists(), "no secret file after a failed run");
    (out, started.elapsed())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One `ERROR: …, with exit code 75` line that says the wait asked for is past the deadline.
fn assert_gave_up_on_the_wait(out: &Output, took: Duration) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(out.status.code(), Some(75), "stderr: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ERROR:")).collect();
    assert_eq!(errors.len(), 1, "one ERROR line: {stderr}");
    let line = errors[0];
    assert!(line.ends_with("with exit code 75"), "{line}");
    assert!(line.contains("Retry-After"), "names the header: {line}");
    assert!(line.contains("--timeout"), "names the deadline: {line}");
    // It gives up at once instead of waiting until the 60 s deadline.
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_gives_up_at_once_when_graph_asks_for_a_1e19_second_wait() {
    let tenant = fake_tenant(Faults {
        throttle_every: Some(1),
        retry_after_secs: 1e19,
        ..Faults::default()
    })
    .await;
    let (out, took) = provision(&tenant).await;
    assert_gave_up_on_the_wait(&out, took);
    assert!(
        text(&out.stderr).contains("more than 24 h"),
        "says how long it was asked to wait: {}",
        text(&out.stderr)
    );
    tenant.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_gives_up_at_once_on_a_retry_after_date_past_the_deadline() {
    // The fake tenant sends the date now + 1 day.
    let tenant = fake_tenant(Faults {
        throttle_every: Some(1),
        retry_after_secs: 1e19,
        retry_after_http_date: true,
        ..Faults::default()
    })
    .await;
    let (out, took) = provision(&tenant).await;
    assert_gave_up_on_the_wait(&out, took);
    tenant.shutdown().await;
}

/// A Graph root on 127.0.0.1 whose every answer is 429 with the given `Retry-After`.
async fn throttling_graph(retry_after: &'static str) -> String {
    let router = Router::new().fallback(get(move || async move {
        let mut r = (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            r#"{"error":{"code":"TooManyRequests","message":"Please retry again later."}}"#,
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(retry_after) {
            r.headers_mut().insert("retry-after", v);
        }
        r
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}/v1.0")
}

/// A token source that never asks anyone.
struct Fixed;

#[async_trait::async_trait]
impl TokenSource for Fixed {
    fn describe(&self) -> String {
        "fixed".into()
    }
    async fn token(&self, _scope: &str) -> Result<msgraph_keystore::auth::AccessToken, AuthError> {
        Ok(msgraph_keystore::auth::AccessToken {
            token: secret_string("t"),
            expires_at: None,
        })
    }
}

#[tokio::test]
async fn graph_retry_after_values_of_any_size_or_shape_never_panic_or_oversleep() {
    for value in [
        "1e19",
        "18446744073709551616",
        "18446744073709551615.999999999",
        "1e300",
        "99999999999999999999999999999999999999999999999999999999999999999999",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "inf",
        "NaN",
        "-1",
        "-0",
        "+5",
        "0x10",
        "",
        "soon",
    ] {
        let host = throttling_graph(value).await;
        let graph = GraphClient::new(
            http(),
            Arc::new(Fixed),
            &host,
            SCOPE,
            Instant::now() + Duration::from_millis(400),
        )
        .expect("client")
        .with_retry_policy(msgraph_keystore::graph::RetryPolicy {
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            ..Default::default()
        });
        let started = Instant::now();
        let err = graph.organization().await.expect_err(value);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "Retry-After {value:?}: {:?}",
            started.elapsed()
        );
        assert!(
            matches!(err, GraphError::Deadline { .. }),
            "{value:?}: {err}"
        );
        assert_eq!(err.exit_code(), ExitCode::TempFail, "{value:?}");
    }
}

#[tokio::test]
async fn token_retry_after_past_the_deadline_gives_up_at_once_and_says_why() {
    let server = MockServer::start(vec![
        Reply::raw(429, "").header("Retry-After", "10000000000000000000")
    ])
    .await;
    let source = ClientSecretSource::new(
        http(),
        &server.base,
        TENANT,
        CLIENT,
        secret_string("s3cr3t-value"),
    )
    .expect("source")
    .with_retry(fast_retry());
    let started = Instant::now();
    let err = source.token(SCOPE).await.expect_err("throttled");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.exit_code(), ExitCode::TempFail, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("Retry-After") && msg.contains("more than 24 h"),
        "{msg}"
    );
    assert_eq!(server.requests().len(), 1);
}

/// Token answers whose lifetime fields are huge, negative, fractional, not numbers at all.
fn odd_lifetimes() -> Vec<serde_json::Value> {
    vec![
        json!(1e19),
        json!(u64::MAX),
        json!(1.7e308),
        json!(-1),
        json!(i64::MIN),
        json!(-1e300),
        json!(0.5),
        json!("1e19"),
        json!("18446744073709551616"),
        json!("-3599"),
        json!("soon"),
        json!("NaN"),
        json!("inf"),
        json!(""),
        json!(true),
        json!(null),
        json!([3599]),
        json!({"seconds": 3599}),
    ]
}

#[tokio::test]
async fn token_answers_with_absurd_lifetimes_give_a_bounded_token() {
    for odd in odd_lifetimes() {
        for field in ["expires_in", "expires_on", "ext_expires_in"] {
            let mut body = json!({"token_type": "Bearer", "access_token": "tok"});
            body[field] = odd.clone();
            let server = MockServer::start(vec![Reply::json(200, body)]).await;
            let source = ClientSecretSource::new(
                http(),
                &server.base,
                TENANT,
                CLIENT,
                secret_string("s3cr3t-value"),
            )
            .expect("source")
            .with_retry(fast_retry());
            let t = source
                .token(SCOPE)
                .await
                .unwrap_or_else(|e| panic!("{field}: {odd}: {e}"));
            assert_eq!(t.token.expose_secret(), "tok");
            if let Some(at) = t.expires_at {
                assert!(
                    at <= SystemTime::now() + DAY,
                    "{field}: {odd}: lifetime not bounded: {at:?}"
                );
            }
            // The cache compares the expiry with the clock: still no panic.
            source.token(SCOPE).await.expect("second call");
        }
    }
}

#[tokio::test]
async fn a_device_code_interval_of_1e19_seconds_does_not_hang() {
    // The interval is bounded (60 s) and a poll that would come after the code expired is
    // not waited for: each case ends at once with "expired".
    for (interval, expires_in) in [
        (json!(1e19), json!(1)),
        (json!(u64::MAX), json!("30")),
        (json!("1e300"), json!(2)),
        // Unusable intervals fall back to RFC 8628's 5 s, longer than this code lives.
        (json!(-5), json!(0.5)),
        (json!("soon"), json!(1)),
    ] {
        let server = MockServer::start(vec![
            Reply::json(
                200,
                json!({
                    "user_code": "FXKQ-PLMN",
                    "device_code": "device-code-secret-value",
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": expires_in,
                    "interval": interval,
                }),
            ),
            Reply::json(
                400,
                json!({"error": "authorization_pending", "error_codes": [70016]}),
            ),
        ])
        .await;
        let source = DeviceCodeSource::new(http(), &server.base, TENANT, CLIENT)
            .expect("source")
            .with_prompt(Arc::new(|_: &str| {}))
            .with_retry(fast_retry());
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(20), source.token(SCOPE))
            .await
            .unwrap_or_else(|_| panic!("interval {interval}: still waiting after 20 s"));
        let err = result.expect_err("nobody signs in");
        assert!(
            matches!(err, AuthError::DeviceCodeExpired),
            "interval {interval}, expires_in {expires_in}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[tokio::test]
async fn a_jwt_exp_of_any_size_never_panics() {
    let dir = tempfile::tempdir().expect("tmp");
    for exp in [
        json!(u64::MAX),
        json!(1e19),
        json!(9_223_372_036_854_775_807u64),
        json!(253_402_300_800u64), // year 10000
        json!(1e300),
        json!(-1),
        json!("soon"),
    ] {
        let token = auth_support::jwt(json!({"tid": TENANT, "exp": exp}));
        let _ = jwt::expires_at(&token);
        let path = dir.path().join("token");
        std::fs::write(&path, &token).expect("write");
        let source = StaticTokenSource::new(path.clone());
        match source.token(SCOPE).await {
            Ok(t) => assert_eq!(t.token.expose_secret(), token),
            Err(e) => assert_eq!(e.exit_code(), ExitCode::CredentialsRejected, "{exp}: {e}"),
        }
    }
}

static AZ_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn azure_cli_expiry_of_any_size_never_panics() {
    use std::os::unix::fs::PermissionsExt;
    let _turn = AZ_LOCK.lock().await;
    for exp in [
        "1e19",
        "18446744073709551615",
        "1e300",
        "-1",
        "\"soon\"",
        "\"1e19\"",
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let az = dir.path().join("az");
        std::fs::write(
            &az,
            format!(
                "#!/bin/sh\ncat <<'JSON'\n{{\"accessToken\": \"az-token\", \"expiresOn\": \"99999-01-01 00:00:00.000000\", \"expires_on\": {exp}}}\nJSON\n"
            ),
        )
        .expect("write");
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let source = AzureCliSource::new(az, None).expect("source");
        let t = source
            .token(SCOPE)
            .await
            .unwrap_or_else(|e| panic!("{exp}: {e}"));
        assert_eq!(t.token.expose_secret(), "az-token");
        if let Some(at) = t.expires_at {
            let _ = at.duration_since(SystemTime::UNIX_EPOCH);
        }
        source.token(SCOPE).await.expect("second call");
    }
}

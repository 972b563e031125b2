//! Managed identity, Azure CLI and device code sources, each against a local stand-in:
//! a scripted server on 127.0.0.1, or a fake `az` shell script.

mod auth_support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use auth_support::*;
use msgraph_keystore::auth::{
    AuthError, AzureCliSource, DeviceCodeSource, ManagedIdentitySource, TokenSource,
    AZURE_CLI_CLIENT_ID, DEVICE_CODE_GRANT, IMDS_ENDPOINT_VAR, SLOW_DOWN_STEP,
};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::secret::{secret_string, ExposeSecret};

// ---------------------------------------------------------------- managed identity

#[tokio::test]
async fn app_service_identity_endpoint() {
    let expires_on = now_secs() + 86_000;
    let reply = Reply::json(
        200,
        serde_json::json!({
            "access_token": "mi-app-service",
            "expires_on": expires_on.to_string(),
            "resource": "https://graph.microsoft.com",
            "token_type": "Bearer",
            "client_id": CLIENT,
        }),
    );
    let server = MockServer::start(vec![reply]).await;
    let endpoint = format!("{}/msi/token", server.base);
    let header = "identity-header-value-123";
    let source = ManagedIdentitySource::app_service(http(), &endpoint, secret_string(header), None)
        .unwrap()
        .with_retry(fast_retry());
    let t = source.token(SCOPE).await.unwrap();
    assert_eq!(t.token.expose_secret(), "mi-app-service");
    assert_eq!(
        t.expires_at,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(expires_on))
    );
    // Cached.
    source.token(SCOPE).await.unwrap();

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/msi/token");
    let q = r.query_pairs();
    assert_eq!(q["api-version"], "2019-08-01");
    assert_eq!(q["resource"], "https://graph.microsoft.com");
    assert!(!q.contains_key("client_id"));
    assert_eq!(r.headers["x-identity-header"], header);
    assert!(!source.describe().contains(header));
    assert!(
        source.describe().contains("system-assigned"),
        "{}",
        source.describe()
    );
}

#[tokio::test]
async fn imds_with_string_expires_in_and_user_assigned_client_id() {
    let reply = Reply::json(
        200,
        serde_json::json!({
            "access_token": "mi-imds",
            "client_id": CLIENT,
            "expires_in": "85770",
            "expires_on": "1700000000",
            "ext_expires_in": "86399",
            "not_before": "1699913929",
            "resource": "https://graph.microsoft.com",
            "token_type": "Bearer",
        }),
    );
    // IMDS says 404 while an identity is still being attached; that is retried.
    let server = MockServer::start(vec![Reply::raw(404, "identity not found yet"), reply]).await;
    let source = ManagedIdentitySource::imds(http(), Some(&server.base), Some(CLIENT))
        .unwrap()
        .with_retry(fast_retry());
    let t = source.token(SCOPE).await.unwrap();
    assert_eq!(t.token.expose_secret(), "mi-imds");
    // expires_in (a string here) wins over expires_on.
    let ttl = t
        .expires_at
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        ttl > Duration::from_secs(85_700) && ttl <= Duration::from_secs(85_770),
        "{ttl:?}"
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let r = &reqs[1];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/metadata/identity/oauth2/token");
    let q = r.query_pairs();
    assert_eq!(q["api-version"], "2018-02-01");
    assert_eq!(q["resource"], "https://graph.microsoft.com");
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(r.headers["metadata"], "true");
    assert!(source.describe().contains(CLIENT));
}

#[tokio::test]
async fn imds_errors_and_endpoint_rules() {
    let server = MockServer::start(vec![Reply::json(
        400,
        serde_json::json!({"error": "invalid_request", "error_description": "Identity not found"}),
    )])
    .await;
    let source = ManagedIdentitySource::imds(http(), Some(&server.base), None)
        .unwrap()
        .with_retry(fast_retry());
    let err = source.token(SCOPE).await.unwrap_err();
    assert!(err.to_string().contains("Identity not found"), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Config);

    let e = ManagedIdentitySource::imds(http(), Some("http://imds.example.com"), None)
        .err()
        .unwrap();
    assert!(e.to_string().contains(IMDS_ENDPOINT_VAR), "{e}");
    let e = ManagedIdentitySource::app_service(
        http(),
        "http://10.0.0.4/msi/token",
        secret_string("h"),
        None,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("IDENTITY_ENDPOINT"), "{e}");
    assert!(ManagedIdentitySource::imds(http(), None, None).is_ok());
}

// ---------------------------------------------------------------- Azure CLI

/// Writing an executable and running it while another thread forks can fail with "text file
/// busy"; the `az` tests take turns.
static AZ_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fake `az` that logs its arguments to `args.log` and runs `body`.
fn fake_az(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("args.log");
    let script = format!("#!/bin/sh\necho \"$@\" >> '{}'\n{body}\n", log.display());
    let path = dir.join("az");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn az_calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("args.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn azure_cli_success_and_caching() {
    let _turn = AZ_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let exp = now_secs() + 3000;
    let az = fake_az(
        dir.path(),
        &format!(
            "cat <<'JSON'\n{{\"accessToken\": \"az-token\", \"expiresOn\": \"2030-01-01 00:00:00.000000\", \"expires_on\": {exp}, \"subscription\": \"s\", \"tenant\": \"{TENANT}\", \"tokenType\": \"Bearer\"}}\nJSON"
        ),
    );
    let source = AzureCliSource::new(az, Some(TENANT)).unwrap();
    let t = source.token(SCOPE).await.unwrap();
    assert_eq!(t.token.expose_secret(), "az-token");
    assert_eq!(
        t.expires_at,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(exp))
    );
    source.token(SCOPE).await.unwrap();
    let calls = az_calls(dir.path());
    assert_eq!(
        calls,
        [format!(
            "account get-access-token --scope {SCOPE} -o json --tenant {TENANT}"
        )]
    );
    assert!(
        source.describe().contains("Azure CLI"),
        "{}",
        source.describe()
    );
}

#[tokio::test]
async fn azure_cli_not_logged_in_and_other_failures() {
    let _turn = AZ_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let az = fake_az(
        dir.path(),
        "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1",
    );
    let err = AzureCliSource::new(az, None)
        .unwrap()
        .token(SCOPE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::AzureCliNotLoggedIn { .. }),
        "{err}"
    );
    assert_eq!(err.exit_code(), ExitCode::CredentialsRejected);
    assert!(
        err.to_string()
            .contains("Please run 'az login' to setup account."),
        "{err}"
    );
    assert_eq!(
        az_calls(dir.path()),
        [format!("account get-access-token --scope {SCOPE} -o json")]
    );

    let dir = tempfile::tempdir().unwrap();
    let az = fake_az(
        dir.path(),
        "echo 'ERROR: network is down' >&2\necho 'second line' >&2\nexit 2",
    );
    let err = AzureCliSource::new(az, None)
        .unwrap()
        .token(SCOPE)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    let msg = err.to_string();
    assert!(
        msg.contains("network is down") && !msg.contains("second line"),
        "{msg}"
    );

    let dir = tempfile::tempdir().unwrap();
    let az = fake_az(dir.path(), "echo 'not json at all'");
    let err = AzureCliSource::new(az, None)
        .unwrap()
        .token(SCOPE)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    assert!(!err.to_string().contains("not json at all"), "{err}");
}

#[tokio::test]
async fn azure_cli_missing() {
    let dir = tempfile::tempdir().unwrap();
    let err = AzureCliSource::new(dir.path().join("az"), None)
        .unwrap()
        .token(SCOPE)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::AzureCliNotFound), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    assert!(err.to_string().contains("az login"), "{err}");
}

// ---------------------------------------------------------------- device code

fn device_code_reply(interval: u64, expires_in: u64) -> Reply {
    Reply::json(
        200,
        serde_json::json!({
            "user_code": "FXKQ-PLMN",
            "device_code": "device-code-secret-value",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": expires_in,
            "interval": interval,
            "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code FXKQ-PLMN to authenticate.",
        }),
    )
}

fn pending(error: &str) -> Reply {
    Reply::json(
        400,
        serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS70016: {error}.\r\nTrace ID: t"),
            "error_codes": [70016],
        }),
    )
}

fn captured_prompt() -> (Arc<Mutex<Vec<String>>>, msgraph_keystore::auth::Prompt) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    (
        lines,
        Arc::new(move |text: &str| sink.lock().unwrap().push(text.to_string())),
    )
}

#[tokio::test]
async fn device_code_pending_then_slow_down_then_success() {
    let server = MockServer::start(vec![
        device_code_reply(0, 900),
        pending("authorization_pending"),
        pending("slow_down"),
        token_reply("device-user-token", 3599),
    ])
    .await;
    let (lines, prompt) = captured_prompt();
    let step = Duration::from_millis(300);
    let source = DeviceCodeSource::new(http(), &server.base, "organizations", AZURE_CLI_CLIENT_ID)
        .unwrap()
        .with_prompt(prompt)
        .with_slow_down_step(step)
        .with_retry(fast_retry());
    let started = Instant::now();
    let t = source.token(SCOPE).await.unwrap();
    assert_eq!(t.token.expose_secret(), "device-user-token");
    // After slow_down the interval grew from 0 to one step before the last poll.
    assert!(started.elapsed() >= step, "{:?}", started.elapsed());

    let shown = lines.lock().unwrap().clone();
    assert_eq!(shown.len(), 1);
    assert!(
        shown[0].contains("FXKQ-PLMN") && shown[0].contains("devicelogin"),
        "{shown:?}"
    );
    assert!(!shown[0].contains("device-code-secret-value"));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[0].path, "/organizations/oauth2/v2.0/devicecode");
    assert_eq!(reqs[0].form_keys(), ["client_id", "scope"]);
    assert_eq!(reqs[0].form()["client_id"], AZURE_CLI_CLIENT_ID);
    assert_eq!(reqs[0].form()["scope"], SCOPE);
    for poll in &reqs[1..] {
        assert_eq!(poll.path, "/organizations/oauth2/v2.0/token");
        assert_eq!(poll.form_keys(), ["client_id", "device_code", "grant_type"]);
        assert_eq!(poll.form()["grant_type"], DEVICE_CODE_GRANT);
        assert_eq!(poll.form()["device_code"], "device-code-secret-value");
    }
    assert!(
        source.describe().contains("Azure CLI"),
        "{}",
        source.describe()
    );
    // Cached afterwards: no new sign-in.
    source.token(SCOPE).await.unwrap();
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn device_code_expired_and_declined() {
    let server = MockServer::start(vec![
        device_code_reply(0, 900),
        pending("authorization_pending"),
        pending("expired_token"),
    ])
    .await;
    let (_, prompt) = captured_prompt();
    let source = DeviceCodeSource::new(http(), &server.base, TENANT, CLIENT)
        .unwrap()
        .with_prompt(prompt)
        .with_retry(fast_retry());
    let err = source.token(SCOPE).await.unwrap_err();
    assert!(matches!(err, AuthError::DeviceCodeExpired), "{err}");
    assert_eq!(err.exit_code(), ExitCode::TempFail);
    assert_eq!(
        server.requests()[0].path,
        format!("/{TENANT}/oauth2/v2.0/devicecode")
    );

    let server = MockServer::start(vec![
        device_code_reply(0, 900),
        pending("authorization_declined"),
    ])
    .await;
    let (_, prompt) = captured_prompt();
    let source = DeviceCodeSource::new(http(), &server.base, TENANT, CLIENT)
        .unwrap()
        .with_prompt(prompt)
        .with_retry(fast_retry());
    let err = source.token(SCOPE).await.unwrap_err();
    assert!(matches!(err, AuthError::DeviceCodeDeclined), "{err}");
    assert_eq!(err.exit_code(), ExitCode::CredentialsRejected);

    // The code's own lifetime bounds the polling even if the server keeps saying "pending".
    let server = MockServer::start(vec![
        device_code_reply(1, 1),
        pending("authorization_pending"),
    ])
    .await;
    let (_, prompt) = captured_prompt();
    let source = DeviceCodeSource::new(http(), &server.base, TENANT, CLIENT)
        .unwrap()
        .with_prompt(prompt)
        .with_retry(fast_retry());
    let err = source.token(SCOPE).await.unwrap_err();
    assert!(matches!(err, AuthError::DeviceCodeExpired), "{err}");
}

#[tokio::test]
async fn device_code_with_a_confidential_client_is_refused_clearly() {
    let server = MockServer::start(vec![Reply::json(
        400,
        serde_json::json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.\r\nTrace ID: abc",
            "error_codes": [7000218],
            "trace_id": "abc",
        }),
    )])
    .await;
    let source = DeviceCodeSource::new(http(), &server.base, TENANT, CLIENT)
        .unwrap()
        .with_retry(fast_retry());
    let err = source.token(SCOPE).await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::CredentialsRejected);
    assert!(
        err.to_string().contains("AADSTS7000218") && err.to_string().contains("trace ID abc"),
        "{err}"
    );
}

#[test]
fn slow_down_step_is_five_seconds() {
    // RFC 8628 §3.5.
    assert_eq!(SLOW_DOWN_STEP, Duration::from_secs(5));
}

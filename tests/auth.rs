//! Token layer against a scripted token endpoint on 127.0.0.1: client secret, workload
//! identity, the ready-token file, error classification, retries and endpoint rules.

mod auth_support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use auth_support::*;
use msgraph_keystore::auth::{
    client_credentials_token, client_credentials_token_with, jwt, AuthError, ClientSecretSource,
    RetryPolicy, StaticTokenSource, TokenSource, WorkloadIdentitySource, JWT_BEARER_ASSERTION,
};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::secret::{secret_string, ExposeSecret};

const SECRET: &str = "Zq8~s3cr3t.VALUE_never-printed";

fn secret_source(server: &MockServer) -> ClientSecretSource {
    ClientSecretSource::new(http(), &server.base, TENANT, CLIENT, secret_string(SECRET))
        .unwrap()
        .with_retry(fast_retry())
}

#[tokio::test]
async fn client_secret_sends_exactly_the_client_credentials_form() {
    let server = MockServer::start(vec![token_reply("tok-1", 3599)]).await;
    let source = secret_source(&server);
    let t = source.token(SCOPE).await.unwrap();
    assert_eq!(t.token.expose_secret(), "tok-1");
    let ttl = t
        .expires_at
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        ttl > Duration::from_secs(3500) && ttl <= Duration::from_secs(3599),
        "{ttl:?}"
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        r.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        r.form_keys(),
        ["client_id", "client_secret", "grant_type", "scope"]
    );
    let form = r.form();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], CLIENT);
    assert_eq!(form["client_secret"], SECRET);
    assert_eq!(form["scope"], SCOPE);

    let d = source.describe();
    assert!(d.contains(CLIENT) && d.contains(TENANT), "{d}");
    assert!(!d.contains(SECRET));
}

#[tokio::test]
async fn a_token_is_cached_until_shortly_before_it_expires() {
    let server =
        MockServer::start(vec![token_reply("tok-1", 3599), token_reply("tok-2", 3599)]).await;
    let source = secret_source(&server);
    let a = source.token(SCOPE).await.unwrap();
    let b = source.token(SCOPE).await.unwrap();
    assert_eq!(a.token.expose_secret(), "tok-1");
    assert_eq!(b.token.expose_secret(), "tok-1");
    assert_eq!(
        server.requests().len(),
        1,
        "the second call must not ask again"
    );

    // Another scope is another token.
    let c = source
        .token("https://graph.microsoft.us/.default")
        .await
        .unwrap();
    assert_eq!(c.token.expose_secret(), "tok-2");
    assert_eq!(server.requests().len(), 2);

    // A token that lives less than the refresh margin is never reused.
    let server = MockServer::start(vec![
        token_reply("short-1", 120),
        token_reply("short-2", 120),
    ])
    .await;
    let source = secret_source(&server);
    source.token(SCOPE).await.unwrap();
    let again = source.token(SCOPE).await.unwrap();
    assert_eq!(again.token.expose_secret(), "short-2");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn client_credentials_token_is_the_realms_request() {
    let server = MockServer::start(vec![token_reply("realm-tok", 3599)]).await;
    let t = client_credentials_token(
        &http(),
        &format!("{}/", server.base),
        TENANT,
        CLIENT,
        &secret_string(SECRET),
        SCOPE,
    )
    .await
    .unwrap();
    assert_eq!(t.token.expose_secret(), "realm-tok");
    let r = &server.requests()[0];
    assert_eq!(r.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(r.form()["grant_type"], "client_credentials");
    assert_eq!(r.form()["client_secret"], SECRET);
}

/// Each AADSTS code the brief names, with the exit code and replication flag it must give.
#[tokio::test]
async fn token_endpoint_errors_are_classified() {
    struct Row {
        status: u16,
        error: &'static str,
        code: u32,
        text: &'static str,
        exit: ExitCode,
        replication: bool,
    }
    let rows = [
        Row { status: 401, error: "invalid_client", code: 7000215, text: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.", exit: ExitCode::CredentialsRejected, replication: true },
        Row { status: 401, error: "invalid_client", code: 7000222, text: "The provided client secret keys for app '11111111' are expired.", exit: ExitCode::CredentialsRejected, replication: true },
        Row { status: 400, error: "unauthorized_client", code: 700016, text: "Application with identifier '11111111' was not found in the directory 'Contoso'.", exit: ExitCode::CredentialsRejected, replication: true },
        Row { status: 400, error: "invalid_request", code: 90002, text: "Tenant '72f988bf' not found.", exit: ExitCode::Config, replication: false },
        Row { status: 400, error: "invalid_scope", code: 1002012, text: "The provided value for scope is not valid.", exit: ExitCode::Config, replication: false },
    ];
    for row in rows {
        let server =
            MockServer::start(vec![oauth_error(row.status, row.error, row.code, row.text)]).await;
        let err = secret_source(&server).token(SCOPE).await.unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.exit_code(), row.exit, "AADSTS{}: {msg}", row.code);
        assert_eq!(
            err.is_secret_not_yet_replicated(),
            row.replication,
            "AADSTS{}",
            row.code
        );
        assert_eq!(err.aadsts(), Some(row.code));
        assert!(msg.contains(&format!("AADSTS{}", row.code)), "{msg}");
        assert!(msg.contains(row.error), "{msg}");
        assert!(msg.contains("trace ID 0b1f-trace"), "{msg}");
        assert!(msg.contains("correlation ID 9c2e-corr"), "{msg}");
        assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg:?}");
        assert!(
            !msg.contains("Timestamp"),
            "only the first line of the description: {msg}"
        );
        assert!(!msg.contains(SECRET), "{msg}");
        assert!(!format!("{err:?}").contains(SECRET));
    }
}

#[tokio::test]
async fn a_secret_echoed_by_the_server_is_redacted() {
    let echo = oauth_error(
        401,
        "invalid_client",
        7000215,
        &format!("Invalid client secret '{SECRET}' provided."),
    );
    let server = MockServer::start(vec![echo]).await;
    let err = secret_source(&server).token(SCOPE).await.unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains(SECRET), "{msg}");
    assert!(msg.contains("[REDACTED]"), "{msg}");
    assert!(!format!("{err:?}").contains(SECRET));
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let throttled = Reply::json(429, serde_json::json!({"error": "temporarily_unavailable"}))
        .header("Retry-After", "0.4");
    let server = MockServer::start(vec![throttled, token_reply("after-wait", 3599)]).await;
    let started = Instant::now();
    let t = secret_source(&server).token(SCOPE).await.unwrap();
    assert_eq!(t.token.expose_secret(), "after-wait");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let busy = Reply::raw(503, "busy").header("Retry-After", &when);
    let server = MockServer::start(vec![busy, token_reply("after-date", 3599)]).await;
    let started = Instant::now();
    let t = secret_source(&server).token(SCOPE).await.unwrap();
    assert_eq!(t.token.expose_secret(), "after-date");
    // HTTP dates have whole-second precision.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn server_errors_without_retry_after_back_off_and_retry() {
    let server = MockServer::start(vec![
        Reply::raw(500, "oops"),
        Reply::raw(502, "bad gateway"),
        token_reply("third", 3599),
    ])
    .await;
    let t = secret_source(&server).token(SCOPE).await.unwrap();
    assert_eq!(t.token.expose_secret(), "third");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn throttling_past_the_deadline_is_a_temporary_failure() {
    let throttled = Reply::raw(429, "").header("Retry-After", "30");
    let server = MockServer::start(vec![throttled]).await;
    let policy = RetryPolicy {
        deadline: Duration::from_secs(2),
        ..fast_retry()
    };
    let started = Instant::now();
    let err = client_credentials_token_with(
        &http(),
        &server.base,
        TENANT,
        CLIENT,
        &secret_string(SECRET),
        SCOPE,
        &policy,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, AuthError::Throttled { status: 429, .. }),
        "{err}"
    );
    assert_eq!(err.exit_code(), ExitCode::TempFail);
    // Waiting 30 s would overrun the deadline, so it gives up at once instead of sleeping
    // (10 s leaves room for a loaded CI machine and still proves it did not wait 30 s).
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 1);

    // Short Retry-After values are waited out until the deadline, then it stops.
    let server = MockServer::start(vec![Reply::raw(503, "").header("Retry-After", "0.2")]).await;
    let policy = RetryPolicy {
        deadline: Duration::from_millis(700),
        ..fast_retry()
    };
    let err = client_credentials_token_with(
        &http(),
        &server.base,
        TENANT,
        CLIENT,
        &secret_string(SECRET),
        SCOPE,
        &policy,
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::TempFail, "{err}");
    let n = server.requests().len();
    assert!((3..=5).contains(&n), "{n} requests");
}

#[tokio::test]
async fn plain_http_is_refused_unless_loopback() {
    let e = ClientSecretSource::new(
        http(),
        "http://login.example.com",
        TENANT,
        CLIENT,
        secret_string(SECRET),
    )
    .err()
    .unwrap();
    assert_eq!(e.exit_code(), ExitCode::Usage);
    assert!(e.to_string().contains("--access-token-host"), "{e}");
    let e = client_credentials_token(
        &http(),
        "http://10.1.2.3",
        TENANT,
        CLIENT,
        &secret_string(SECRET),
        SCOPE,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("access_token_host"), "{e}");
    assert!(ClientSecretSource::new(
        http(),
        "https://login.microsoftonline.com",
        TENANT,
        CLIENT,
        secret_string(SECRET)
    )
    .is_ok());
    assert!(ClientSecretSource::new(
        http(),
        "http://localhost:1",
        TENANT,
        CLIENT,
        secret_string(SECRET)
    )
    .is_ok());
}

#[tokio::test]
async fn bad_ids_are_refused_before_any_request() {
    for tenant in ["", "../../evil", "a b", "t/oauth2"] {
        let e = ClientSecretSource::new(
            http(),
            "https://login.microsoftonline.com",
            tenant,
            CLIENT,
            secret_string(SECRET),
        )
        .err()
        .unwrap();
        assert_eq!(e.exit_code(), ExitCode::Usage, "{e}");
        assert!(e.to_string().contains("AZURE_TENANT_ID"), "{e}");
    }
    let e = ClientSecretSource::new(
        http(),
        "https://login.microsoftonline.com",
        TENANT,
        "",
        secret_string(SECRET),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("AZURE_CLIENT_ID"), "{e}");
    let e = ClientSecretSource::new(
        http(),
        "https://login.microsoftonline.com",
        TENANT,
        CLIENT,
        secret_string("  "),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("AZURE_CLIENT_SECRET"), "{e}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let source = ClientSecretSource::new(
        http(),
        &format!("http://127.0.0.1:{port}"),
        TENANT,
        CLIENT,
        secret_string(SECRET),
    )
    .unwrap()
    .with_retry(fast_retry());
    let err = source.token(SCOPE).await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Unavailable, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("cannot connect"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_success_without_a_token_is_a_bad_response() {
    let server = MockServer::start(vec![Reply::json(
        200,
        serde_json::json!({"token_type": "Bearer"}),
    )])
    .await;
    let err = secret_source(&server).token(SCOPE).await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    assert!(err.to_string().contains("no access_token"), "{err}");

    let server = MockServer::start(vec![Reply::raw(200, "<html>tok-in-html</html>")]).await;
    let err = secret_source(&server).token(SCOPE).await.unwrap_err();
    assert!(!err.to_string().contains("tok-in-html"), "{err}");

    let server = MockServer::start(vec![Reply::raw(403, "<html>blocked</html>")]).await;
    let err = secret_source(&server).token(SCOPE).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 403"), "{err}");
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn workload_identity_sends_the_federated_token_and_rereads_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    write(&file, "federated-jwt-one\n");
    // Short-lived answers, so every call goes to the endpoint and must read the file again.
    let server = MockServer::start(vec![token_reply("wi-1", 120), token_reply("wi-2", 120)]).await;
    let source = WorkloadIdentitySource::new(http(), &server.base, TENANT, CLIENT, file.clone())
        .unwrap()
        .with_retry(fast_retry());
    assert_eq!(
        source.token(SCOPE).await.unwrap().token.expose_secret(),
        "wi-1"
    );
    write(&file, "federated-jwt-two");
    assert_eq!(
        source.token(SCOPE).await.unwrap().token.expose_secret(),
        "wi-2"
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        reqs[0].form_keys(),
        [
            "client_assertion",
            "client_assertion_type",
            "client_id",
            "grant_type",
            "scope"
        ]
    );
    let first = reqs[0].form();
    assert_eq!(first["grant_type"], "client_credentials");
    assert_eq!(first["client_assertion_type"], JWT_BEARER_ASSERTION);
    assert_eq!(first["client_assertion"], "federated-jwt-one");
    assert_eq!(first["client_id"], CLIENT);
    assert_eq!(first["scope"], SCOPE);
    assert_eq!(reqs[1].form()["client_assertion"], "federated-jwt-two");
    assert!(
        source.describe().contains("workload identity"),
        "{}",
        source.describe()
    );
}

#[tokio::test]
async fn workload_identity_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-there");
    let server = MockServer::start(vec![token_reply("never", 3599)]).await;
    let source =
        WorkloadIdentitySource::new(http(), &server.base, TENANT, CLIENT, missing).unwrap();
    let err = source.token(SCOPE).await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::IoError);
    assert!(
        err.to_string().contains("AZURE_FEDERATED_TOKEN_FILE"),
        "{err}"
    );
    assert!(server.requests().is_empty());

    let file = dir.path().join("token");
    write(&file, "expired-federated-jwt");
    let server = MockServer::start(vec![oauth_error(
        400,
        "invalid_client",
        700024,
        "Client assertion is not within its valid time range.",
    )])
    .await;
    let source = WorkloadIdentitySource::new(http(), &server.base, TENANT, CLIENT, file).unwrap();
    let err = source.token(SCOPE).await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::CredentialsRejected);
    assert!(err.to_string().contains("AADSTS700024"), "{err}");
    assert!(!err.to_string().contains("expired-federated-jwt"));
}

#[tokio::test]
async fn token_file_is_reread_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("graph-token");
    let exp = now_secs() + 3600;
    let first = jwt(serde_json::json!({"tid": TENANT, "exp": exp}));
    write(&file, &format!("  {first}\n"));
    let source = StaticTokenSource::new(file.clone());
    let t = source.token(SCOPE).await.unwrap();
    assert_eq!(t.token.expose_secret(), first);
    assert_eq!(
        t.expires_at,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(exp))
    );
    write(&file, "opaque-second-token");
    let t = source.token(SCOPE).await.unwrap();
    assert_eq!(t.token.expose_secret(), "opaque-second-token");
    assert_eq!(t.expires_at, None);
    assert!(source.describe().contains("graph-token"));

    let expired = jwt(serde_json::json!({"exp": now_secs() - 10}));
    write(&file, &expired);
    let err = source.token(SCOPE).await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::CredentialsRejected);
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(!err.to_string().contains(&expired));

    write(&file, "\n");
    let err = source.token(SCOPE).await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(err.to_string().contains("--access-token-file"), "{err}");
}

#[tokio::test]
async fn jwt_claims_of_an_issued_token() {
    let issued = jwt(serde_json::json!({
        "aud": "https://graph.microsoft.com",
        "tid": TENANT,
        "appid": CLIENT,
        "roles": ["Directory.ReadWrite.All", "Group.ReadWrite.All", "User.Read.All"],
        "exp": now_secs() + 3599,
    }));
    let server = MockServer::start(vec![token_reply(&issued, 3599)]).await;
    let t = secret_source(&server).token(SCOPE).await.unwrap();
    let token = t.token.expose_secret();
    assert_eq!(jwt::tenant_id(token).unwrap().as_deref(), Some(TENANT));
    assert_eq!(jwt::app_id(token).unwrap().as_deref(), Some(CLIENT));
    assert_eq!(
        jwt::roles(token).unwrap(),
        [
            "Directory.ReadWrite.All",
            "Group.ReadWrite.All",
            "User.Read.All"
        ]
    );
    assert_eq!(
        jwt::claims(token).unwrap()["aud"],
        "https://graph.microsoft.com"
    );
    let err = jwt::claims("opaque").unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::DataError);
}

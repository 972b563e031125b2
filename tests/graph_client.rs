//! The Graph client against small scripted servers on 127.0.0.1: headers it sends, retries
//! (Retry-After, deadline), error decoding (both `innerError` casings, unknown fields),
//! paging and the refusal to follow a foreign next link, and what it does when a
//! connection breaks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use msgraph_keystore::auth::{AccessToken, AuthError, TokenSource};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::graph::models::Application;
use msgraph_keystore::graph::{GraphClient, GraphError, RetryPolicy};
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::secret::SecretString;

/// Hands out a fixed token, or fails like a rejected credential.
struct FixedToken(Option<&'static str>);

#[async_trait::async_trait]
impl TokenSource for FixedToken {
    fn describe(&self) -> String {
        "fixed test token".into()
    }
    async fn token(&self, _scope: &str) -> Result<AccessToken, AuthError> {
        match self.0 {
            Some(t) => Ok(AccessToken {
                token: SecretString::from(t),
                expires_at: None,
            }),
            None => Err(AuthError::NoCredentials),
        }
    }
}

#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<(String, HeaderMap)>>>,
}

impl Seen {
    fn record(&self, req: &Request) {
        if let Ok(mut r) = self.requests.lock() {
            let uri = req.uri().to_string();
            r.push((uri, req.headers().clone()));
        }
    }
    fn all(&self) -> Vec<(String, HeaderMap)> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}/v1.0")
}

fn client(graph_host: &str, timeout: Duration) -> GraphClient {
    client_with(graph_host, timeout, FixedToken(Some("header.payload.sig")))
}

fn client_with(graph_host: &str, timeout: Duration, tokens: FixedToken) -> GraphClient {
    let http = build_client(&HttpOptions {
        request_timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    })
    .expect("http");
    GraphClient::new(
        http,
        Arc::new(tokens),
        graph_host,
        "https://graph.microsoft.com/.default",
        Instant::now() + timeout,
    )
    .expect("client")
    .with_retry_policy(RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        consistent_reads: 3,
        consistent_read_interval: Duration::from_millis(1),
    })
}

fn app_json(n: usize) -> serde_json::Value {
    json!({"id": format!("obj-{n}"), "appId": format!("app-{n}"), "displayName": "x",
           "somethingNew": {"nested": [1, 2]}, "tags": null})
}

#[tokio::test]
async fn every_request_carries_a_bearer_token_and_a_fresh_client_request_id() {
    let seen = Seen::default();
    let router = Router::new()
        .route(
            "/v1.0/applications/{id}",
            get(|State(seen): State<Seen>, req: Request| async move {
                seen.record(&req);
                Json(app_json(1))
            }),
        )
        .with_state(seen.clone());
    let graph = client(&serve(router).await, Duration::from_secs(10));
    for _ in 0..3 {
        graph.get_application("obj-1").await.expect("get");
    }
    let all = seen.all();
    assert_eq!(all.len(), 3);
    let mut ids = Vec::new();
    for (uri, headers) in &all {
        assert!(
            uri.starts_with("/v1.0/applications/obj-1?$select="),
            "{uri}"
        );
        assert_eq!(
            headers.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer header.payload.sig")
        );
        let id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "a new client-request-id per request");
}

#[tokio::test]
async fn throttling_honours_fractional_retry_after_then_succeeds() {
    let seen = Seen::default();
    let router = Router::new()
        .route(
            "/v1.0/organization",
            get(|State(seen): State<Seen>, req: Request| async move {
                seen.record(&req);
                let n = seen.all().len();
                if n <= 2 {
                    let status = if n == 1 {
                        StatusCode::TOO_MANY_REQUESTS
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    let mut r = (
                        status,
                        Json(json!({"error": {"code": "TooManyRequests", "message": "Please retry again later."}})),
                    )
                        .into_response();
                    r.headers_mut().insert("retry-after", HeaderValue::from_static("0.25"));
                    return r;
                }
                Json(json!({"value": [{"id": "tenant-guid", "displayName": "Contoso"}]})).into_response()
            }),
        )
        .with_state(seen.clone());
    let graph = client(&serve(router).await, Duration::from_secs(10));
    let started = Instant::now();
    let orgs = graph.organization().await.expect("after retries");
    assert_eq!(orgs[0].id, "tenant-guid");
    assert_eq!(seen.all().len(), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_fails_at_once_with_tempfail() {
    let router = Router::new().route(
        "/v1.0/organization",
        get(|| async {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"error": {"code": "TooManyRequests", "message": "Slow down."}})),
            )
                .into_response();
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("30"));
            r
        }),
    );
    let graph = client(&serve(router).await, Duration::from_millis(500));
    let started = Instant::now();
    let err = graph.organization().await.expect_err("throttled");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not sleep 30 s"
    );
    assert!(matches!(err, GraphError::Deadline { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::TempFail);
    let msg = err.to_string();
    assert!(
        msg.contains("--timeout") && msg.contains("TooManyRequests"),
        "{msg}"
    );
}

#[tokio::test]
async fn errors_show_code_message_and_both_ids_whatever_the_casing() {
    let router = Router::new()
        .route(
            "/v1.0/applications/{id}",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    [("request-id", "hdr-req-1"), ("client-request-id", "hdr-cli-1")],
                    r#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist.","unexpected":true,"innererror":{"date":"2026-01-01T00:00:00","request-id":"body-req","client-request-id":"body-cli","extra":1}}}"#,
                )
            }),
        )
        .route(
            "/v1.0/servicePrincipals/{id}",
            get(|| async {
                (
                    StatusCode::FORBIDDEN,
                    r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"request-id":"body-req-2","client-request-id":"body-cli-2"}}}"#,
                )
            }),
        );
    let graph = client(&serve(router).await, Duration::from_secs(5));
    let err = graph.get_application("x").await.expect_err("404");
    let msg = err.to_string();
    for part in [
        "404",
        "Request_ResourceNotFound",
        "Resource 'x' does not exist.",
        "request-id: hdr-req-1",
        "client-request-id: hdr-cli-1",
        "GET /applications/x",
    ] {
        assert!(msg.contains(part), "{part} missing in {msg}");
    }
    let err = graph.get_service_principal("y").await.expect_err("403");
    let msg = err.to_string();
    assert!(msg.contains("request-id: body-req-2"), "{msg}");
    assert!(msg.contains("client-request-id: body-cli-2"), "{msg}");
    assert_eq!(err.exit_code(), ExitCode::NoPermission);
}

#[tokio::test]
async fn lists_follow_next_links_and_refuse_foreign_ones() {
    let foreign_seen = Seen::default();
    let foreign = Router::new()
        .route(
            "/v1.0/applications",
            get(|State(seen): State<Seen>, req: Request| async move {
                seen.record(&req);
                Json(json!({"value": []}))
            }),
        )
        .with_state(foreign_seen.clone());
    let foreign_host = serve(foreign).await;

    let seen = Seen::default();
    let router = Router::new()
        .route(
            "/v1.0/applications",
            get(
                |State((seen, foreign)): State<(Seen, String)>, headers: HeaderMap, req: Request| async move {
                    seen.record(&req);
                    let host = headers
                        .get("host")
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let query = req.uri().query().unwrap_or_default().to_string();
                    let decoded: String = url::form_urlencoded::parse(query.as_bytes())
                        .map(|(k, v)| format!("{k}={v}&"))
                        .collect();
                    if !decoded.contains("tags/any") {
                        // Three pages, then done.
                        let page = if query.contains("skiptoken=2") {
                            2
                        } else if query.contains("skiptoken=1") {
                            1
                        } else {
                            0
                        };
                        let mut body = json!({"value": [app_json(page)]});
                        if page < 2 {
                            body["@odata.nextLink"] = json!(format!(
                                "http://{host}/v1.0/applications?$filter=displayName%20eq%20%27x%27&$skiptoken={}",
                                page + 1
                            ));
                        }
                        Json(body)
                    } else {
                        Json(json!({"value": [app_json(9)], "@odata.nextLink": format!("{foreign}/applications?$skiptoken=evil")}))
                    }
                },
            ),
        )
        .with_state((seen.clone(), foreign_host));
    let graph = client(&serve(router).await, Duration::from_secs(5));

    let apps: Vec<Application> = graph
        .find_applications_by_display_name("x")
        .await
        .expect("paged list");
    let ids: Vec<&str> = apps.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["obj-0", "obj-1", "obj-2"]);
    assert!(apps[0].tags.is_empty());

    let err = graph
        .find_applications_by_tag("t")
        .await
        .expect_err("foreign next link");
    assert!(matches!(err, GraphError::ForeignNextLink { .. }), "{err}");
    assert!(
        foreign_seen.all().is_empty(),
        "no request, no token, to the other host"
    );
}

/// A server that never ends a collection: the same next link again, or a new one forever.
/// Paging stops with an error (exit 69) after the first repeat or `MAX_COLLECTION_PAGES`.
#[tokio::test]
async fn a_collection_that_never_ends_is_refused_not_followed_forever() {
    let seen = Seen::default();
    let router = Router::new()
        .route(
            "/v1.0/applications",
            get(
                |State(seen): State<Seen>, headers: HeaderMap, req: Request| async move {
                    seen.record(&req);
                    let host = headers
                        .get("host")
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let query = req.uri().query().unwrap_or_default().to_string();
                    let link = if query.starts_with("$filter=tags") {
                        // The same page again, whatever was asked.
                        format!("http://{host}/v1.0/applications?$filter=tags&$skiptoken=same")
                    } else {
                        // A new page every time.
                        static NEXT: std::sync::atomic::AtomicUsize =
                            std::sync::atomic::AtomicUsize::new(0);
                        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        format!("http://{host}/v1.0/applications?$skiptoken={n}")
                    };
                    Json(json!({"value": [], "@odata.nextLink": link}))
                },
            ),
        )
        .with_state(seen.clone());
    let graph = client(&serve(router).await, Duration::from_secs(60));

    let err = graph
        .find_applications_by_tag("t")
        .await
        .expect_err("a repeating next link");
    assert!(err.to_string().contains("repeats the page"), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    let after_repeat = seen.all().len();
    assert!(
        after_repeat <= 3,
        "{after_repeat} requests for a repeating link"
    );

    let err = graph
        .find_applications_by_display_name("x")
        .await
        .expect_err("an endless collection");
    assert!(err.to_string().contains("did not end"), "{err}");
    let pages = seen.all().len() - after_repeat;
    assert_eq!(pages, msgraph_keystore::graph::MAX_COLLECTION_PAGES);
}

#[tokio::test]
async fn filters_quote_user_input() {
    let seen = Seen::default();
    let router = Router::new()
        .route(
            "/v1.0/applications",
            get(|State(seen): State<Seen>, req: Request| async move {
                seen.record(&req);
                Json(json!({"value": []}))
            }),
        )
        .with_state(seen.clone());
    let graph = client(&serve(router).await, Duration::from_secs(5));
    graph
        .find_applications_by_display_name("O'Brien & co")
        .await
        .expect("list");
    let (uri, _) = seen.all().pop().expect("one request");
    let query = uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let filter = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "$filter")
        .map(|(_, v)| v.into_owned());
    assert_eq!(filter.as_deref(), Some("displayName eq 'O''Brien & co'"));
}

#[tokio::test]
async fn a_success_with_an_unreadable_body_is_a_decode_error() {
    let router = Router::new().route(
        "/v1.0/applications/{id}",
        get(|| async { (StatusCode::OK, "<html>captive portal</html>") }),
    );
    let graph = client(&serve(router).await, Duration::from_secs(5));
    let err = graph.get_application("x").await.expect_err("not json");
    assert!(matches!(err, GraphError::Decode { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
}

#[tokio::test]
async fn token_failures_keep_their_exit_code() {
    let router = Router::new().route("/v1.0/organization", any(|| async { StatusCode::OK }));
    let graph = client_with(
        &serve(router).await,
        Duration::from_secs(5),
        FixedToken(None),
    );
    let err = graph.organization().await.expect_err("no token");
    assert!(matches!(err, GraphError::Auth { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Usage);
}

/// A server that reads each request and closes the connection without answering.
async fn hang_up_server() -> (String, Arc<Mutex<u32>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(Mutex::new(0u32));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let _ = sock.read(&mut buf).await;
            if let Ok(mut c) = counter.lock() {
                *c += 1;
            }
            let _ = sock.shutdown().await;
        }
    });
    (format!("http://{addr}/v1.0"), count)
}

#[tokio::test]
async fn a_broken_connection_is_retried_for_reads_but_not_for_creates() {
    let (host, count) = hang_up_server().await;
    let graph = client(&host, Duration::from_millis(300));
    let err = graph.get_application("x").await.expect_err("never answers");
    assert!(matches!(err, GraphError::Deadline { .. }), "{err}");
    let reads = count.lock().map(|c| *c).unwrap_or_default();
    assert!(reads > 1, "reads are retried ({reads})");

    let (host, count) = hang_up_server().await;
    let graph = client(&host, Duration::from_secs(5));
    let err = graph
        .instantiate_template("8adf8e6e-67b2-4cf2-a259-e3dc5476c621", "x")
        .await
        .expect_err("never answers");
    assert!(
        matches!(
            err,
            GraphError::Transport {
                maybe_applied: true,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    assert_eq!(
        count.lock().map(|c| *c).unwrap_or_default(),
        1,
        "a create is sent once"
    );
}

#[tokio::test]
async fn nothing_listening_is_unavailable_and_names_the_flag_to_check() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let graph = client(&format!("http://{addr}/v1.0"), Duration::from_millis(200));
    let err = graph.organization().await.expect_err("refused");
    let GraphError::Deadline { last, .. } = &err else {
        panic!("expected a deadline error, got {err}");
    };
    assert_eq!(last.exit_code(), ExitCode::Unavailable);
    assert!(err.to_string().contains("--graph-host"), "{err}");
}

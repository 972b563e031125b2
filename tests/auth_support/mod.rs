//! A scripted HTTP server on 127.0.0.1 for the token-layer tests: it answers with the replies
//! it was given, in order (repeating the last one when they run out), and records every
//! request so a test can check exactly what was sent.

#![allow(dead_code)] // each test file uses a different part of this

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use msgraph_keystore::auth::RetryPolicy;
use msgraph_keystore::net::{build_client, HttpOptions};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Recorded {
    /// The body as form fields.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    /// The query string as fields.
    pub fn query_pairs(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The form's field names, sorted.
    pub fn form_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.form().into_keys().collect();
        keys.sort();
        keys
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn raw(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A successful token answer.
pub fn token_reply(token: &str, expires_in: u64) -> Reply {
    Reply::json(
        200,
        serde_json::json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": token,
        }),
    )
}

/// An Entra-style OAuth error answer.
pub fn oauth_error(status: u16, error: &str, code: u32, text: &str) -> Reply {
    Reply::json(
        status,
        serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0b1f-trace\r\nCorrelation ID: 9c2e-corr\r\nTimestamp: 2026-01-01 00:00:00Z"),
            "error_codes": [code],
            "timestamp": "2026-01-01 00:00:00Z",
            "trace_id": "0b1f-trace",
            "correlation_id": "9c2e-corr",
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    last: Option<Reply>,
    requests: Vec<Recorded>,
}

/// The running server.
pub struct MockServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    script: Arc<Mutex<Script>>,
}

impl MockServer {
    pub async fn start(replies: Vec<Reply>) -> MockServer {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into(),
            ..Script::default()
        }));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockServer {
            base: format!("http://{addr}"),
            script,
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.script.lock().unwrap().requests.clone()
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let reply = {
        let mut s = script.lock().unwrap();
        s.requests.push(Recorded {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body,
        });
        let next = s.replies.pop_front().or_else(|| s.last.clone());
        if let Some(r) = &next {
            s.last = Some(r.clone());
        }
        next
    };
    let reply = reply.unwrap_or_else(|| Reply::raw(500, "no scripted reply"));
    let mut builder = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    builder.body(Body::from(reply.body)).unwrap()
}

/// The program's HTTP client.
pub fn http() -> reqwest::Client {
    build_client(&HttpOptions::default()).unwrap()
}

/// Retries that keep tests fast.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        deadline: Duration::from_secs(5),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_network_retries: 0,
    }
}

/// An unsigned JWT with the given payload.
pub fn jwt(payload: serde_json::Value) -> String {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.c2lnbmF0dXJl",
        e.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        e.encode(payload.to_string())
    )
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub const SCOPE: &str = "https://graph.microsoft.com/.default";
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

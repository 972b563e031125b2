//! A recording HTTP proxy between the tool and the fake tenant, for counting *sequential*
//! round trips: it forwards every request (token endpoint and Graph alike) and notes when
//! the request arrived and when its answer was complete.
//!
//! Shared by `benches/setup/main.rs` and `tests/roundtrips.rs` (included there with
//! `#[path]`), so the figure in `docs/performance.md` and the bound the tests assert are
//! measured the same way.
//!
//! Why a timeline gives the dependency depth: a request that needs another's answer can
//! only arrive after that answer has left the proxy, so the two spans never overlap. With a
//! latency `L` injected by the fake tenant, requests sent together overlap unless one of
//! them is held up for longer than `L` before it is sent. The largest set of pairwise
//! disjoint spans is then exactly the longest chain of requests that waited for each other:
//! the number of sequential round trips.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use tokio::task::JoinHandle;

/// One forwarded request.
#[derive(Debug, Clone)]
pub struct Span {
    pub method: String,
    /// Path and query, as the client sent them.
    pub path: String,
    pub start: Instant,
    pub end: Instant,
}

struct Shared {
    upstream: String,
    origin: String,
    client: reqwest::Client,
    spans: Mutex<Vec<Span>>,
}

/// The running proxy; it stops when dropped.
pub struct TraceProxy {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl TraceProxy {
    /// Forward to `upstream` (an origin such as `http://127.0.0.1:8080`).
    pub async fn start(upstream: &str) -> std::io::Result<TraceProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            origin,
            client,
            spans: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(TraceProxy { shared, task })
    }

    /// The proxy's origin, to use in place of the upstream's.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// Every span recorded since the last call, in arrival order.
    pub fn take(&self) -> Vec<Span> {
        let mut spans = match self.shared.spans.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        spans.sort_by_key(|s| s.start);
        spans
    }
}

impl Drop for TraceProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The number of sequential round trips in `spans`: the most spans that are pairwise
/// disjoint in time (earliest-end-first greedy, which is optimal for intervals).
pub fn sequential_depth(spans: &[Span]) -> usize {
    let mut by_end: Vec<&Span> = spans.iter().collect();
    by_end.sort_by_key(|s| s.end);
    let mut depth = 0;
    let mut last_end: Option<Instant> = None;
    for span in by_end {
        if last_end.is_none_or(|end| span.start > end) {
            depth += 1;
            last_end = Some(span.end);
        }
    }
    depth
}

/// One chain of sequential requests achieving [`sequential_depth`], for messages.
pub fn critical_path(spans: &[Span]) -> Vec<String> {
    let mut by_end: Vec<&Span> = spans.iter().collect();
    by_end.sort_by_key(|s| s.end);
    let mut chain = Vec::new();
    let mut last_end: Option<Instant> = None;
    for span in by_end {
        if last_end.is_none_or(|end| span.start > end) {
            chain.push(format!("{} {}", span.method, short(&span.path)));
            last_end = Some(span.end);
        }
    }
    chain
}

fn short(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let (parts, body) = request.into_parts();
    let response = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            let mut upstream = shared
                .client
                .request(method.clone(), format!("{}{path}", shared.upstream))
                .body(bytes);
            for (name, value) in &parts.headers {
                if name != HOST && name != CONTENT_LENGTH {
                    upstream = upstream.header(name, value);
                }
            }
            relay(&shared, upstream.send().await).await
        }
        Err(e) => plain(StatusCode::BAD_REQUEST, format!("unreadable body: {e}")),
    };
    let span = Span {
        method: method.to_string(),
        path,
        start,
        end: Instant::now(),
    };
    if let Ok(mut spans) = shared.spans.lock() {
        spans.push(span);
    }
    response
}

async fn relay(shared: &Shared, sent: Result<reqwest::Response, reqwest::Error>) -> Response {
    let upstream = match sent {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("upstream: {e}")),
    };
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let body = match upstream.bytes().await {
        Ok(b) => b,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("upstream body: {e}")),
    };
    // Absolute links (`@odata.nextLink`) name the upstream; the client must see the proxy.
    let body = match std::str::from_utf8(&body) {
        Ok(text) if text.contains(&shared.upstream) => {
            text.replace(&shared.upstream, &shared.origin).into_bytes()
        }
        _ => body.to_vec(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

fn plain(status: StatusCode, message: String) -> Response {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    response
}

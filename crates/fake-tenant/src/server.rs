//! The HTTP front: one axum fallback handler that reads the request, applies latency and
//! the fault schedule, and hands the rest to the token endpoint or the Graph router with the
//! tenant locked (the lock is never held across an `.await`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::faults::Injected;
use super::graph_routes::{self, GraphCall};
use super::listener::ConnHandle;
use super::reply::{GraphError, Reply, RequestIds};
use super::state::{TenantState, LOST_ANSWERS_KEPT};
use super::token;

/// Largest request body accepted (Graph's own limit is 4 MB).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// What every request handler shares.
pub(crate) struct Shared {
    state: Mutex<TenantState>,
    /// Root URL of this server, e.g. `http://127.0.0.1:8080`.
    pub host: String,
}

impl Shared {
    pub fn new(state: TenantState, host: String) -> Self {
        Shared {
            state: Mutex::new(state),
            host,
        }
    }

    /// Lock the tenant. A handler that panicked while holding the lock left the state as
    /// consistent as any single step leaves it, so a poisoned lock is simply taken over.
    pub fn lock(&self) -> MutexGuard<'_, TenantState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// `/{tenant}/oauth2/v2.0/token` → the tenant segment.
fn token_tenant(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (tenant, tail) = rest.split_once('/')?;
    (tail == "oauth2/v2.0/token" && !tenant.is_empty()).then_some(tenant)
}

/// `/v1.0/…` → the part after `/v1.0`.
fn graph_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1.0")?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let ids = RequestIds::for_request(&parts.headers);
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return Reply::Error(GraphError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request_EntityTooLarge",
            "The request body is too large or could not be read.",
        ))
        .into_response(&ids);
    };
    let path = parts.uri.path();
    let reply = if let Some(tenant) = token_tenant(path) {
        let latency = shared.lock().faults.latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut st = shared.lock();
        token::handle(
            &mut st,
            tenant,
            &parts.method,
            &parts.headers,
            &body,
            &ids,
            &shared.host,
        )
    } else if let Some(graph_path) = graph_path(path) {
        let (decision, faults) = {
            let mut st = shared.lock();
            st.graph_requests += 1;
            st.fault_seq += 1;
            if st.request_log.len() >= crate::state::REQUEST_LOG_KEPT {
                st.request_log.pop_front();
            }
            st.request_log
                .push_back(format!("{} {}", parts.method, parts.uri));
            (st.faults.decide(st.fault_seq), st.faults.clone())
        };
        if !faults.latency.is_zero() {
            tokio::time::sleep(faults.latency).await;
        }
        match decision {
            Injected::DropBefore => {
                tracing::debug!(
                    "fake tenant: {} {path} from {} -> connection dropped",
                    parts.method,
                    conn.peer
                );
                conn.kill();
                // Never written: the killed stream fails the write and hyper closes it.
                return StatusCode::OK.into_response();
            }
            Injected::Throttle => {
                Reply::throttled(&ids, faults.retry_after_header(SystemTime::now()))
            }
            Injected::Unavailable => {
                Reply::unavailable(&ids, faults.retry_after_header(SystemTime::now()))
            }
            Injected::Nothing | Injected::DropAfter => {
                let graph_base = format!("{}/v1.0", shared.host);
                let call = GraphCall {
                    method: &parts.method,
                    path: graph_path,
                    query: parts.uri.query(),
                    headers: &parts.headers,
                    body: &body,
                    graph_base: &graph_base,
                };
                let reply = {
                    let mut st = shared.lock();
                    let reply = graph_routes::handle(&mut st, &call);
                    if decision == Injected::DropAfter && st.lost_answers.len() < LOST_ANSWERS_KEPT
                    {
                        st.lost_answers
                            .push(format!("{} {graph_path}", parts.method));
                    }
                    reply
                };
                if decision == Injected::DropAfter {
                    tracing::debug!(
                        "fake tenant: {} {path} from {} -> {} applied, then connection dropped",
                        parts.method,
                        conn.peer,
                        reply.status()
                    );
                    conn.kill();
                    return StatusCode::OK.into_response();
                }
                reply
            }
        }
    } else {
        Reply::Error(GraphError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("The fake tenant serves /{{tenant}}/oauth2/v2.0/token and /v1.0/...; '{path}' is neither."),
        ))
    };
    tracing::debug!("fake tenant: {} {path} -> {}", parts.method, reply.status());
    reply.into_response(&ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_classification() {
        assert_eq!(token_tenant("/abc/oauth2/v2.0/token"), Some("abc"));
        assert_eq!(token_tenant("/abc/oauth2/token"), None);
        assert_eq!(token_tenant("//oauth2/v2.0/token"), None);
        assert_eq!(graph_path("/v1.0/applications"), Some("/applications"));
        assert_eq!(graph_path("/v1.0"), Some(""));
        assert_eq!(graph_path("/v1.00/x"), None);
        assert_eq!(graph_path("/beta/x"), None);
    }
}

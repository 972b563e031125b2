//! The HTTP side of Microsoft Graph: bearer tokens, `client-request-id`, retries on
//! throttling and broken connections within the run's deadline, error decoding, and
//! `@odata.nextLink` paging. Typed calls are in `api.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::classify::ErrorClass;
use super::error::{parse_error_body, ApiError, GraphError};
use super::models::Page;
use super::RetryPolicy;
use crate::auth::TokenSource;
use crate::http_body::{read_body, BodyError, MAX_GRAPH_BODY};
use crate::net::{check_endpoint, NetError};
use crate::retry::{parse_retry_after, Retries};
use crate::secret::{ExposeSecret, Zeroizing};

/// May a request be sent again after the connection broke mid-way?
///
/// A broken connection leaves us not knowing whether Graph acted. Reads, PATCHes, DELETEs
/// and creates that Graph de-duplicates itself are safe to repeat; a create that would make
/// a second object (instantiating a template, adding a password) is not, and its caller
/// decides how to recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    Safe,
    NotSafe,
}

/// A Microsoft Graph client for one run.
pub struct GraphClient {
    http: reqwest::Client,
    tokens: Arc<dyn TokenSource>,
    base: Url,
    base_str: String,
    scope: String,
    deadline: Instant,
    request_timeout: Duration,
    policy: RetryPolicy,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_host", &self.base_str)
            .field("scope", &self.scope)
            .field("tokens", &self.tokens.describe())
            .finish()
    }
}

/// A successful answer.
pub(crate) struct Reply {
    pub status: u16,
    /// The body, wiped from memory when dropped (`addPassword` answers hold a secret).
    pub body: Zeroizing<Vec<u8>>,
    pub request_id: Option<String>,
}

impl GraphClient {
    /// A client for `graph_host` (e.g. `https://graph.microsoft.com/v1.0`) that asks
    /// `tokens` for tokens with `scope` and retries until `deadline` at the latest.
    pub fn new(
        http: reqwest::Client,
        tokens: Arc<dyn TokenSource>,
        graph_host: &str,
        scope: &str,
        deadline: Instant,
    ) -> Result<GraphClient, NetError> {
        let trimmed = graph_host.trim_end_matches('/');
        let base = check_endpoint("--graph-host", trimmed)?;
        Ok(GraphClient {
            http,
            tokens,
            base,
            base_str: trimmed.to_string(),
            scope: scope.to_string(),
            deadline,
            request_timeout: crate::net::HttpOptions::default().request_timeout,
            policy: RetryPolicy::default(),
        })
    }

    /// Replace the retry pacing (tests use millisecond waits).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Limit each call to `timeout` (the reqwest client's own timeout still applies).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The Graph root, without a trailing slash.
    pub fn graph_host(&self) -> &str {
        &self.base_str
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The token source, e.g. to read claims of the caller's own token.
    pub fn token_source(&self) -> &Arc<dyn TokenSource> {
        &self.tokens
    }

    /// GET one object.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GraphError> {
        let reply = self.send(Method::GET, path, None, Replay::Safe).await?;
        decode("GET", path, &reply)
    }

    /// GET a collection, following `@odata.nextLink` until the last page.
    pub async fn get_collection<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, GraphError> {
        let mut items = Vec::new();
        let mut next = path.to_string();
        // A server that keeps sending next-page links (or sends the same one again) must not
        // keep us fetching and growing `items` until the deadline: pages are bounded.
        for _ in 0..MAX_COLLECTION_PAGES {
            let reply = self.send(Method::GET, &next, None, Replay::Safe).await?;
            let page: Page<T> = decode("GET", &next, &reply)?;
            items.extend(page.value);
            match page.next_link {
                Some(link) => {
                    let link = self.relative_next_link(&link)?;
                    if link == next {
                        return Err(too_many_pages(
                            path,
                            "a next-page link that repeats the page",
                        ));
                    }
                    next = link;
                }
                None => return Ok(items),
            }
        }
        Err(too_many_pages(
            path,
            &format!("more than {MAX_COLLECTION_PAGES} pages"),
        ))
    }

    /// POST a JSON body and read the JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        replay: Replay,
    ) -> Result<T, GraphError> {
        let bytes = encode("POST", path, body)?;
        let reply = self.send(Method::POST, path, Some(bytes), replay).await?;
        decode("POST", path, &reply)
    }

    /// POST a JSON body to an action that answers `204 No Content`.
    pub async fn post_no_content<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        replay: Replay,
    ) -> Result<(), GraphError> {
        let bytes = encode("POST", path, body)?;
        self.send(Method::POST, path, Some(bytes), replay).await?;
        Ok(())
    }

    /// PATCH an object with the given properties.
    pub async fn patch<B: Serialize>(&self, path: &str, body: &B) -> Result<(), GraphError> {
        let bytes = encode("PATCH", path, body)?;
        self.send(Method::PATCH, path, Some(bytes), Replay::Safe)
            .await?;
        Ok(())
    }

    /// DELETE an object.
    pub async fn delete(&self, path: &str) -> Result<(), GraphError> {
        self.send(Method::DELETE, path, None, Replay::Safe).await?;
        Ok(())
    }

    /// Turn an absolute `@odata.nextLink` into a path below our Graph root. A link to any
    /// other place is refused: following it would hand our bearer token to that host.
    fn relative_next_link(&self, link: &str) -> Result<String, GraphError> {
        let foreign = || GraphError::ForeignNextLink {
            origin: Url::parse(link)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|_| "an unparsable URL".to_string()),
        };
        let url = Url::parse(link).map_err(|_| foreign())?;
        if url.origin() != self.base.origin() {
            return Err(foreign());
        }
        let rest = link.strip_prefix(&self.base_str).ok_or_else(foreign)?;
        if !(rest.starts_with('/') || rest.starts_with('?')) {
            return Err(foreign());
        }
        Ok(rest.to_string())
    }

    /// Send one logical request, retrying what may be retried until the deadline.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        replay: Replay,
    ) -> Result<Reply, GraphError> {
        let mut retries = Retries::until(self.deadline);
        let url = format!("{}{}", self.base_str, path);
        loop {
            let (failure, retry_after) =
                match self.attempt(&method, &url, path, body.as_ref()).await {
                    Attempt::Done(reply) => return Ok(reply),
                    Attempt::Failed(e) => return Err(e),
                    Attempt::Transport { error, sent } => {
                        // Re-sending is harmless if the request never left, or if it may be
                        // repeated; otherwise the caller must find out what happened.
                        if sent && replay == Replay::NotSafe {
                            return Err(error);
                        }
                        (error, None)
                    }
                    Attempt::Throttled { error, retry_after } => (error, retry_after),
                };
            let wait = match retries.next_wait(retry_after, |n| self.policy.backoff(n)) {
                Ok(wait) => wait,
                Err(refused) => {
                    return Err(GraphError::Deadline {
                        waited: retries.elapsed(),
                        refused: Some(refused),
                        last: Box::new(failure),
                    })
                }
            };
            tracing::debug!(
                method = %method,
                path,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "retrying after: {failure}"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        path: &str,
        body: Option<&Vec<u8>>,
    ) -> Attempt {
        let token = match self.tokens.token(&self.scope).await {
            Ok(t) => t,
            Err(e) => return Attempt::Failed(GraphError::from(e)),
        };
        let client_request_id = uuid::Uuid::new_v4().to_string();
        // Never wait on one call past the deadline, but give it at least a second.
        let remaining = self
            .deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let mut request = self
            .http
            .request(method.clone(), url)
            .bearer_auth(token.token.expose_secret())
            .header("client-request-id", &client_request_id)
            .header(ACCEPT, "application/json")
            .timeout(self.request_timeout.min(remaining));
        if let Some(bytes) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone());
        }
        let transport = |e: reqwest::Error, sent: bool| {
            tracing::debug!(method = %method, path, client_request_id, "no response: {e}");
            Attempt::Transport {
                error: GraphError::Transport {
                    method: method.to_string(),
                    path: path.to_string(),
                    reason: error_chain(&e),
                    client_request_id: client_request_id.clone(),
                    maybe_applied: sent,
                },
                sent,
            }
        };
        let response = match request.send().await {
            Ok(r) => r,
            // A connect error means nothing was sent.
            Err(e) => {
                let sent = !e.is_connect();
                return transport(e, sent);
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let request_id = header(&headers, "request-id");
        let body = match read_body(response, MAX_GRAPH_BODY).await {
            Ok(b) => b,
            Err(BodyError::Read(e)) => return transport(e, true),
            // Not retried: the same request would get the same answer.
            Err(e) => {
                return Attempt::Failed(GraphError::Decode {
                    method: method.to_string(),
                    path: path.to_string(),
                    reason: e.to_string(),
                    request_id,
                })
            }
        };
        tracing::debug!(
            method = %method,
            path,
            status,
            request_id = request_id.as_deref().unwrap_or("-"),
            client_request_id,
            "graph request"
        );
        if (200..300).contains(&status) {
            return Attempt::Done(Reply {
                status,
                body,
                request_id,
            });
        }
        let parsed = parse_error_body(&body);
        let error = ApiError {
            method: method.to_string(),
            path: path.to_string(),
            status,
            code: parsed.code.unwrap_or_default(),
            message: parsed.message.unwrap_or_default(),
            request_id: request_id.or(parsed.request_id),
            client_request_id: header(&headers, "client-request-id")
                .or(parsed.client_request_id)
                .or(Some(client_request_id)),
            date: parsed.date,
            detail_codes: parsed.detail_codes,
        };
        if error.class() == ErrorClass::Throttled {
            let retry_after = header(&headers, RETRY_AFTER.as_str())
                .and_then(|v| parse_retry_after(&v, SystemTime::now()));
            return Attempt::Throttled {
                error: GraphError::Api(Box::new(error)),
                retry_after,
            };
        }
        Attempt::Failed(GraphError::Api(Box::new(error)))
    }
}

enum Attempt {
    Done(Reply),
    Failed(GraphError),
    Transport {
        error: GraphError,
        sent: bool,
    },
    Throttled {
        error: GraphError,
        retry_after: Option<Duration>,
    },
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// reqwest's Display hides the interesting part ("connection closed before message
/// completed") in its source chain; join the chain into one line.
fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The most pages [`GraphClient::get_collection`] follows: Graph pages hold up to 999 items,
/// far more than any collection this tool reads (apps with one name, a user's groups).
pub const MAX_COLLECTION_PAGES: usize = 1000;

fn too_many_pages(path: &str, what: &str) -> GraphError {
    GraphError::Decode {
        method: "GET".to_string(),
        path: path.to_string(),
        reason: format!("the collection did not end: {what}"),
        request_id: None,
    }
}

fn encode<B: Serialize>(method: &str, path: &str, body: &B) -> Result<Vec<u8>, GraphError> {
    serde_json::to_vec(body).map_err(|e| GraphError::Decode {
        method: method.to_string(),
        path: path.to_string(),
        reason: format!("cannot encode the request body: {e}"),
        request_id: None,
    })
}

fn decode<T: DeserializeOwned>(method: &str, path: &str, reply: &Reply) -> Result<T, GraphError> {
    decode_body(
        method,
        path,
        reply.status,
        &reply.body,
        reply.request_id.as_deref(),
    )
}

/// Read a 2xx answer's body as `T`, as every typed call does: `204 No Content` or an empty
/// body reads as JSON `null` (which only an `Option` or `()` accepts); a body that does not
/// fit is a [`GraphError::Decode`] that never quotes the body's values (they may be secrets).
/// Public so the fuzz target and property tests reach exactly this path.
pub fn decode_body<T: DeserializeOwned>(
    method: &str,
    path: &str,
    status: u16,
    body: &[u8],
    request_id: Option<&str>,
) -> Result<T, GraphError> {
    let bytes: &[u8] = if status == 204 || body.is_empty() {
        b"null"
    } else {
        body
    };
    serde_json::from_slice(bytes).map_err(|e| GraphError::Decode {
        method: method.to_string(),
        path: path.to_string(),
        reason: without_quoted_values(&e.to_string()),
        request_id: request_id.map(str::to_string),
    })
}

/// serde_json quotes the offending input value in some messages (`invalid type: string
/// "…"`); that value could be part of a secret, so drop every double-quoted span. Field
/// names are quoted with backticks and survive.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_do_not_repeat_input_values() {
        let reply = Reply {
            status: 200,
            body: Zeroizing::new(
                br#"{"keyId":"k","secretText":"TOPSECRET","endDateTime":"TOPSECRET2"}"#.to_vec(),
            ),
            request_id: Some("r".into()),
        };
        let err = decode::<super::super::models::NewPassword>("POST", "/x", &reply)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.is_empty());
        assert!(!err.contains("TOPSECRET"), "{err}");
    }

    #[test]
    fn quoted_spans_are_dropped_and_backticks_kept() {
        assert_eq!(
            without_quoted_values(r#"invalid type: string "abc", expected `appId`"#),
            r#"invalid type: string "…", expected `appId`"#
        );
    }
}

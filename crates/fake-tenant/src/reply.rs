//! What a handler answers, and how it becomes an HTTP response with Graph's correlation
//! headers (`request-id`, `client-request-id`) and error envelope
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// The ids that tie a response to its request, as Graph sends them.
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: String,
    pub client_request_id: String,
    /// `innerError.date`: UTC, seconds precision, no zone suffix (as Graph writes it).
    pub date: String,
}

impl RequestIds {
    /// A fresh `request-id`; the client's `client-request-id` is echoed when it sent one.
    pub fn for_request(headers: &HeaderMap) -> Self {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 200)
            .map(str::to_owned)
            .unwrap_or_else(|| request_id.clone());
        RequestIds {
            request_id,
            client_request_id,
            date: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
        }
    }
}

/// A Graph error: status, `code`, `message`, optional `details` and extra `innerError` fields.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Vec<Value>,
    pub inner_extra: Map<String, Value>,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
            details: Vec::new(),
            inner_extra: Map::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    /// The 404 Graph gives for a missing (or not yet replicated) directory object.
    pub fn not_found(id: &str) -> Self {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    }

    pub fn forbidden() -> Self {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    pub fn invalid_json() -> Self {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }

    pub fn method_not_allowed() -> Self {
        GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request uri.",
        )
    }

    pub fn unknown_segment(segment: &str) -> Self {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    pub fn with_details(mut self, details: Vec<Value>) -> Self {
        self.details = details;
        self
    }

    fn body(&self, ids: &RequestIds) -> Value {
        let mut inner = self.inner_extra.clone();
        inner.insert("date".into(), json!(ids.date));
        inner.insert("request-id".into(), json!(ids.request_id));
        inner.insert("client-request-id".into(), json!(ids.client_request_id));
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        if !self.details.is_empty() {
            error.insert("details".into(), Value::Array(self.details.clone()));
        }
        error.insert("innerError".into(), Value::Object(inner));
        json!({ "error": error })
    }
}

/// A handler's answer before the correlation headers are added.
#[derive(Debug)]
pub enum Reply {
    Json(StatusCode, Value),
    NoContent,
    Error(GraphError),
    /// A non-Graph JSON body with extra headers (token endpoint, 429/503 with Retry-After).
    Raw {
        status: StatusCode,
        body: Value,
        headers: Vec<(HeaderName, String)>,
    },
}

impl From<GraphError> for Reply {
    fn from(e: GraphError) -> Self {
        Reply::Error(e)
    }
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply::Json(StatusCode::OK, body)
    }

    pub fn created(body: Value) -> Self {
        Reply::Json(StatusCode::CREATED, body)
    }

    /// The HTTP status this reply will carry (for logs).
    pub fn status(&self) -> StatusCode {
        match self {
            Reply::Json(s, _) => *s,
            Reply::NoContent => StatusCode::NO_CONTENT,
            Reply::Error(e) => e.status,
            Reply::Raw { status, .. } => *status,
        }
    }

    /// Render with `request-id` / `client-request-id` headers (and in the error body).
    pub fn into_response(self, ids: &RequestIds) -> Response {
        let mut response = match self {
            Reply::Json(status, body) => (status, axum::Json(body)).into_response(),
            Reply::NoContent => StatusCode::NO_CONTENT.into_response(),
            Reply::Error(e) => {
                let body = e.body(ids);
                (e.status, axum::Json(body)).into_response()
            }
            Reply::Raw {
                status,
                body,
                headers,
            } => {
                let mut r = (status, axum::Json(body)).into_response();
                for (name, value) in headers {
                    if let Ok(v) = HeaderValue::from_str(&value) {
                        r.headers_mut().insert(name, v);
                    }
                }
                r
            }
        };
        let h = response.headers_mut();
        for (name, value) in [
            ("request-id", &ids.request_id),
            ("client-request-id", &ids.client_request_id),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(HeaderName::from_static(name), v);
            }
        }
        response
    }

    /// The 429 Graph sends when throttling, shaped like Microsoft's sample.
    pub fn throttled(ids: &RequestIds, retry_after: Option<String>) -> Reply {
        let body = json!({"error": {
            "code": "TooManyRequests",
            "message": "Please retry again later.",
            "innerError": {
                "code": "429",
                "date": ids.date,
                "message": "Please retry after",
                "request-id": ids.request_id,
                "client-request-id": ids.client_request_id,
                "status": "429",
            }
        }});
        Reply::Raw {
            status: StatusCode::TOO_MANY_REQUESTS,
            body,
            headers: retry_after_header(retry_after),
        }
    }

    /// The 503 Graph sends when a backend is briefly unavailable.
    pub fn unavailable(ids: &RequestIds, retry_after: Option<String>) -> Reply {
        let mut err = GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry after a delay.",
        );
        err.inner_extra.insert("status".into(), json!("503"));
        Reply::Raw {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: err.body(ids),
            headers: retry_after_header(retry_after),
        }
    }
}

fn retry_after_header(value: Option<String>) -> Vec<(HeaderName, String)> {
    value
        .map(|v| vec![(axum::http::header::RETRY_AFTER, v)])
        .unwrap_or_default()
}

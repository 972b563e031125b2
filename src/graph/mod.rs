//! Microsoft Graph: the client (tokens, `client-request-id`, retries bounded by the run's
//! deadline, paging), the error type with Graph's code/message/request ids, the one table
//! that classifies errors, and typed models of the few objects the tool touches.

mod api;
pub mod classify;
mod client;
mod endpoints;
pub mod error;
pub mod models;
pub mod odata;

/// Pacing of Graph retries; the rules live in [`crate::retry`], shared with the token requests.
pub use crate::retry::GraphRetryPolicy as RetryPolicy;
pub use api::ApplicationPatch;
pub use classify::{classify, ErrorClass};
pub use client::{decode_body, GraphClient, Replay, MAX_COLLECTION_PAGES};
pub use endpoints::{parse_duration, EndpointArgs};
pub use error::{ApiError, GraphError};

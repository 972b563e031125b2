//! msgraph-keystore: provision the Elasticsearch `microsoft_graph` authorization realm's
//! Entra ID application through Microsoft Graph, and write `elasticsearch.keystore`
//! (formats 3–6, Elasticsearch 6.3 to 9.x) without Java.
//!
//! Data flows one way (see `docs/architecture.md`): `auth` → `graph` → `provision` produce
//! the app's identifiers and secret; `esconfig` and `keystore` know nothing about Azure;
//! `setup` is the only place that joins them, and `cli` only parses and renders.

pub mod auth;
pub mod cli;
pub mod cloud;
pub mod esconfig;
pub mod exit;
/// Crash-safe file replacement (moved to the `es-keystore` crate; the path stays).
pub use es_keystore::fsutil;
pub mod graph;
pub mod http_body;
pub mod k8s;
pub mod keystore_ops;
/// `elasticsearch.keystore`: the `es-keystore` crate, under its old path.
pub use es_keystore as keystore;
pub mod net;
pub mod provision;
pub mod realm_check;
pub mod retry;
pub mod secret;
pub mod secret_file;
pub mod setup;

//! Getting an access token for Microsoft Graph: one trait, several sources.
//!
//! (Module owned by the auth work; this file fixes the contract the Graph client uses.)

use std::time::SystemTime;

use crate::secret::SecretString;

/// A bearer token and when it stops being valid.
pub struct AccessToken {
    pub token: SecretString,
    pub expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Other(String),
}

/// Anything that can hand out Graph access tokens.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    /// What this source is, for the "authenticating with …" line (never a secret).
    fn describe(&self) -> String;
    /// A token valid for `scope` (e.g. `https://graph.microsoft.com/.default`).
    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError>;
}

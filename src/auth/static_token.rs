//! A ready-made access token from a file (`--access-token-file`), for when the token comes
//! from somewhere this program does not know (a pipeline step, a vault agent).

use std::path::PathBuf;
use std::time::SystemTime;

use super::files::{read_credential_file, Trim};
use super::{jwt, AccessToken, AuthError, TokenSource};
use crate::secret::{SecretString, Zeroizing};

/// A [`TokenSource`] that reads the token from a file on every request, so whatever writes
/// the file can refresh it while a long run is going on.
pub struct StaticTokenSource {
    path: PathBuf,
}

impl StaticTokenSource {
    pub fn new(path: PathBuf) -> Self {
        StaticTokenSource { path }
    }
}

#[async_trait::async_trait]
impl TokenSource for StaticTokenSource {
    fn describe(&self) -> String {
        format!("access token from file {}", self.path.display())
    }

    /// The scope is not checked: the token is whatever the file holds.
    async fn token(&self, _scope: &str) -> Result<AccessToken, AuthError> {
        let token: Zeroizing<String> = read_credential_file(
            "--access-token-file",
            &self.path,
            Trim::Whitespace,
            "write a Microsoft Graph access token into it",
        )?;
        // Opaque tokens are allowed; a JWT's expiry is only used to give a clear message
        // instead of Graph's 401.
        let expires_at = jwt::expires_at(&token).ok().flatten();
        if let Some(at) = expires_at {
            if at <= SystemTime::now() {
                return Err(AuthError::TokenFileExpired {
                    path: self.path.display().to_string(),
                    expired_at: chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339(),
                });
            }
        }
        Ok(AccessToken {
            token: SecretString::from(token.as_str()),
            expires_at,
        })
    }
}

//! Keeping a token until shortly before it expires, so a run of a dozen Graph calls makes one
//! token request, not twelve.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::sync::Mutex;

use super::error::AuthError;
use super::AccessToken;
use crate::secret::SecretString;

/// A cached token is handed out only while it has at least this long to live, so a request
/// that starts with it cannot fail for expiry halfway through a slow provisioning step.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

struct Cached {
    token: SecretString,
    expires_at: SystemTime,
}

/// Tokens by scope.
#[derive(Default)]
pub(crate) struct TokenCache {
    // An async mutex held across the fetch: two concurrent callers wait for one request
    // instead of both asking the token endpoint.
    slots: Mutex<HashMap<String, Cached>>,
}

impl TokenCache {
    /// The cached token for `scope` if it is fresh enough, otherwise the result of `fetch`
    /// (kept when it says when it expires).
    pub async fn get_or_fetch<F, Fut>(
        &self,
        scope: &str,
        fetch: F,
    ) -> Result<AccessToken, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, AuthError>>,
    {
        let mut slots = self.slots.lock().await;
        let now = SystemTime::now();
        if let Some(c) = slots.get(scope) {
            if c.expires_at > now + REFRESH_MARGIN {
                return Ok(AccessToken {
                    token: c.token.clone(),
                    expires_at: Some(c.expires_at),
                });
            }
        }
        slots.remove(scope);
        let fresh = fetch().await?;
        if let Some(expires_at) = fresh.expires_at {
            slots.insert(
                scope.to_string(),
                Cached {
                    token: fresh.token.clone(),
                    expires_at,
                },
            );
        }
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ExposeSecret;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn token(value: &str, ttl: Duration) -> AccessToken {
        AccessToken {
            token: SecretString::from(value),
            expires_at: Some(SystemTime::now() + ttl),
        }
    }

    #[tokio::test]
    async fn reuses_until_the_margin() {
        let cache = TokenCache::default();
        let calls = AtomicU32::new(0);
        for _ in 0..3 {
            let t = cache
                .get_or_fetch("s", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(token("long", Duration::from_secs(3600)))
                })
                .await
                .unwrap();
            assert_eq!(t.token.expose_secret(), "long");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // A token inside the margin is never reused.
        for _ in 0..2 {
            cache
                .get_or_fetch("short", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(token("short", Duration::from_secs(60)))
                })
                .await
                .unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}

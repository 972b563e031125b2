//! When to try a token request again, and how long to wait first.
//!
//! The rule is the one Microsoft's SDK retry handler uses: wait what `Retry-After` says
//! (seconds, possibly fractional like `2.128`, or an HTTP date); without it, back off
//! exponentially with jitter, capped; never wait past the overall deadline.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// Bounds on retrying one token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Give up (and report throttling) once this much time has passed since the first attempt.
    pub deadline: Duration,
    /// First backoff when the server gives no `Retry-After`.
    pub initial_backoff: Duration,
    /// Largest backoff between two attempts.
    pub max_backoff: Duration,
    /// How many times a connection failure or timeout is retried (a wrong host should fail
    /// fast, a dropped connection should not fail the run).
    pub max_network_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            deadline: Duration::from_secs(60),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_network_retries: 2,
        }
    }
}

/// Longest wait a `Retry-After` value is taken at face value for; anything longer is past
/// every deadline we use anyway, and this keeps the float conversion in range.
const RETRY_AFTER_CEILING: Duration = Duration::from_secs(24 * 3600);

/// Parse a `Retry-After` header: a number of seconds (fractions allowed) or an HTTP date.
/// A date in the past means "now". Returns `None` for anything else.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(
                secs.min(RETRY_AFTER_CEILING.as_secs_f64()),
            ));
        }
        return None;
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(RETRY_AFTER_CEILING),
    )
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1` (attempt counts from 1): `initial × 2^(attempt-1)`,
    /// capped, then a random point in its upper half so parallel clients spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let full = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let half = full / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        if jitter_ms == 0 {
            return full;
        }
        half + Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_ms))
    }
}

/// Statuses worth retrying on any token endpoint: throttling and server trouble (501 "not
/// implemented" will not get better).
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 429 || status == 408 || (status >= 500 && status != 501)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_fractions() {
        let now = SystemTime::now();
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after(" 2.128 ", now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(retry_after("-1", now), None);
        assert_eq!(retry_after("NaN", now), None);
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("1e300", now), Some(RETRY_AFTER_CEILING));
    }

    #[test]
    fn http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            ..RetryPolicy::default()
        };
        for attempt in 1..40 {
            let full = Duration::from_secs(1u64 << (attempt - 1).min(3));
            let b = p.backoff(attempt);
            assert!(b >= full / 2 && b <= full, "attempt {attempt}: {b:?}");
        }
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 408, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 501] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }
}

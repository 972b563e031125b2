//! Retrying, and every number a server sends about time: the one place for both.
//!
//! Token requests (`auth`) and Graph calls (`graph`) share the rules here: how long to back
//! off (exponential, capped, jittered), how to read `Retry-After` (seconds, fractions allowed
//! as Graph sends `2.128`, or an HTTP date), and when to stop: a wait that would pass the
//! deadline is not started — the caller gives up at once and says why.
//!
//! A server can send any number. Nothing here adds an unchecked duration to a clock:
//! every server value is parsed into a bounded [`Duration`] or [`SystemTime`] first
//! ([`MAX_WAIT`], [`MAX_TOKEN_LIFETIME`], [`latest_time`]), so neither `Instant + Duration`
//! nor `SystemTime + Duration` can overflow, and no formatting of a date can go out of range.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;

/// Longest wait a `Retry-After` is taken at face value for. Every deadline the tool uses is
/// far shorter, so a longer value only ever means "give up now"; the bound keeps the float
/// conversion and the clock arithmetic in range.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Longest lifetime a token answer's `expires_in` is believed for. Entra ID tokens live 1–24 h
/// (managed identity up to 24 h); a longer claim only makes the cache keep the token for a
/// day of the run instead of "forever".
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// 9999-12-31T23:59:59Z in Unix seconds: the last instant every date type and format the
/// tool uses (chrono, RFC 3339, HTTP dates) can hold.
const LATEST_UNIX_SECS: u64 = 253_402_300_799;

/// The latest point in time a server-supplied date is taken as (see [`LATEST_UNIX_SECS`]).
pub fn latest_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(LATEST_UNIX_SECS)
}

/// Pacing for one token request (`auth`): its own time budget, since a token is asked for
/// before any Graph deadline exists (and `verify` has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRetryPolicy {
    /// Give up once this much time has passed since the first attempt, and never start a
    /// wait that would end after it.
    pub deadline: Duration,
    /// First backoff when the server gives no `Retry-After`.
    pub initial_backoff: Duration,
    /// Largest backoff between two attempts.
    pub max_backoff: Duration,
    /// How many times a connection failure or timeout is retried (a wrong host should fail
    /// fast, a dropped connection should not fail the run).
    pub max_network_retries: u32,
}

impl Default for TokenRetryPolicy {
    fn default() -> Self {
        TokenRetryPolicy {
            deadline: Duration::from_secs(60),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_network_retries: 2,
        }
    }
}

impl TokenRetryPolicy {
    /// The wait before retry number `retry` (0-based); see [`backoff`].
    pub fn backoff(&self, retry: u32) -> Duration {
        backoff(self.initial_backoff, self.max_backoff, retry)
    }
}

/// Pacing for Graph calls and replication polling (`graph`, `provision`). Their deadline is
/// the run's (`--timeout`), held by the Graph client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRetryPolicy {
    /// First backoff when Graph gives no `Retry-After` (doubles each attempt).
    pub initial_backoff: Duration,
    /// Longest single backoff.
    pub max_backoff: Duration,
    /// Successful reads of a new object before it counts as replicated (terraform uses 5;
    /// replication is per-replica, so one success proves little). The provisioning flow
    /// sends them together, as one round.
    pub consistent_reads: u32,
    /// Pause between the reads that look for an object whose create request lost its
    /// answer (it may take a while to show up anywhere).
    pub consistent_read_interval: Duration,
}

impl Default for GraphRetryPolicy {
    fn default() -> Self {
        GraphRetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
            consistent_reads: 3,
            consistent_read_interval: Duration::from_secs(1),
        }
    }
}

impl GraphRetryPolicy {
    /// The wait before retry number `retry` (0-based); see [`backoff`].
    pub fn backoff(&self, retry: u32) -> Duration {
        backoff(self.initial_backoff, self.max_backoff, retry)
    }
}

/// The wait before retry number `retry` (0-based): `initial × 2^retry`, capped at `max`, then
/// a random point in its upper half, so parallel clients spread out without ever retrying
/// at once.
pub fn backoff(initial: Duration, max: Duration, retry: u32) -> Duration {
    let full = initial
        .saturating_mul(2u32.saturating_pow(retry.min(20)))
        .min(max);
    let half = full / 2;
    let spread = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
    half.saturating_add(Duration::from_nanos(
        rand::thread_rng().gen_range(0..=spread),
    ))
}

/// Statuses worth retrying on a token endpoint: throttling and server trouble (501 "not
/// implemented" will not get better).
pub fn is_retryable_token_status(status: u16) -> bool {
    status == 429 || status == 408 || (status >= 500 && status != 501)
}

/// Parse a `Retry-After` header: a number of seconds (fractions allowed) or an HTTP date.
/// A date in the past means "now"; anything longer than [`MAX_WAIT`] is [`MAX_WAIT`].
/// `None` for anything else (negative, NaN, not a number or date), so the caller backs off.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return value.parse::<f64>().ok().and_then(|s| seconds(s, MAX_WAIT));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_WAIT),
    )
}

/// `secs` as a duration of at most `max`; `None` when negative or not a number.
pub fn seconds(secs: f64, max: Duration) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    if secs >= max.as_secs_f64() {
        return Some(max);
    }
    Duration::try_from_secs_f64(secs).ok()
}

/// Text holding a number of seconds (`"3599"`, `" 2.5 "`) as a duration of at most `max`.
pub fn parse_seconds(text: &str, max: Duration) -> Option<Duration> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| seconds(s, max))
}

/// `now + lifetime` for a lifetime a server gave (`expires_in`), at most
/// [`MAX_TOKEN_LIFETIME`] from now.
pub fn expiry_after(now: SystemTime, lifetime: Duration) -> SystemTime {
    now.checked_add(lifetime.min(MAX_TOKEN_LIFETIME))
        .unwrap_or(now)
}

/// A Unix time in seconds a server gave (`expires_on`, JWT `exp`) as a point in time;
/// `None` when negative or not a number, [`latest_time`] when later than that.
pub fn unix_time(secs: f64) -> Option<SystemTime> {
    let since_epoch = seconds(secs, Duration::from_secs(LATEST_UNIX_SECS))?;
    SystemTime::UNIX_EPOCH.checked_add(since_epoch)
}

/// Where a wait came from, for the message when it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// The server's `Retry-After`.
    RetryAfter,
    /// Our own backoff.
    Backoff,
}

/// A wait that was not started because it would end after the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTooLong {
    pub wait: Duration,
    pub reason: WaitReason,
    /// Time left before the deadline when the wait was refused.
    pub left: Duration,
}

impl WaitTooLong {
    /// True when no time at all was left: the deadline had passed (even a zero wait, e.g. a
    /// `Retry-After` date in the past, is then refused, so a loop cannot spin on).
    pub fn deadline_passed(&self) -> bool {
        self.left.is_zero()
    }

    /// The reason in words: `who` sent the `Retry-After`, `deadline` names the limit, e.g.
    /// "Microsoft Graph asked to wait more than 24 h (Retry-After) before trying again, more
    /// than the 59 s left before the --timeout deadline".
    pub fn describe(&self, who: &str, deadline: &str) -> String {
        if self.deadline_passed() {
            return format!("{deadline} passed");
        }
        match self.reason {
            WaitReason::RetryAfter => format!(
                "{who} asked to wait {} (Retry-After) before trying again, more than the {} left before {deadline}",
                show(self.wait),
                show(self.left)
            ),
            WaitReason::Backoff => format!(
                "the next retry, {} from now, would come after {deadline} ({} left)",
                show(self.wait),
                show(self.left)
            ),
        }
    }
}

impl fmt::Display for WaitTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("the server", "the deadline"))
    }
}

/// A duration for messages: "more than 24 h" for a clamped `Retry-After`, else seconds.
fn show(d: Duration) -> String {
    if d >= MAX_WAIT {
        "more than 24 h".to_string()
    } else if d >= Duration::from_secs(10) {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// Attempt counting and the deadline check for one retry loop.
#[derive(Debug)]
pub struct Retries {
    started: Instant,
    /// Time budget from `started`; a `Duration` rather than an `Instant` so no clock
    /// arithmetic can overflow whatever the budget.
    budget: Duration,
    retries: u32,
}

impl Retries {
    /// A loop that may run until `budget` has passed from now.
    pub fn within(budget: Duration) -> Retries {
        Retries {
            started: Instant::now(),
            budget,
            retries: 0,
        }
    }

    /// A loop that may run until `deadline`.
    pub fn until(deadline: Instant) -> Retries {
        Retries::within(deadline.saturating_duration_since(Instant::now()))
    }

    /// Retries made so far (0 before the first retry): the exponent for [`backoff`].
    pub fn count(&self) -> u32 {
        self.retries
    }

    /// Time since the loop started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Time left before the deadline.
    pub fn left(&self) -> Duration {
        self.budget.saturating_sub(self.started.elapsed())
    }

    /// Decide on the next wait: the server's `Retry-After` if it sent one, else `backoff`
    /// for this retry. A wait that would end after the deadline is refused; otherwise the
    /// retry is counted and the wait returned for the caller to sleep.
    pub fn next_wait(
        &mut self,
        retry_after: Option<Duration>,
        backoff: impl FnOnce(u32) -> Duration,
    ) -> Result<Duration, WaitTooLong> {
        let (wait, reason) = match retry_after {
            Some(w) => (w, WaitReason::RetryAfter),
            None => (backoff(self.retries), WaitReason::Backoff),
        };
        let left = self.left();
        if wait > left || left.is_zero() {
            return Err(WaitTooLong { wait, reason, left });
        }
        self.retries = self.retries.saturating_add(1);
        Ok(wait)
    }
}

/// `start + d`, held to what the clock can represent: for deadlines computed from user
/// settings (`--timeout 1e15`), which must not panic either.
pub fn deadline_after(start: Instant, d: Duration) -> Instant {
    // An `Instant` cannot be made "infinitely late"; a century is later than any run.
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    start
        .checked_add(d.min(CENTURY))
        .or_else(|| start.checked_add(Duration::from_secs(24 * 3600)))
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_fractions() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 2.128 ", now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        for huge in [
            "1e19",
            "10000000000000000000",
            "18446744073709551616",
            &"9".repeat(400),
        ] {
            let expect = if huge.contains('e') {
                None
            } else {
                Some(MAX_WAIT)
            };
            assert_eq!(parse_retry_after(huge, now), expect, "{huge}");
        }
    }

    #[test]
    fn retry_after_rejects_garbage_and_negatives() {
        let now = SystemTime::now();
        for bad in [
            "", "soon", "-1", "-0", "+3", "NaN", "inf", "1e3", "0x10", "1.2.3", ".", "3 s",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_WAIT)
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered_into_the_upper_half() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_millis(1000));
        for _ in 0..50 {
            let first = backoff(initial, max, 0);
            assert!(first >= Duration::from_millis(50) && first <= initial);
            let third = backoff(initial, max, 2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            for late in [40, u32::MAX] {
                let b = backoff(initial, max, late);
                assert!(b >= Duration::from_millis(500) && b <= max);
            }
        }
        assert_eq!(backoff(Duration::ZERO, max, 3), Duration::ZERO);
        let b = backoff(Duration::MAX, Duration::MAX, u32::MAX);
        assert!(b >= Duration::MAX / 2);
    }

    #[test]
    fn retryable_token_statuses() {
        for s in [429, 408, 500, 502, 503, 504] {
            assert!(is_retryable_token_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 501] {
            assert!(!is_retryable_token_status(s), "{s}");
        }
    }

    #[test]
    fn server_seconds_and_times_are_bounded() {
        assert_eq!(seconds(-1.0, MAX_WAIT), None);
        assert_eq!(seconds(f64::NAN, MAX_WAIT), None);
        assert_eq!(seconds(f64::INFINITY, MAX_WAIT), Some(MAX_WAIT));
        assert_eq!(seconds(1e19, MAX_WAIT), Some(MAX_WAIT));
        assert_eq!(seconds(-0.0, MAX_WAIT), Some(Duration::ZERO));
        assert_eq!(
            parse_seconds(" 3599 ", MAX_TOKEN_LIFETIME),
            Some(Duration::from_secs(3599))
        );
        assert_eq!(parse_seconds("soon", MAX_TOKEN_LIFETIME), None);
        let now = SystemTime::now();
        assert_eq!(expiry_after(now, Duration::MAX), now + MAX_TOKEN_LIFETIME);
        assert_eq!(unix_time(1e300), Some(latest_time()));
        assert_eq!(unix_time(-5.0), None);
        assert_eq!(
            unix_time(1_893_456_000.0),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000))
        );
        // The latest time still converts to a calendar date.
        let _ = chrono::DateTime::<chrono::Utc>::from(latest_time()).to_rfc3339();
        let _ = httpdate::fmt_http_date(latest_time());
    }

    #[test]
    fn a_wait_past_the_deadline_is_refused_and_not_counted() {
        let mut r = Retries::within(Duration::from_secs(5));
        let e = r
            .next_wait(Some(MAX_WAIT), |_| Duration::ZERO)
            .expect_err("too long");
        assert_eq!(e.reason, WaitReason::RetryAfter);
        assert!(
            e.to_string().contains("more than 24 h (Retry-After)"),
            "{e}"
        );
        assert_eq!(r.count(), 0);
        assert_eq!(
            r.next_wait(None, |n| Duration::from_millis(u64::from(n))),
            Ok(Duration::ZERO)
        );
        assert_eq!(
            r.next_wait(None, |n| Duration::from_millis(u64::from(n))),
            Ok(Duration::from_millis(1))
        );
        assert_eq!(r.count(), 2);
        let e = r
            .next_wait(None, |_| Duration::from_secs(6))
            .expect_err("backoff too long");
        assert_eq!(e.reason, WaitReason::Backoff);
        let mut past = Retries::until(Instant::now() - Duration::from_secs(1));
        assert_eq!(past.left(), Duration::ZERO);
        // Even a zero wait is refused once the deadline passed, so no loop spins on.
        let e = past
            .next_wait(Some(Duration::ZERO), |_| Duration::ZERO)
            .expect_err("deadline passed");
        assert!(e.deadline_passed());
        assert_eq!(e.to_string(), "the deadline passed");
    }

    #[test]
    fn deadlines_from_huge_settings_do_not_overflow() {
        let now = Instant::now();
        assert!(deadline_after(now, Duration::MAX) > now);
        assert_eq!(
            deadline_after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }
}

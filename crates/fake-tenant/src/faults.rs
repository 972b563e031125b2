//! Fault knobs and the deterministic schedule that turns them into per-request decisions.
//!
//! Every periodic knob counts over one sequence: the Graph requests received since the
//! tenant started or since the last `set_faults`, numbered from 1. Being a pure function of
//! that number (no randomness) keeps tests exact; a soak test gets variety by choosing the
//! knobs at random instead.

use std::time::{Duration, SystemTime};

/// What the fake tenant does wrong, on purpose. `Faults::default()` is a well-behaved tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added before every response (Graph and token endpoint).
    pub latency: Duration,
    /// Every Nth Graph request starts a burst of `throttle_burst` consecutive 429s.
    pub throttle_every: Option<u32>,
    /// Length of each 429 burst (0 is treated as 1).
    pub throttle_burst: u32,
    /// Every Nth Graph request answers 503 `serviceNotAvailable`.
    pub unavailable_every: Option<u32>,
    /// The `Retry-After` value sent with 429/503, in seconds; 0 leaves the header out.
    pub retry_after_secs: f64,
    /// Send `Retry-After` as an HTTP date (now + `retry_after_secs`, rounded up) instead of seconds.
    pub retry_after_http_date: bool,
    /// Every Nth Graph request: the connection is closed without a response.
    pub drop_connection_every: Option<u32>,
    /// With `drop_connection_every`: apply the request first, then drop the connection, so the
    /// client cannot know whether its write happened (the hard case for idempotency).
    pub drop_after_processing: bool,
    /// A newly created application or service principal answers 404 `Request_ResourceNotFound`
    /// to its next N reads: by id, by `appId`/`id` filter, or as a reference in another call.
    pub replication_reads: u32,
    /// The first N `appRoleAssignedTo` POSTs naming a new service principal as principal fail
    /// with 400 "Not a valid reference update." (after its replication reads are used up).
    pub not_valid_reference: u32,
    /// A new client secret is refused by the token endpoint (AADSTS7000215) N times.
    pub secret_replication_failures: u32,
    /// `false`: the caller may not grant admin consent (`appRoleAssignedTo` POST → 403).
    pub caller_can_consent: bool,
    /// Tenant app-management policy: secrets living longer than this are refused (400).
    pub max_secret_lifetime_days: Option<u32>,
    /// Largest page a list returns (Graph's own cap is 999, what `$top` may ask for); smaller
    /// values force `@odata.nextLink` paging. A request without `$top` gets at most 100 items,
    /// Graph's default page.
    pub page_size: usize,
    /// A service principal created through Graph is refused by the token endpoint N times
    /// with AADSTS7000229 ("missing service principal": not replicated to the login service).
    pub sp_replication_failures: u32,
    /// An app-role assignment made through Graph is left out of the next N tokens issued to
    /// its principal (the grant has not reached the token service yet).
    pub grant_replication_tokens: u32,
    /// After an app-role assignment made through Graph, the principal's next N user and
    /// membership reads answer 403 (the grant has not reached Graph's authorization yet).
    pub grant_forbidden_reads: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency: Duration::ZERO,
            throttle_every: None,
            throttle_burst: 1,
            unavailable_every: None,
            retry_after_secs: 1.0,
            retry_after_http_date: false,
            drop_connection_every: None,
            drop_after_processing: false,
            replication_reads: 0,
            not_valid_reference: 0,
            secret_replication_failures: 0,
            caller_can_consent: true,
            max_secret_lifetime_days: None,
            page_size: 999,
            sp_replication_failures: 0,
            grant_replication_tokens: 0,
            grant_forbidden_reads: 0,
        }
    }
}

/// What happens to one Graph request before (or after) it is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    /// Handle it normally.
    Nothing,
    /// Close the connection without handling it.
    DropBefore,
    /// Handle it, then close the connection instead of answering.
    DropAfter,
    /// Answer 429 Too Many Requests.
    Throttle,
    /// Answer 503 Service Unavailable.
    Unavailable,
}

impl Faults {
    /// The decision for the `seq`-th Graph request (1-based). When several knobs hit the same
    /// request, a dropped connection wins over 429, and 429 over 503.
    pub(crate) fn decide(&self, seq: u64) -> Injected {
        if hits(self.drop_connection_every, seq) {
            return if self.drop_after_processing {
                Injected::DropAfter
            } else {
                Injected::DropBefore
            };
        }
        if let Some(every) = self.throttle_every.filter(|n| *n > 0) {
            // A cycle is `every - 1` good requests followed by a burst, so N=3, burst=2 gives
            // ok ok 429 429 ok ok 429 429 …; N=1 throttles everything.
            let burst = u64::from(self.throttle_burst.max(1));
            let cycle = u64::from(every) - 1 + burst;
            if (seq.saturating_sub(1)) % cycle >= u64::from(every) - 1 {
                return Injected::Throttle;
            }
        }
        if hits(self.unavailable_every, seq) {
            return Injected::Unavailable;
        }
        Injected::Nothing
    }

    /// The `Retry-After` header value for a 429/503, or `None` to leave it out.
    pub(crate) fn retry_after_header(&self, now: SystemTime) -> Option<String> {
        let secs = self.retry_after_secs;
        if !(secs.is_finite() && secs > 0.0) {
            return None;
        }
        if self.retry_after_http_date {
            // HTTP dates have whole-second resolution and formatting truncates: round the
            // instant up to the next whole second so a client that honours the date never
            // retries before the delay it was asked to wait (it waits secs..secs+1).
            // Clamped so an absurd knob value cannot overflow the clock arithmetic.
            let at = now + Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER_SECS));
            let since_epoch = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            let whole = since_epoch.as_secs() + u64::from(since_epoch.subsec_nanos() > 0);
            Some(httpdate::fmt_http_date(
                SystemTime::UNIX_EPOCH + Duration::from_secs(whole),
            ))
        } else {
            Some(format!("{secs}"))
        }
    }

    /// The page size actually used (a zero would make paging loop forever).
    pub(crate) fn effective_page_size(&self) -> usize {
        self.page_size.max(1)
    }
}

/// Longest `Retry-After` date the fake will compute (one day).
const MAX_RETRY_AFTER_SECS: f64 = 86_400.0;

fn hits(every: Option<u32>, seq: u64) -> bool {
    matches!(every, Some(n) if n > 0 && seq.is_multiple_of(u64::from(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(f: &Faults, n: u64) -> Vec<Injected> {
        (1..=n).map(|seq| f.decide(seq)).collect()
    }

    #[test]
    fn default_injects_nothing() {
        let f = Faults::default();
        assert!(schedule(&f, 50).iter().all(|d| *d == Injected::Nothing));
        assert!(f.caller_can_consent);
        assert_eq!(f.page_size, 999);
    }

    #[test]
    fn throttle_every_third_with_bursts_of_two() {
        use Injected::*;
        let f = Faults {
            throttle_every: Some(3),
            throttle_burst: 2,
            ..Faults::default()
        };
        assert_eq!(
            schedule(&f, 8),
            vec![Nothing, Nothing, Throttle, Throttle, Nothing, Nothing, Throttle, Throttle]
        );
        let every_one = Faults {
            throttle_every: Some(1),
            ..Faults::default()
        };
        assert!(schedule(&every_one, 5).iter().all(|d| *d == Throttle));
    }

    #[test]
    fn drop_beats_throttle_beats_unavailable() {
        let f = Faults {
            drop_connection_every: Some(4),
            throttle_every: Some(2),
            unavailable_every: Some(3),
            ..Faults::default()
        };
        assert_eq!(f.decide(4), Injected::DropBefore);
        assert_eq!(f.decide(2), Injected::Throttle);
        assert_eq!(f.decide(3), Injected::Unavailable);
        assert_eq!(f.decide(1), Injected::Nothing);
        let after = Faults {
            drop_after_processing: true,
            ..f
        };
        assert_eq!(after.decide(8), Injected::DropAfter);
    }

    #[test]
    fn retry_after_as_seconds_or_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_700);
        let secs = Faults {
            retry_after_secs: 0.05,
            ..Faults::default()
        };
        assert_eq!(secs.retry_after_header(now).as_deref(), Some("0.05"));
        let date = Faults {
            retry_after_secs: 1.5,
            retry_after_http_date: true,
            ..Faults::default()
        };
        let header = date.retry_after_header(now).unwrap_or_default();
        let parsed = httpdate::parse_http_date(&header).unwrap_or(SystemTime::UNIX_EPOCH);
        // 0.7 + 1.5 = 2.2 s past a whole second: rounded up to 3, never down.
        assert_eq!(
            parsed,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_003)
        );
        let none = Faults {
            retry_after_secs: 0.0,
            ..Faults::default()
        };
        assert_eq!(none.retry_after_header(now), None);
    }
}

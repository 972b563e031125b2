//! The realm's two timeouts, read the way the realm reads them.
//!
//! `MicrosoftGraphAuthzRealmSettings` defines `http_request_timeout` (default 10s), used as
//! the OkHttp call timeout of the token and Graph clients after truncation to whole seconds
//! (`Duration.ofSeconds(timeout.seconds())`, where 0 means no limit), and `execution_timeout`
//! (default 30s), after which the whole lookup of one user is abandoned.

use std::time::Duration;

/// The realm's `http_request_timeout` when the yml does not set it.
pub const DEFAULT_HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The realm's `execution_timeout` when the yml does not set it.
pub const DEFAULT_EXECUTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest timeout we will wait on, whatever the yml says: a check that hangs for hours
/// proves nothing more than one that stops after ten minutes.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// How long the realm lets one request, and one whole lookup, take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealmTimeouts {
    /// Per HTTP call; `None` when the setting truncates to 0 s (no limit in the realm).
    pub http_request: Option<Duration>,
    /// Per principal: both calls and every page.
    pub execution: Duration,
}

impl Default for RealmTimeouts {
    fn default() -> Self {
        RealmTimeouts {
            http_request: Some(DEFAULT_HTTP_REQUEST_TIMEOUT),
            execution: DEFAULT_EXECUTION_TIMEOUT,
        }
    }
}

impl RealmTimeouts {
    /// From the yml values (`None`: not set). An error names the value that is not a
    /// time value.
    pub fn from_settings(
        http_request_timeout: Option<&str>,
        execution_timeout: Option<&str>,
    ) -> Result<RealmTimeouts, String> {
        let mut t = RealmTimeouts::default();
        if let Some(v) = http_request_timeout {
            let d = parse_time_value(v)?;
            // The realm keeps whole seconds only.
            let secs = d.as_secs();
            t.http_request = (secs > 0).then(|| Duration::from_secs(secs).min(MAX_TIMEOUT));
        }
        if let Some(v) = execution_timeout {
            let d = parse_time_value(v)?;
            if d.is_zero() {
                return Err(format!("`{v}` must be longer than zero"));
            }
            t.execution = d.min(MAX_TIMEOUT);
        }
        Ok(t)
    }

    /// The per-request limit we apply: the realm's, or the execution timeout when the realm
    /// has none.
    pub fn per_request(&self) -> Duration {
        self.http_request
            .unwrap_or(self.execution)
            .min(self.execution)
    }
}

/// An Elasticsearch time value: a number with one of the units `nanos`, `micros`, `ms`, `s`,
/// `m`, `h`, `d` (`10s`, `500ms`, `1.5m`), or a bare `0`.
pub fn parse_time_value(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("`{text}` is not a time value; use e.g. 10s, 500ms or 1m"))?;
    let seconds = match unit.trim().to_ascii_lowercase().as_str() {
        "nanos" => value / 1e9,
        "micros" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        "" => return Err(format!("`{text}` has no unit; use e.g. 10s, 500ms or 1m")),
        other => {
            return Err(format!(
                "`{text}` has an unknown unit `{other}`; use nanos, micros, ms, s, m, h or d"
            ))
        }
    };
    // Anything longer than the cap is the cap; this also keeps the conversion finite.
    Ok(Duration::from_secs_f64(
        seconds.min(MAX_TIMEOUT.as_secs_f64()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_yml_values() {
        let d = RealmTimeouts::from_settings(None, None).unwrap_or_default();
        assert_eq!(d.http_request, Some(Duration::from_secs(10)));
        assert_eq!(d.execution, Duration::from_secs(30));
        let t = RealmTimeouts::from_settings(Some("5s"), Some("1m")).unwrap_or_default();
        assert_eq!(t.http_request, Some(Duration::from_secs(5)));
        assert_eq!(t.execution, Duration::from_secs(60));
        // Whole seconds, as the realm truncates them; under a second means no limit.
        let t = RealmTimeouts::from_settings(Some("2500ms"), None).unwrap_or_default();
        assert_eq!(t.http_request, Some(Duration::from_secs(2)));
        let t = RealmTimeouts::from_settings(Some("500ms"), Some("3s")).unwrap_or_default();
        assert_eq!(t.http_request, None);
        assert_eq!(t.per_request(), Duration::from_secs(3));
        assert!(RealmTimeouts::from_settings(Some("10"), None).is_err());
        assert!(RealmTimeouts::from_settings(None, Some("0")).is_err());
        assert!(RealmTimeouts::from_settings(Some("ten seconds"), None).is_err());
        assert_eq!(
            parse_time_value("99999999999d").ok(),
            Some(MAX_TIMEOUT),
            "bounded"
        );
    }
}

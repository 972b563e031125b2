//! The command-line flags that say where Entra ID and Microsoft Graph are and how long to
//! wait for them, shared by every command that talks to Graph.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cloud::{Cloud, Endpoints};
use crate::net::{check_endpoint, HttpOptions, NetError};

/// Endpoint and timing flags (flattened into provision, setup, verify, rotate, status).
#[derive(Debug, Clone, clap::Args)]
pub struct EndpointArgs {
    /// Microsoft cloud: sets the login host, Graph host, token scope and app template.
    #[arg(long, value_enum, default_value_t = Cloud::Global)]
    pub cloud: Cloud,
    /// Login endpoint root, as the realm's access_token_host setting [default: the cloud's, e.g. https://login.microsoftonline.com]
    #[arg(long, value_name = "URL")]
    pub access_token_host: Option<String>,
    /// Microsoft Graph root including the version, as the realm's graph_host setting [default: the cloud's, e.g. https://graph.microsoft.com/v1.0]
    #[arg(long, value_name = "URL")]
    pub graph_host: Option<String>,
    /// Extra PEM CA bundle to trust (SSL_CERT_FILE is honoured too).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Overall deadline for retries and replication waits (e.g. 300, 300s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Deadline for each single HTTP request (e.g. 30s).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
}

impl Default for EndpointArgs {
    fn default() -> Self {
        EndpointArgs {
            cloud: Cloud::Global,
            access_token_host: None,
            graph_host: None,
            ca_cert: None,
            timeout: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl EndpointArgs {
    /// The endpoints (cloud preset with the overrides applied and checked), the HTTP
    /// client options, and the deadline (`--timeout` from now).
    pub fn resolve(&self) -> Result<(Endpoints, HttpOptions, Instant), NetError> {
        let mut endpoints = self.cloud.endpoints();
        if let Some(host) = &self.access_token_host {
            endpoints.access_token_host = checked_root("--access-token-host", host)?;
        }
        if let Some(host) = &self.graph_host {
            endpoints.graph_host = checked_root("--graph-host", host)?;
        }
        let http = HttpOptions {
            request_timeout: self.request_timeout,
            connect_timeout: self
                .request_timeout
                .min(HttpOptions::default().connect_timeout),
            ca_cert: self.ca_cert.clone(),
        };
        // `--timeout 1e15` is a valid duration but past what an `Instant` can hold.
        let deadline = crate::retry::deadline_after(Instant::now(), self.timeout);
        Ok((endpoints, http, deadline))
    }
}

/// Check an endpoint flag and drop trailing slashes, so `{host}/{tenant}/…` and
/// `{graph}/applications` join cleanly and match the realm's own settings.
fn checked_root(flag: &str, value: &str) -> Result<String, NetError> {
    let trimmed = value.trim().trim_end_matches('/');
    check_endpoint(flag, trimmed)?;
    Ok(trimmed.to_string())
}

/// Parse a duration: a number of seconds (`300`), or a number with a unit `ms`, `s`, `m`,
/// `h` (`300s`, `5m`, `1.5h`). Zero and negative values are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; use e.g. 300, 300s, 5m or 1h"))?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" | "mins" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "`{text}` has an unknown unit `{other}`; use ms, s, m or h"
            ))
        }
    };
    if seconds <= 0.0 {
        return Err(format!("`{text}` must be longer than zero"));
    }
    // Every duration on the command line ends up added to the clock (`Instant + Duration`
    // panics on overflow): a day is longer than any wait this tool has a use for.
    if seconds > MAX_DURATION_SECS {
        return Err(format!("`{text}` is too long; use at most 24h"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is too long"))
}

/// The longest `--timeout`/`--wait`/`--verify-wait` accepted.
const MAX_DURATION_SECS: f64 = 24.0 * 3600.0;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn durations_are_bounded_so_adding_them_to_the_clock_cannot_overflow() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        for huge in ["1e15", "100000000000000000000", "25h", "86401"] {
            assert!(parse_duration(huge).is_err(), "{huge} was accepted");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("300s"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5").is_err());
        assert!(parse_duration("1e400").is_err());
    }

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        endpoints: EndpointArgs,
    }

    #[test]
    fn presets_and_overrides() {
        let w = Wrapper::try_parse_from(["x", "--cloud", "usgov-dod"]).unwrap();
        let (e, http, _) = w.endpoints.resolve().unwrap();
        assert_eq!(e.graph_host, "https://dod-graph.microsoft.us/v1.0");
        assert_eq!(http.request_timeout, Duration::from_secs(30));

        let w = Wrapper::try_parse_from([
            "x",
            "--graph-host",
            "http://127.0.0.1:8080/v1.0/",
            "--access-token-host",
            "http://localhost:8080/",
            "--timeout",
            "2m",
            "--request-timeout",
            "5",
        ])
        .unwrap();
        let before = Instant::now();
        let (e, http, deadline) = w.endpoints.resolve().unwrap();
        assert_eq!(e.graph_host, "http://127.0.0.1:8080/v1.0");
        assert_eq!(e.access_token_host, "http://localhost:8080");
        assert_eq!(e.scope, "https://graph.microsoft.com/.default");
        assert_eq!(http.request_timeout, Duration::from_secs(5));
        assert_eq!(http.connect_timeout, Duration::from_secs(5));
        assert!(deadline >= before + Duration::from_secs(120));
    }

    #[test]
    fn plain_http_to_a_remote_host_is_refused_naming_the_flag() {
        let w = Wrapper::try_parse_from(["x", "--graph-host", "http://graph.example.com/v1.0"])
            .unwrap();
        let err = w.endpoints.resolve().unwrap_err().to_string();
        assert!(err.contains("--graph-host"), "{err}");
    }

    #[test]
    fn bad_durations_are_usage_errors() {
        assert!(Wrapper::try_parse_from(["x", "--timeout", "soon"]).is_err());
    }
}

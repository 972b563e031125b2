//! The one place HTTP clients are built, so every request in the program gets the same
//! rules: HTTPS only (plain http for loopback test servers), a timeout on every call,
//! extra trusted CAs from `--ca-cert` / `SSL_CERT_FILE`, and no switch that turns
//! certificate verification off.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::exit::{ExitCode, UserFacing};

/// Settings shared by every HTTP client the program builds.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Per-request timeout (connect + response).
    pub request_timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Extra PEM CA bundle to trust, in addition to the system roots.
    pub ca_cert: Option<PathBuf>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ca_cert: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{setting} must be an https:// URL (plain http is only accepted for loopback addresses), got `{url}`")]
    InsecureUrl { setting: String, url: String },
    #[error("{setting} is not a valid URL: `{url}`")]
    BadUrl { setting: String, url: String },
    #[error("cannot read CA certificate file {path}: {reason}; pass a PEM file with --ca-cert")]
    CaCert { path: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl UserFacing for NetError {
    fn exit_code(&self) -> ExitCode {
        match self {
            NetError::CaCert { .. } => ExitCode::IoError,
            NetError::Client(_) => ExitCode::Software,
            _ => ExitCode::Usage,
        }
    }
}

/// Check that `url` is https, or http to a loopback address; `setting` names the flag or
/// setting the URL came from, for the error message.
pub fn check_endpoint(setting: &str, url: &str) -> Result<url::Url, NetError> {
    let parsed = url::Url::parse(url).map_err(|_| NetError::BadUrl {
        setting: setting.to_string(),
        url: url.to_string(),
    })?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback_host(&parsed) => Ok(parsed),
        "http" => Err(NetError::InsecureUrl {
            setting: setting.to_string(),
            url: url.to_string(),
        }),
        _ => Err(NetError::BadUrl {
            setting: setting.to_string(),
            url: url.to_string(),
        }),
    }
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Build a reqwest client with the program's rules. `SSL_CERT_FILE` is honoured by the
/// system-roots loader; `--ca-cert` adds one more bundle on top.
pub fn build_client(opts: &HttpOptions) -> Result<reqwest::Client, NetError> {
    let mut builder = reqwest::Client::builder()
        .timeout(opts.request_timeout)
        .connect_timeout(opts.connect_timeout)
        .user_agent(concat!("msgraph-keystore/", env!("CARGO_PKG_VERSION")))
        .https_only(false) // http is checked per endpoint by `check_endpoint` (loopback only)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &opts.ca_cert {
        let pem = std::fs::read(path).map_err(|e| NetError::CaCert {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| NetError::CaCert {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if certs.is_empty() {
            return Err(NetError::CaCert {
                path: path.display().to_string(),
                reason: "no PEM certificate found".to_string(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| NetError::Client(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_accepted_everywhere() {
        assert!(check_endpoint("--graph-host", "https://graph.microsoft.com/v1.0").is_ok());
    }

    #[test]
    fn http_only_for_loopback() {
        assert!(check_endpoint("--graph-host", "http://127.0.0.1:8080/v1.0").is_ok());
        assert!(check_endpoint("--graph-host", "http://localhost:8080").is_ok());
        assert!(check_endpoint("--graph-host", "http://[::1]:8080").is_ok());
        let err = check_endpoint("--graph-host", "http://graph.example.com/v1.0").unwrap_err();
        assert!(err.to_string().contains("--graph-host"), "{err}");
        assert!(check_endpoint("--graph-host", "http://10.0.0.1/").is_err());
        assert!(check_endpoint("--graph-host", "ftp://127.0.0.1/").is_err());
        assert!(check_endpoint("--graph-host", "not a url").is_err());
    }
}

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
    /// `origin` is where the path came from: `--ca-cert` or `SSL_CERT_FILE`.
    #[error("cannot use CA certificate file {path} ({origin}): {reason}; point {origin} at a PEM file holding the CA certificate(s)")]
    CaCert {
        origin: &'static str,
        path: String,
        reason: String,
    },
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

/// The environment variable naming a PEM bundle to trust instead of the system store.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// Build a reqwest client with the program's rules.
///
/// Trusted roots: the system store, or, when `SSL_CERT_FILE` (and/or `SSL_CERT_DIR`) is
/// set, the certificates found there instead (rustls-native-certs reads them, as OpenSSL
/// does); `--ca-cert` adds one more bundle on top of either. There is deliberately no
/// way to turn verification off: a test server uses a test CA instead.
pub fn build_client(opts: &HttpOptions) -> Result<reqwest::Client, NetError> {
    check_ssl_cert_file(std::env::var_os(SSL_CERT_FILE).as_deref())?;
    let mut builder = reqwest::Client::builder()
        .timeout(opts.request_timeout)
        .connect_timeout(opts.connect_timeout)
        .user_agent(concat!("msgraph-keystore/", env!("CARGO_PKG_VERSION")))
        .https_only(false) // http is checked per endpoint by `check_endpoint` (loopback only)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &opts.ca_cert {
        for cert in load_pem_bundle("--ca-cert", path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| NetError::Client(e.to_string()))
}

/// An unusable `SSL_CERT_FILE` does not stop the client from being built: the loader skips
/// it and the client ends up trusting nothing, so every HTTPS call would fail with a
/// puzzling "unknown issuer". Check it up front and say what is wrong instead.
fn check_ssl_cert_file(value: Option<&std::ffi::OsStr>) -> Result<(), NetError> {
    let Some(value) = value else {
        return Ok(());
    };
    if value.is_empty() {
        return Err(NetError::CaCert {
            origin: SSL_CERT_FILE,
            path: "\"\"".to_string(),
            reason: "the variable is set but empty".to_string(),
        });
    }
    load_pem_bundle(SSL_CERT_FILE, std::path::Path::new(value)).map(|_| ())
}

/// The certificates in the PEM file at `path`; at least one, or an error naming `origin`.
fn load_pem_bundle(
    origin: &'static str,
    path: &std::path::Path,
) -> Result<Vec<reqwest::Certificate>, NetError> {
    let failed = |reason: String| NetError::CaCert {
        origin,
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| failed(e.to_string()))?;
    if certs.is_empty() {
        return Err(failed("no PEM certificate found".to_string()));
    }
    Ok(certs)
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

    #[test]
    fn http_to_names_that_merely_look_local_is_refused() {
        for url in [
            "http://localhost.example.com/",
            "http://127.0.0.1.nip.io/",
            "http://localhost./",
            "http://0.0.0.0:8080/",
            "http://[::]:8080/",
            "http://[::ffff:10.0.0.1]/",
            "http://169.254.169.254/",
            "http://user@graph.example.com/",
        ] {
            let err = check_endpoint("--access-token-host", url).expect_err(url);
            assert!(matches!(err, NetError::InsecureUrl { .. }), "{url}: {err}");
            assert_eq!(err.exit_code(), ExitCode::Usage, "{url}");
            assert!(err.to_string().contains("--access-token-host"), "{err}");
        }
        // The whole 127/8 block is loopback; the scheme is case-insensitive.
        assert!(check_endpoint("--graph-host", "http://127.1.2.3:9/v1.0").is_ok());
        assert!(check_endpoint("--graph-host", "HTTP://LOCALHOST:9/").is_ok());
    }

    #[test]
    fn ca_files_must_hold_a_pem_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.pem");
        let err = load_pem_bundle("--ca-cert", &missing).expect_err("missing");
        assert!(err.to_string().contains("--ca-cert"), "{err}");
        assert!(err.to_string().contains("missing.pem"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::IoError);
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").expect("write");
        let err = load_pem_bundle(SSL_CERT_FILE, &junk).expect_err("junk");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        assert!(err.to_string().contains("SSL_CERT_FILE"), "{err}");
        let pki = fake_tenant::TestPki::generate().expect("pki");
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, &pki.ca_cert_pem).expect("write");
        assert_eq!(load_pem_bundle("--ca-cert", &good).expect("good").len(), 1);
    }

    #[test]
    fn an_unusable_ssl_cert_file_is_reported_not_ignored() {
        assert!(check_ssl_cert_file(None).is_ok());
        let empty = check_ssl_cert_file(Some(std::ffi::OsStr::new(""))).expect_err("empty");
        assert!(empty.to_string().contains("SSL_CERT_FILE"), "{empty}");
        let err = check_ssl_cert_file(Some(std::ffi::OsStr::new("/nonexistent/ca.pem")))
            .expect_err("missing");
        assert!(err.to_string().contains("SSL_CERT_FILE"), "{err}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}

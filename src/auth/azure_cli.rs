//! Borrowing the Azure CLI's sign-in: `az account get-access-token --scope … -o json`.
//!
//! The token is a delegated one for the signed-in person, issued to the Azure CLI's own
//! first-party app; it can do what that person's directory roles allow.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use chrono::TimeZone;
use serde::Deserialize;

use super::cache::TokenCache;
use super::oauth::{check_tenant, LooseNumber};
use super::{AccessToken, AuthError, TokenSource};
use crate::secret::{ExposeSecret, SecretString, Zeroizing};

/// `az` can be slow on a cold start (it is a Python program) and may refresh its own tokens;
/// past this it is stuck.
const AZ_TIMEOUT: Duration = Duration::from_secs(120);
/// How much of az's error line is worth showing.
const MAX_ERROR_LINE: usize = 300;

/// Find an executable called `az` in a `PATH`-style list of directories.
pub fn find_on_path(path_var: &str) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join("az"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(p: &Path) -> bool {
    match std::fs::metadata(p) {
        #[cfg(unix)]
        Ok(m) => {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        }
        #[cfg(not(unix))]
        Ok(m) => m.is_file(),
        Err(_) => false,
    }
}

/// What `az account get-access-token -o json` prints; other fields are ignored.
#[derive(Deserialize)]
struct AzOutput {
    /// Read straight into the secret: no plain `String` copy is made on the way.
    #[serde(
        rename = "accessToken",
        default,
        deserialize_with = "crate::secret::deserialize_optional_secret"
    )]
    access_token: Option<SecretString>,
    /// Unix seconds (az 2.54 and later).
    expires_on: Option<LooseNumber>,
    /// Local time, `2024-01-01 12:00:00.000000` (every version).
    #[serde(rename = "expiresOn")]
    expires_on_local: Option<String>,
}

/// A [`TokenSource`] that asks the Azure CLI.
pub struct AzureCliSource {
    az: PathBuf,
    tenant_id: Option<String>,
    cache: TokenCache,
}

impl AzureCliSource {
    /// `az` is the program to run (usually from [`find_on_path`]); `tenant_id` is passed as
    /// `--tenant` when given.
    pub fn new(az: PathBuf, tenant_id: Option<&str>) -> Result<Self, AuthError> {
        if let Some(t) = tenant_id {
            check_tenant("AZURE_TENANT_ID (--tenant-id)", t)?;
        }
        Ok(AzureCliSource {
            az,
            tenant_id: tenant_id.map(str::to_string),
            cache: TokenCache::default(),
        })
    }

    async fn fetch(&self, scope: &str) -> Result<AccessToken, AuthError> {
        let mut cmd = tokio::process::Command::new(&self.az);
        cmd.args([
            "account",
            "get-access-token",
            "--scope",
            scope,
            "-o",
            "json",
        ]);
        if let Some(t) = &self.tenant_id {
            cmd.args(["--tenant", t]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => AuthError::AzureCliNotFound,
            _ => AuthError::AzureCliFailed {
                reason: format!("cannot run {}: {e}", self.az.display()),
            },
        })?;
        let output = tokio::time::timeout(AZ_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| AuthError::AzureCliFailed {
                reason: format!("no answer after {} s", AZ_TIMEOUT.as_secs()),
            })?
            .map_err(|e| AuthError::AzureCliFailed {
                reason: format!("cannot read its output: {e}"),
            })?;
        let stdout = Zeroizing::new(output.stdout);
        if !output.status.success() {
            let first_line = first_error_line(&output.stderr);
            if first_line.to_ascii_lowercase().contains("az login") {
                return Err(AuthError::AzureCliNotLoggedIn { first_line });
            }
            return Err(AuthError::AzureCliFailed {
                reason: format!("it exited with {}: {first_line}", output.status),
            });
        }
        parse_az_output(&stdout)
    }
}

/// The first non-empty line of az's stderr, without its `ERROR: ` prefix, shortened.
fn first_error_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no message)");
    let line = line.strip_prefix("ERROR:").map(str::trim).unwrap_or(line);
    line.chars().take(MAX_ERROR_LINE).collect()
}

/// Read what `az account get-access-token -o json` printed. `expires_on` (Unix seconds) and
/// `expiresOn` (local time) are bounded like every server time ([`crate::retry::unix_time`],
/// [`crate::retry::latest_time`]); an unusable one leaves the expiry unknown. Errors never
/// quote the output, which holds the token.
pub fn parse_az_output(stdout: &[u8]) -> Result<AccessToken, AuthError> {
    let bad = |reason: &str| AuthError::BadResponse {
        endpoint: "az account get-access-token".to_string(),
        reason: reason.to_string(),
    };
    let out: AzOutput =
        serde_json::from_slice(stdout).map_err(|_| bad("its output is not the expected JSON"))?;
    let token = out
        .access_token
        .filter(|t| !t.expose_secret().is_empty())
        .ok_or_else(|| bad("no accessToken in its output"))?;
    let expires_at = out
        .expires_on
        .as_ref()
        .and_then(LooseNumber::unix_time)
        .or_else(|| out.expires_on_local.as_deref().and_then(parse_local_time));
    Ok(AccessToken { token, expires_at })
}

/// `expiresOn` is the machine's local time without a zone, e.g. `2024-01-01 12:00:00.123456`.
fn parse_local_time(s: &str) -> Option<SystemTime> {
    let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let local = chrono::Local.from_local_datetime(&naive).earliest()?;
    Some(SystemTime::from(local).clamp(SystemTime::UNIX_EPOCH, crate::retry::latest_time()))
}

#[async_trait::async_trait]
impl TokenSource for AzureCliSource {
    fn describe(&self) -> String {
        match &self.tenant_id {
            Some(t) => format!("Azure CLI sign-in ({}) in tenant {t}", self.az.display()),
            None => format!("Azure CLI sign-in ({})", self.az.display()),
        }
    }

    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError> {
        self.cache.get_or_fetch(scope, || self.fetch(scope)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ExposeSecret;

    #[test]
    fn output_with_unix_expiry() {
        let t = parse_az_output(br#"{"accessToken":"tok","expiresOn":"2030-01-01 00:00:00.000000","expires_on":1893456000,"tenant":"t","tokenType":"Bearer"}"#).unwrap();
        assert_eq!(t.token.expose_secret(), "tok");
        assert_eq!(
            t.expires_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1893456000))
        );
    }

    #[test]
    fn output_with_local_expiry_only() {
        let t =
            parse_az_output(br#"{"accessToken":"tok","expiresOn":"2030-01-01 00:00:00.000000"}"#)
                .unwrap();
        let at = t.expires_at.unwrap();
        let around = SystemTime::UNIX_EPOCH + Duration::from_secs(1893456000);
        let diff = at
            .duration_since(around)
            .or_else(|_| around.duration_since(at))
            .unwrap();
        assert!(diff <= Duration::from_secs(15 * 3600), "{diff:?}");
    }

    #[test]
    fn bad_output_never_echoes_it() {
        let e = parse_az_output(b"secret-token-text").unwrap_err();
        assert!(!e.to_string().contains("secret-token-text"));
        assert!(parse_az_output(br#"{"expires_on":1}"#).is_err());
    }

    #[test]
    fn error_lines() {
        assert_eq!(
            first_error_line(b"\nERROR: Please run 'az login' to setup account.\nmore"),
            "Please run 'az login' to setup account."
        );
        assert_eq!(first_error_line(b""), "(no message)");
    }
}

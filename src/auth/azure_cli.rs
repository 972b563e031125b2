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
/// The most `az` may print on either pipe: its JSON holds one token of a few KiB.
const MAX_AZ_OUTPUT: usize = 64 * 1024;
/// The command, as errors name it.
const AZ_COMMAND: &str = "az account get-access-token";
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
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => AuthError::AzureCliNotFound,
            _ => AuthError::AzureCliFailed {
                reason: format!("cannot run {}: {e}", self.az.display()),
            },
        })?;
        // Read both pipes ourselves: `wait_with_output` grows its buffers by reallocating,
        // which leaves unwiped copies of the token, and has no bound on their size.
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let run = async {
            let (out, err) = tokio::join!(
                read_bounded(stdout, MAX_AZ_OUTPUT),
                read_bounded(stderr, MAX_AZ_OUTPUT)
            );
            Ok::<_, std::io::Error>((out?, err?, child.wait().await?))
        };
        let (stdout, stderr, status) = tokio::time::timeout(AZ_TIMEOUT, run)
            .await
            .map_err(|_| AuthError::AzureCliFailed {
                reason: format!("no answer after {} s", AZ_TIMEOUT.as_secs()),
            })?
            .map_err(|e| AuthError::AzureCliFailed {
                reason: format!("cannot read its output: {e}"),
            })?;
        if !status.success() {
            let first_line = first_error_line(&stderr.bytes);
            if means_not_signed_in(&first_line) {
                return Err(AuthError::AzureCliNotLoggedIn { first_line });
            }
            return Err(AuthError::AzureCliFailed {
                reason: format!("it exited with {status}: {first_line}"),
            });
        }
        if stdout.over {
            return Err(AuthError::BadResponse {
                endpoint: AZ_COMMAND.to_string(),
                reason: format!(
                    "its output is larger than the {} KiB accepted",
                    MAX_AZ_OUTPUT / 1024
                ),
            });
        }
        parse_az_output(&stdout.bytes)
    }
}

/// What `az` printed to one pipe: at most the limit, and whether there was more.
struct Bounded {
    bytes: Zeroizing<Vec<u8>>,
    over: bool,
}

/// Read `pipe` to its end, keeping at most `limit` bytes in wiped-on-drop memory that is
/// allocated once. The rest is read (so `az` is not left blocked on a full pipe) and wiped.
async fn read_bounded<R: tokio::io::AsyncRead + Unpin>(
    pipe: Option<R>,
    limit: usize,
) -> std::io::Result<Bounded> {
    use tokio::io::AsyncReadExt;
    let mut bytes = Zeroizing::new(vec![0u8; limit]);
    let mut len = 0;
    let mut over = false;
    if let Some(mut pipe) = pipe {
        let mut scratch = Zeroizing::new([0u8; 4096]);
        loop {
            let n = if len < limit {
                pipe.read(&mut bytes[len..]).await?
            } else {
                pipe.read(&mut scratch[..]).await?
            };
            if n == 0 {
                break;
            }
            if len < limit {
                len += n;
            } else {
                over = true;
            }
        }
    }
    // Shortening keeps the allocation; the whole of it is wiped on drop.
    bytes.truncate(len);
    Ok(Bounded { bytes, over })
}

/// `az` words for "nobody is signed in" (remote text, matched only as data): each fragment
/// has a test vector from what `az` prints, in `tests::not_signed_in_lines`.
const NOT_SIGNED_IN: &[&str] = &["az login"];

fn means_not_signed_in(first_line: &str) -> bool {
    let line = first_line.to_ascii_lowercase();
    NOT_SIGNED_IN.iter().any(|fragment| line.contains(fragment))
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
        endpoint: AZ_COMMAND.to_string(),
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

    /// What `az account get-access-token` prints when nobody is signed in (its own text,
    /// as in `tests/auth_sources.rs`), and a failure that is something else.
    #[test]
    fn not_signed_in_lines() {
        let line = first_error_line(b"ERROR: Please run 'az login' to setup account.\n");
        assert!(means_not_signed_in(&line), "{line}");
        let line = first_error_line(b"ERROR: The command failed with an unexpected error.\n");
        assert!(!means_not_signed_in(&line), "{line}");
    }

    #[tokio::test]
    async fn pipes_are_read_within_the_limit() {
        let small = read_bounded(Some(&b"abc"[..]), 8).await.unwrap();
        assert_eq!((small.bytes.as_slice(), small.over), (&b"abc"[..], false));
        let exact = read_bounded(Some(&b"12345678"[..]), 8).await.unwrap();
        assert_eq!(
            (exact.bytes.as_slice(), exact.over),
            (&b"12345678"[..], false)
        );
        let big = vec![b'x'; 100_000];
        let over = read_bounded(Some(&big[..]), 8).await.unwrap();
        assert_eq!((over.bytes.len(), over.over), (8, true));
        let none = read_bounded(None::<&[u8]>, 8).await.unwrap();
        assert!(none.bytes.is_empty() && !none.over);
    }
}

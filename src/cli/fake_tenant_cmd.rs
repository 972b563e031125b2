//! `msgraph-keystore fake-tenant`: run the simulated Entra ID tenant standalone so a person
//! can try every command without an Azure account. It writes the admin caller's credentials
//! to a 0600 env file (the secret itself to a second 0600 file the env file points at, so it
//! never appears on the terminal), prints the commands to run next, and serves until
//! Ctrl-C / SIGTERM, then removes both files (the tenant lives in memory: they are useless
//! once it stops). With `--tls` it serves HTTPS with a throwaway test CA whose certificate
//! (public, mode 0644) goes next to the credentials, for `--ca-cert` / `SSL_CERT_FILE`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{GlobalOpts, Verbosity};
use crate::exit::{CliError, ExitCode};
use crate::secret::ExposeSecret;
use fake_tenant::{FakeTenant, FakeTenantConfig, Faults, TestPki};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Example:
  msgraph-keystore fake-tenant --listen 127.0.0.1:8080 --replication-reads 2 --throttle-every 5
  # in another shell:
  set -a; . ./fake-tenant.env; set +a
  msgraph-keystore provision --app-name demo --access-token-host http://127.0.0.1:8080 \\
      --graph-host http://127.0.0.1:8080/v1.0 --secret-file ./demo.secret

  # Over HTTPS, with a throwaway CA written to fake-tenant.env.ca.pem:
  msgraph-keystore fake-tenant --listen 127.0.0.1:8443 --tls
  msgraph-keystore provision --app-name demo --access-token-host https://127.0.0.1:8443 \\
      --graph-host https://127.0.0.1:8443/v1.0 --ca-cert fake-tenant.env.ca.pem --secret-file ./demo.secret")]
pub struct FakeTenantArgs {
    /// Address to listen on; loopback only (the tenant hands admin credentials to anyone
    /// who can reach it). Port 0 picks a free port; the actual address is printed.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// Tenant id (a GUID); random when not given.
    #[arg(long, value_name = "GUID")]
    pub tenant_id: Option<String>,

    /// Where to write the admin caller's AZURE_TENANT_ID / AZURE_CLIENT_ID /
    /// AZURE_CLIENT_SECRET_FILE (mode 0600). The secret goes to PATH.secret (0600). Existing
    /// files are never overwritten; both are removed when the fake tenant stops.
    #[arg(long, value_name = "PATH", default_value = "fake-tenant.env")]
    pub credentials_file: PathBuf,

    /// Serve HTTPS with a certificate from a throwaway test CA made at start-up. The CA
    /// certificate is written to PATH.ca.pem (next to --credentials-file, removed at stop):
    /// pass it to the other commands with --ca-cert FILE or SSL_CERT_FILE=FILE.
    #[arg(long)]
    pub tls: bool,

    /// Delay added to every response, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Every Nth Graph request answers 429 Too Many Requests.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub throttle_every: Option<u32>,

    /// Number of consecutive 429s in each throttling burst.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub throttle_burst: u32,

    /// Every Nth Graph request answers 503 Service Unavailable.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub unavailable_every: Option<u32>,

    /// Retry-After sent with 429/503, in seconds (fractions allowed; 0 leaves the header out).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub retry_after: f64,

    /// Send Retry-After as an HTTP date instead of a number of seconds.
    #[arg(long)]
    pub retry_after_http_date: bool,

    /// Every Nth Graph request: close the connection without answering.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub drop_connection_every: Option<u32>,

    /// With --drop-connection-every: carry the request out first, then drop the answer.
    #[arg(long, requires = "drop_connection_every")]
    pub drop_after_processing: bool,

    /// New applications and service principals answer 404 to their first N reads.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub replication_reads: u32,

    /// The first N consent grants naming a new service principal fail with
    /// "Not a valid reference update.".
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub not_valid_reference: u32,

    /// A new client secret is refused N times by the token endpoint (AADSTS7000215).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub secret_replication_failures: u32,

    /// The caller may not grant admin consent (app-role assignments answer 403).
    #[arg(long)]
    pub deny_consent: bool,

    /// Tenant policy: refuse client secrets that live longer than DAYS.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_secret_lifetime_days: Option<u32>,

    /// Largest page a list returns (small values force @odata.nextLink paging; a request
    /// without $top gets at most 100).
    #[arg(long, value_name = "N", default_value_t = 999, value_parser = clap::value_parser!(u32).range(1..=999))]
    pub page_size: u32,

    /// A new service principal is refused N times by the token endpoint (AADSTS7000229).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sp_replication_failures: u32,

    /// A new admin-consent grant is left out of the next N tokens of its app.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub grant_replication_tokens: u32,

    /// After a new admin-consent grant, the app's next N user lookups answer 403.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub grant_forbidden_reads: u32,

    /// Pre-create an application (with its service principal) named NAME. Repeat it, even
    /// with the same name, to simulate display-name collisions.
    #[arg(long = "seed-app", value_name = "NAME")]
    pub seed_apps: Vec<String>,
}

impl FakeTenantArgs {
    fn faults(&self) -> Result<Faults, CliError> {
        if !(self.retry_after.is_finite() && self.retry_after >= 0.0) {
            return Err(CliError::usage(format!(
                "--retry-after must be a number of seconds, 0 or more (got {})",
                self.retry_after
            )));
        }
        Ok(Faults {
            latency: Duration::from_millis(self.latency_ms),
            throttle_every: self.throttle_every,
            throttle_burst: self.throttle_burst,
            unavailable_every: self.unavailable_every,
            retry_after_secs: self.retry_after,
            retry_after_http_date: self.retry_after_http_date,
            drop_connection_every: self.drop_connection_every,
            drop_after_processing: self.drop_after_processing,
            replication_reads: self.replication_reads,
            not_valid_reference: self.not_valid_reference,
            secret_replication_failures: self.secret_replication_failures,
            caller_can_consent: !self.deny_consent,
            max_secret_lifetime_days: self.max_secret_lifetime_days,
            page_size: self.page_size as usize,
            sp_replication_failures: self.sp_replication_failures,
            grant_replication_tokens: self.grant_replication_tokens,
            grant_forbidden_reads: self.grant_forbidden_reads,
        })
    }
}

pub async fn run(args: FakeTenantArgs, global: &GlobalOpts) -> Result<ExitCode, CliError> {
    if !args.listen.ip().is_loopback() {
        return Err(CliError::usage(format!(
            "--listen {} is not a loopback address; the fake tenant hands out admin credentials to anyone who can reach it, so it only listens on 127.0.0.1 or [::1]",
            args.listen
        )));
    }
    if let Some(t) = &args.tenant_id {
        if uuid::Uuid::parse_str(t).is_err() {
            return Err(CliError::usage(format!(
                "--tenant-id `{t}` is not a GUID (e.g. 11111111-2222-3333-4444-555555555555)"
            )));
        }
    }
    let secret_file = secret_file_for(&args.credentials_file);
    let ca_file = args.tls.then(|| ca_file_for(&args.credentials_file));
    for path in [
        Some(&args.credentials_file),
        Some(&secret_file),
        ca_file.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if path.symlink_metadata().is_ok() {
            return Err(CliError::new(
                ExitCode::IoError,
                format!(
                    "{} already exists (left by an earlier run?); remove it or pass --credentials-file PATH",
                    path.display()
                ),
            ));
        }
    }
    let config = FakeTenantConfig {
        faults: args.faults()?,
        tenant_id: args.tenant_id.clone(),
    };
    let pki = if args.tls {
        Some(TestPki::generate().map_err(|e| {
            CliError::new(
                ExitCode::Software,
                format!("cannot make the test CA for --tls: {e}"),
            )
        })?)
    } else {
        None
    };
    let started = match &pki {
        Some(pki) => FakeTenant::start_on_tls(args.listen, config, &pki.server).await,
        None => FakeTenant::start_on(args.listen, config).await,
    };
    let tenant = started.map_err(|e| {
        CliError::new(
            ExitCode::IoError,
            format!("cannot listen on {}: {e}", args.listen),
        )
    })?;
    for name in &args.seed_apps {
        tenant.seed_application(name, &[]);
    }

    let ca = pki.as_ref().zip(ca_file.as_deref());
    let files = match write_credentials(&tenant, &args.credentials_file, &secret_file, ca) {
        Ok(files) => files,
        Err(e) => {
            tenant.shutdown().await;
            return Err(e);
        }
    };
    print_banner(&tenant, &files, global.verbosity());

    wait_for_stop_signal().await;
    tenant.shutdown().await;
    files.remove();
    if global.verbosity() > Verbosity::Silent {
        println!("fake tenant stopped; removed {}", files.env.display());
    }
    Ok(ExitCode::Ok)
}

/// `fake-tenant.env` → `fake-tenant.env.secret`.
fn secret_file_for(env_file: &Path) -> PathBuf {
    let mut name = env_file.as_os_str().to_owned();
    name.push(".secret");
    PathBuf::from(name)
}

/// `fake-tenant.env` → `fake-tenant.env.ca.pem`.
fn ca_file_for(env_file: &Path) -> PathBuf {
    let mut name = env_file.as_os_str().to_owned();
    name.push(".ca.pem");
    PathBuf::from(name)
}

/// The files the fake tenant writes, as absolute paths (the env file is sourced from
/// anywhere).
struct CredentialFiles {
    env: PathBuf,
    secret: PathBuf,
    /// The test CA's certificate, with `--tls`.
    ca_cert: Option<PathBuf>,
}

impl CredentialFiles {
    fn remove(&self) {
        for path in [Some(&self.env), Some(&self.secret), self.ca_cert.as_ref()]
            .into_iter()
            .flatten()
        {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!("could not remove {}: {e}", path.display());
            }
        }
    }
}

fn write_credentials(
    tenant: &FakeTenant,
    env_file: &Path,
    secret_file: &Path,
    ca: Option<(&TestPki, &Path)>,
) -> Result<CredentialFiles, CliError> {
    let absolute = |p: &Path| {
        std::path::absolute(p).map_err(|e| {
            CliError::new(
                ExitCode::IoError,
                format!("cannot resolve {}: {e}", p.display()),
            )
        })
    };
    let files = CredentialFiles {
        env: absolute(env_file)?,
        secret: absolute(secret_file)?,
        ca_cert: ca.map(|(_, path)| absolute(path)).transpose()?,
    };
    let refuse = |path: &Path, e: std::io::Error| {
        let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
            "; remove it or pass --credentials-file PATH"
        } else {
            ""
        };
        CliError::new(
            ExitCode::IoError,
            format!("cannot create {}: {e}{hint}", path.display()),
        )
    };
    let admin = tenant.admin();
    crate::fsutil::write_new_secret_file(
        &files.secret,
        admin.client_secret.expose_secret().as_bytes(),
    )
    .map_err(|e| refuse(&files.secret, e))?;
    let env = format!(
        "# Admin caller of the msgraph-keystore fake tenant at {host}.\n\
         # Load with: set -a; . {env}; set +a   (removed when the fake tenant stops)\n\
         AZURE_TENANT_ID={tenant_id}\n\
         AZURE_CLIENT_ID={client_id}\n\
         AZURE_CLIENT_SECRET_FILE={secret}\n",
        host = tenant.access_token_host(),
        env = files.env.display(),
        tenant_id = admin.tenant_id,
        client_id = admin.client_id,
        secret = files.secret.display(),
    );
    if let Err(e) = crate::fsutil::write_new_secret_file(&files.env, env.as_bytes()) {
        let _ = std::fs::remove_file(&files.secret);
        return Err(refuse(&files.env, e));
    }
    if let (Some((pki, _)), Some(path)) = (ca, &files.ca_cert) {
        if let Err(e) = write_new_public_file(path, pki.ca_cert_pem.as_bytes()) {
            let _ = std::fs::remove_file(&files.env);
            let _ = std::fs::remove_file(&files.secret);
            return Err(refuse(path, e));
        }
    }
    Ok(files)
}

/// Create `path` (never overwriting, never following a symlink there) with mode 0644: the
/// CA certificate is public, and other users (a container, an Elasticsearch node) may need
/// to read it.
fn write_new_public_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    if written.is_err() {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    written
}

fn print_banner(tenant: &FakeTenant, files: &CredentialFiles, verbosity: Verbosity) {
    let host = tenant.access_token_host();
    let graph = tenant.graph_host();
    let mut out = std::io::stdout().lock();
    // The first line is the contract scripts and tests parse; keep its shape.
    let _ = writeln!(out, "fake tenant listening on {host}");
    if verbosity > Verbosity::Silent {
        let (ca_line, ca_flag) = match &files.ca_cert {
            Some(ca) => (
                format!(
                    "\n  CA certificate   {ca}\n                   trust it with --ca-cert {ca} (or SSL_CERT_FILE={ca})",
                    ca = ca.display()
                ),
                format!(" --ca-cert {}", ca.display()),
            ),
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "\n  tenant id        {tenant}\n  token endpoint   {token}\n  graph            {graph}\n  admin client id  {client}\n  credentials      {env} (secret in {secret}, both mode 0600){ca_line}\n\
             \nTry it, in another shell:\n\
             \n  set -a; . {env}; set +a\
             \n  mkdir es-config\
             \n  msgraph-keystore setup --config ./es-config --realm microsoft_graph1 --app-name demo-realm \\\
             \n      --access-token-host {host} --graph-host {graph}{ca_flag}\
             \n  msgraph-keystore verify --config ./es-config --realm microsoft_graph1{ca_flag}\
             \n  msgraph-keystore keystore list --config ./es-config\n\
             \nStop with Ctrl-C.",
            tenant = tenant.tenant_id(),
            token = tenant.token_url(),
            client = tenant.admin().client_id,
            env = files.env.display(),
            secret = files.secret.display(),
        );
    }
    let _ = out.flush();
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_and_ca_files_sit_next_to_the_env_file() {
        assert_eq!(
            secret_file_for(Path::new("dir/fake-tenant.env")),
            PathBuf::from("dir/fake-tenant.env.secret")
        );
        assert_eq!(
            ca_file_for(Path::new("dir/fake-tenant.env")),
            PathBuf::from("dir/fake-tenant.env.ca.pem")
        );
    }

    #[test]
    fn public_files_are_0644_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        write_new_public_file(&path, b"cert").expect("first write");
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        let again = write_new_public_file(&path, b"other").expect_err("exists");
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).expect("read"), b"cert");
    }
}

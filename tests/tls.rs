//! Real HTTPS: the fake tenant serves TLS with a throwaway test CA, and the real binary must
//! trust that CA only when told (`--ca-cert FILE` or `SSL_CERT_FILE=FILE`), refuse any other
//! certificate with a clear one-line error and exit 69, and offer no way to skip
//! verification.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use clap::CommandFactory;
use fake_tenant::{FakeTenant, FakeTenantConfig, Faults, TestPki};
use msgraph_keystore::cli::Cli;
use msgraph_keystore::cloud::Cloud;
use msgraph_keystore::graph::GraphClient;
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::provision::{provision, AddSecret, NoProgress, ProvisionOptions};
use msgraph_keystore::secret::ExposeSecret;

const BIN: &str = env!("CARGO_BIN_EXE_msgraph-keystore");

/// A TLS fake tenant, its CA written to a file, and a scratch directory.
struct TlsTenant {
    tenant: FakeTenant,
    ca_file: PathBuf,
    scratch: tempfile::TempDir,
}

async fn tls_tenant(faults: Faults) -> TlsTenant {
    let pki = TestPki::generate().expect("test CA");
    let tenant = FakeTenant::start_tls(
        FakeTenantConfig {
            faults,
            tenant_id: None,
        },
        &pki.server,
    )
    .await
    .expect("start the TLS fake tenant");
    let scratch = tempfile::tempdir().expect("tempdir");
    let ca_file = scratch.path().join("test-ca.pem");
    fs::write(&ca_file, &pki.ca_cert_pem).expect("write the CA");
    TlsTenant {
        tenant,
        ca_file,
        scratch,
    }
}

impl TlsTenant {
    /// The binary with a clean environment: the admin's credentials (secret in a 0600
    /// file), no proxy, and no `SSL_CERT_FILE` unless a test sets one.
    fn command(&self, args: &[&str]) -> Command {
        let admin = self.tenant.admin();
        let secret_file = self.scratch.path().join("admin.secret");
        if !secret_file.exists() {
            fs::write(&secret_file, admin.client_secret.expose_secret()).expect("secret");
            fs::set_permissions(&secret_file, fs::Permissions::from_mode(0o600)).expect("mode");
        }
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.scratch.path())
            .env("NO_COLOR", "1")
            .env("AZURE_TENANT_ID", &admin.tenant_id)
            .env("AZURE_CLIENT_ID", &admin.client_id)
            .env("AZURE_CLIENT_SECRET_FILE", &secret_file);
        cmd
    }

    /// `provision` flags pointing at this tenant, writing the secret to `secret_file`.
    fn provision_args(&self, app: &str, secret_file: &Path) -> Vec<String> {
        vec![
            "provision".into(),
            "--app-name".into(),
            app.into(),
            "--auth".into(),
            "client-secret".into(),
            "--access-token-host".into(),
            self.tenant.access_token_host(),
            "--graph-host".into(),
            self.tenant.graph_host(),
            "--secret-file".into(),
            secret_file.display().to_string(),
            "--timeout".into(),
            "20s".into(),
        ]
    }
}

/// Run a command on a blocking thread so the in-process tenant keeps serving.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run the binary"))
        .await
        .expect("join")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_serves_https_on_loopback() {
    let t = tls_tenant(Faults::default()).await;
    let host = t.tenant.access_token_host();
    assert!(host.starts_with("https://127.0.0.1:"), "{host}");
    assert!(t.tenant.graph_host().starts_with("https://127.0.0.1:"));
    assert!(t.tenant.token_url().starts_with("https://127.0.0.1:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_over_https_trusting_the_test_ca_with_ca_cert() {
    let t = tls_tenant(Faults::default()).await;
    let secret_file = t.scratch.path().join("realm.secret");
    let mut args = t.provision_args("tls-ca-cert", &secret_file);
    args.extend(["--ca-cert".into(), t.ca_file.display().to_string()]);
    let out = run(t.command(&refs(&args))).await;
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let snap = t.tenant.snapshot();
    assert_eq!(snap.applications_named("tls-ca-cert").len(), 1);
    // The secret written is one the tenant issued.
    let written = fs::read_to_string(&secret_file).expect("secret file");
    assert!(t
        .tenant
        .issued_secrets()
        .iter()
        .any(|s| s.expose_secret() == written.trim()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_and_verify_over_https_with_ca_cert() {
    let t = tls_tenant(Faults::default()).await;
    let config = t.scratch.path().join("es-config");
    fs::create_dir(&config).expect("config dir");
    let ca = t.ca_file.display().to_string();
    let args = [
        "setup",
        "--config",
        config.to_str().expect("utf-8 path"),
        "--realm",
        "microsoft_graph1",
        "--auth",
        "client-secret",
        "--access-token-host",
        &t.tenant.access_token_host(),
        "--graph-host",
        &t.tenant.graph_host(),
        "--ca-cert",
        &ca,
        "--timeout",
        "20s",
    ]
    .map(String::from);
    let out = run(t.command(&refs(&args))).await;
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(config.join("elasticsearch.keystore").exists());
    let yml = fs::read_to_string(config.join("elasticsearch.yml")).expect("yml");
    assert!(yml.contains(&t.tenant.graph_host()), "{yml}");

    // verify reads the https hosts back from elasticsearch.yml: it needs the CA too.
    let verify = [
        "verify",
        "--config",
        config.to_str().expect("utf-8 path"),
        "--realm",
        "microsoft_graph1",
        "--ca-cert",
        &ca,
    ]
    .map(String::from);
    let out = run(t.command(&refs(&verify))).await;
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_over_https_trusting_the_test_ca_with_ssl_cert_file() {
    let t = tls_tenant(Faults::default()).await;
    let secret_file = t.scratch.path().join("realm.secret");
    let args = t.provision_args("tls-ssl-cert-file", &secret_file);
    let mut cmd = t.command(&refs(&args));
    cmd.env("SSL_CERT_FILE", &t.ca_file);
    let out = run(cmd).await;
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        t.tenant
            .snapshot()
            .applications_named("tls-ssl-cert-file")
            .len(),
        1
    );
    assert!(secret_file.exists());
}

/// Assert `out` is the refusal of an untrusted certificate: exit 69, one `ERROR:` line
/// naming the certificate problem and `--ca-cert`, nothing created in the tenant.
fn assert_certificate_refused(out: &Output, tenant: &FakeTenant, secret_file: &Path) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "stderr: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ERROR:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let line = errors[0];
    assert!(line.contains("cannot reach"), "{line}");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert!(line.contains("--ca-cert"), "{line}");
    assert!(line.ends_with("with exit code 69"), "{line}");
    assert_eq!(
        tenant.snapshot().request_count,
        0,
        "no Graph call got through"
    );
    assert!(!secret_file.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused_with_a_clear_error() {
    let t = tls_tenant(Faults::default()).await;
    let secret_file = t.scratch.path().join("realm.secret");
    let args = t.provision_args("tls-untrusted", &secret_file);
    let started = Instant::now();
    let out = run(t.command(&refs(&args))).await;
    assert_certificate_refused(&out, &t.tenant, &secret_file);
    // A certificate problem is not worth long retries.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(t.tenant.snapshot().token_request_count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused_with_ca_cert_and_ssl_cert_file() {
    let t = tls_tenant(Faults::default()).await;
    let other = TestPki::generate().expect("another CA");
    let other_ca = t.scratch.path().join("other-ca.pem");
    fs::write(&other_ca, &other.ca_cert_pem).expect("write");
    let secret_file = t.scratch.path().join("realm.secret");

    let mut args = t.provision_args("tls-other-ca", &secret_file);
    args.extend(["--ca-cert".into(), other_ca.display().to_string()]);
    let out = run(t.command(&refs(&args))).await;
    assert_certificate_refused(&out, &t.tenant, &secret_file);

    let args = t.provision_args("tls-other-ca", &secret_file);
    let mut cmd = t.command(&refs(&args));
    cmd.env("SSL_CERT_FILE", &other_ca);
    let out = run(cmd).await;
    assert_certificate_refused(&out, &t.tenant, &secret_file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_ca_file_is_named_in_the_error() {
    let t = tls_tenant(Faults::default()).await;
    let secret_file = t.scratch.path().join("realm.secret");
    let junk = t.scratch.path().join("junk.pem");
    fs::write(&junk, "not a certificate").expect("write");

    let mut args = t.provision_args("tls-junk", &secret_file);
    args.extend(["--ca-cert".into(), junk.display().to_string()]);
    let out = run(t.command(&refs(&args))).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    assert!(
        stderr.contains("junk.pem") && stderr.contains("--ca-cert"),
        "{stderr}"
    );

    let args = t.provision_args("tls-junk", &secret_file);
    let mut cmd = t.command(&refs(&args));
    cmd.env("SSL_CERT_FILE", t.scratch.path().join("missing.pem"));
    let out = run(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    assert!(
        stderr.contains("missing.pem") && stderr.contains("SSL_CERT_FILE"),
        "{stderr}"
    );
    assert_eq!(t.tenant.snapshot().token_request_count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_remote_host_is_refused_before_any_request() {
    let t = tls_tenant(Faults::default()).await;
    let secret_file = t.scratch.path().join("realm.secret");
    let args = [
        "provision",
        "--auth",
        "client-secret",
        "--access-token-host",
        "http://login.example.com",
        "--graph-host",
        "http://graph.example.com/v1.0",
        "--secret-file",
        secret_file.to_str().expect("utf-8 path"),
    ]
    .map(String::from);
    let out = run(t.command(&refs(&args))).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("https://"), "{stderr}");
    assert!(
        stderr.contains("--access-token-host") || stderr.contains("--graph-host"),
        "{stderr}"
    );
    assert!(!secret_file.exists());
}

/// Library level, with faults: dropped TLS connections (before and after the server acted)
/// and throttling still converge to one app, one service principal, three grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_over_https_converges_under_dropped_connections() {
    let t = tls_tenant(Faults {
        drop_connection_every: Some(4),
        drop_after_processing: true,
        throttle_every: Some(5),
        retry_after_secs: 0.01,
        replication_reads: 2,
        ..Faults::default()
    })
    .await;
    let http = build_client(&HttpOptions {
        ca_cert: Some(t.ca_file.clone()),
        request_timeout: Duration::from_secs(10),
        ..HttpOptions::default()
    })
    .expect("client");
    let admin = t.tenant.admin();
    let tokens = std::sync::Arc::new(
        msgraph_keystore::auth::ClientSecretSource::new(
            http.clone(),
            &t.tenant.access_token_host(),
            &admin.tenant_id,
            &admin.client_id,
            admin.client_secret,
        )
        .expect("token source"),
    );
    let graph = GraphClient::new(
        http,
        tokens,
        &t.tenant.graph_host(),
        &Cloud::Global.endpoints().scope,
        Instant::now() + Duration::from_secs(30),
    )
    .expect("graph client")
    .with_retry_policy(msgraph_keystore::graph::RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        consistent_reads: 2,
        consistent_read_interval: Duration::from_millis(2),
    });
    let mut endpoints = Cloud::Global.endpoints();
    endpoints.access_token_host = t.tenant.access_token_host();
    endpoints.graph_host = t.tenant.graph_host();
    let mut opts = ProvisionOptions::for_endpoints(&endpoints).with_app_name("tls-faults");
    opts.add_secret = AddSecret::IfNone;
    let p = provision(&graph, &opts, &NoProgress)
        .await
        .expect("provision over https under faults");
    let snap = t.tenant.snapshot();
    let apps = snap.applications_named("tls-faults");
    assert_eq!(apps.len(), 1);
    let sp = snap
        .service_principal_of(&apps[0].app_id)
        .expect("service principal");
    assert_eq!(snap.graph_roles_granted_to(&sp.id).len(), 3);
    assert!(p.new_secret.is_some());
}

/// Every command and subcommand, by its path of names (`["keystore", "add"]`).
fn every_command() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), Vec::new(), &mut out);
    out
}

/// Words that would name a switch turning certificate checks off.
const NO_VERIFY_WORDS: [&str; 10] = [
    "insecure",
    "danger",
    "accept-invalid",
    "no-verify-tls",
    "no-verify-ssl",
    "no-tls-verify",
    "skip-tls",
    "tls-skip",
    "no-check-certificate",
    "skip-verify",
];

/// The only TLS-related flags that may exist: trusting an extra CA, and the fake tenant's
/// switch that turns HTTPS on.
const ALLOWED_TLS_FLAGS: [&str; 2] = ["--ca-cert", "--tls"];

/// Long flag names (`--name`) mentioned in a help text.
fn long_flags(help: &str) -> Vec<String> {
    help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_string)
        .collect()
}

#[test]
fn no_command_has_a_switch_that_disables_certificate_verification() {
    let commands = every_command();
    assert!(commands.len() > 15, "{commands:?}");
    for path in commands {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = Command::new(BIN)
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run --help");
        let help = text(&out.stdout).to_lowercase();
        let shown = args.join(" ");
        assert!(out.status.success(), "{shown}: {}", text(&out.stderr));
        assert!(!help.is_empty(), "{shown}");
        for word in NO_VERIFY_WORDS {
            assert!(!help.contains(word), "`{shown}` help mentions {word}");
        }
        for flag in long_flags(&help) {
            let tls_like = ["tls", "ssl", "cert", "verify-host", "hostname"]
                .iter()
                .any(|w| flag.contains(w));
            assert!(
                !tls_like || ALLOWED_TLS_FLAGS.contains(&flag.as_str()),
                "`{shown}` has a TLS-related flag {flag}"
            );
        }
        // Environment variables the help names: only SSL_CERT_FILE touches TLS.
        for env in help.split("[env: ").skip(1) {
            let name = env.split(']').next().unwrap_or_default();
            assert!(
                !(name.contains("tls") || name.contains("ssl") || name.contains("insecure"))
                    || name == "ssl_cert_file",
                "`{shown}` reads {name}"
            );
        }
        // Every Graph-talking command offers the one supported way: trusting a CA.
        if help.contains("--graph-host") {
            assert!(help.contains("--ca-cert"), "`{shown}` lacks --ca-cert");
        }
    }
}

/// The code never asks reqwest or rustls to skip verification (no flag, no environment
/// variable, nothing hidden): the calls that would are absent from every source file.
#[test]
fn no_source_file_turns_certificate_verification_off() {
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 20);
    for file in files {
        let code = fs::read_to_string(&file).expect("read source");
        for call in [
            "danger_accept_invalid_certs",
            "danger_accept_invalid_hostnames",
            ".dangerous()",
            "ServerCertVerifier for",
            "NoCertificateVerification",
            "tls_built_in_root_certs(false",
        ] {
            assert!(!code.contains(call), "{} contains `{call}`", file.display());
        }
    }
}

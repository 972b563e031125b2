//! Secrets never leak, Graph side: the commands that talk to Entra ID and Graph (`provision`,
//! `setup`, `status`, `deprovision`, `fake-tenant`) run at the highest verbosity with
//! `RUST_LOG=trace`, and nothing they print may contain the admin caller's secret, a client
//! secret the tenant created, or an access token it issued. `Debug` formatting of the public
//! types that hold secrets shows no value, no flag takes a secret on the command line, and
//! the files that hold secrets are created 0600 and never widened (checked with inotify: a
//! mode change would show as an `IN_ATTRIB` event).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use clap::CommandFactory;
use fake_tenant::{FakeTenant, FakeTenantConfig, Faults, TestPki};
use msgraph_keystore::auth::{client_credentials_token, ClientSecretSource, TokenSource};
use msgraph_keystore::cli::Cli;
use msgraph_keystore::cloud::Cloud;
use msgraph_keystore::graph::GraphClient;
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::provision::{provision, AddSecret, NoProgress, ProvisionOptions};
use msgraph_keystore::secret::{ExposeSecret, SecretString};

const BIN: &str = env!("CARGO_BIN_EXE_msgraph-keystore");
const SCOPE: &str = "https://graph.microsoft.com/.default";

/// Every way a secret could show up in text: whole, or any 12-character piece of it (a
/// truncated or wrapped value is still a leak). Tokens are JWTs whose header is the same for
/// every token, so only their claims and signature count.
struct Needles {
    pieces: Vec<(String, String)>,
}

impl Needles {
    fn new() -> Needles {
        Needles { pieces: Vec::new() }
    }

    fn secret(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 16, "{what} is too short to search for");
        let chars: Vec<char> = value.chars().collect();
        for window in chars.windows(12) {
            self.pieces
                .push((what.to_string(), window.iter().collect::<String>()));
        }
    }

    fn token(&mut self, what: &str, token: &str) {
        let mut parts = token.split('.');
        let (_header, claims, signature) = (parts.next(), parts.next(), parts.next());
        for part in [claims, signature].into_iter().flatten() {
            self.secret(what, part);
        }
    }

    /// Panic naming the secret (never its value) if `text` holds any piece of one.
    fn assert_absent(&self, where_: &str, text: &str) {
        for (what, piece) in &self.pieces {
            assert!(
                !text.contains(piece.as_str()),
                "{where_} shows part of {what}"
            );
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The binary with a clean environment, the most verbose logging there is, and the admin's
/// credentials in environment variables (never in argv).
fn command(tenant: &FakeTenant, home: &Path, args: &[&str]) -> Command {
    let admin = tenant.admin();
    let mut cmd = Command::new(BIN);
    cmd.arg("-vvv")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
        .env("AZURE_TENANT_ID", &admin.tenant_id)
        .env("AZURE_CLIENT_ID", &admin.client_id)
        .env("AZURE_CLIENT_SECRET", admin.client_secret.expose_secret());
    cmd
}

fn graph_flags(tenant: &FakeTenant) -> Vec<String> {
    vec![
        "--auth".into(),
        "client-secret".into(),
        "--access-token-host".into(),
        tenant.access_token_host(),
        "--graph-host".into(),
        tenant.graph_host(),
        "--timeout".into(),
        "30s".into(),
    ]
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run the binary"))
        .await
        .expect("join")
}

/// Run `args` (plus the Graph flags) and return stdout + stderr; the exit code must be one of
/// `ok_codes`.
async fn run_logged(
    tenant: &FakeTenant,
    home: &Path,
    args: &[&str],
    ok_codes: &[i32],
) -> (String, String) {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(graph_flags(tenant));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = run(command(tenant, home, &refs)).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.code().is_some_and(|c| ok_codes.contains(&c)),
        "{args:?} exited {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
    (stdout, stderr)
}

/// Watches one directory with inotify and remembers, per file name, the events seen.
struct DirWatch {
    fd: i32,
}

impl DirWatch {
    fn new(dir: &Path) -> DirWatch {
        // SAFETY: plain syscalls on a descriptor this struct owns; the path is a valid
        // NUL-terminated string for the duration of the call.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            assert!(fd >= 0, "inotify_init1 failed");
            let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).expect("path");
            let mask = libc::IN_CREATE
                | libc::IN_ATTRIB
                | libc::IN_CLOSE_WRITE
                | libc::IN_MOVED_TO
                | libc::IN_MODIFY;
            let wd = libc::inotify_add_watch(fd, path.as_ptr(), mask);
            assert!(wd >= 0, "inotify_add_watch failed");
            DirWatch { fd }
        }
    }

    /// Events read so far, as (name, mask) in order.
    fn drain(&self, into: &mut Vec<(String, u32)>) {
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: reading into a buffer we own, bounded by its length.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return;
            }
            let mut at = 0usize;
            let n = n as usize;
            let header = std::mem::size_of::<libc::inotify_event>();
            while at + header <= n {
                // The kernel writes whole events: the header, then `len` bytes of name.
                let mask = u32::from_ne_bytes(buf[at + 4..at + 8].try_into().expect("mask"));
                let len =
                    u32::from_ne_bytes(buf[at + 12..at + 16].try_into().expect("len")) as usize;
                let name_bytes = &buf[at + header..(at + header + len).min(n)];
                let end = name_bytes.iter().position(|b| *b == 0).unwrap_or(len);
                let name = OsStr::from_bytes(&name_bytes[..end])
                    .to_string_lossy()
                    .into_owned();
                into.push((name, mask));
                at += header + len;
            }
        }
    }
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this struct owns, once.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// Each named file was created in the watched directory and its mode or owner never changed
/// afterwards (no `IN_ATTRIB` in the events collected while the command ran). With the
/// umask at 000, a file created 0600 starts 0600; one created wider and narrowed later,
/// before or after it was written and closed, shows an `IN_ATTRIB`.
fn assert_never_widened(events: &[(String, u32)], names: &[&str]) {
    for name in names {
        let mine: Vec<u32> = events
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, m)| *m)
            .collect();
        assert!(
            mine.iter()
                .any(|m| m & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0),
            "{name}: no creation event in {mine:x?}"
        );
        assert!(
            mine.iter().all(|m| m & libc::IN_ATTRIB == 0),
            "{name}: its mode or owner changed after creation: {mine:x?}"
        );
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// `sh -c 'umask 000; exec BIN …'`: the widest umask, so only the mode the program asks
/// for at creation decides the file's permissions.
fn with_open_umask(cmd: &Command) -> Command {
    let mut sh = Command::new("/bin/sh");
    sh.arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    sh.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    sh
}

#[test]
fn the_search_finds_a_planted_piece_of_a_secret() {
    let mut needles = Needles::new();
    needles.secret("a test secret", "abc8Q~0123456789ABCDEFGHIJabcdefghij.-_~");
    needles.token(
        "a test token",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    );
    needles.assert_absent("clean text", "hint abc, keyId 1234, eyJhbGciOiJIUzI1NiJ9");
    for planted in [
        "x 0123456789ABCD y",
        "…IJabcdefghij.-_",
        "Bearer eyJzdWIiOiIxMjM0NTY3",
        "sig c2lnbmF0dXJlLXNp",
    ] {
        let caught = std::panic::catch_unwind(|| needles.assert_absent("planted", planted));
        assert!(caught.is_err(), "missed a planted piece in {planted:?}");
    }
}

#[test]
fn the_watch_sees_a_file_created_wide_and_narrowed_later() {
    let dir = tempfile::tempdir().expect("dir");
    let watch = DirWatch::new(dir.path());
    // Right: created 0600 in one step.
    fsutil_like_create(&dir.path().join("good"), 0o600);
    // Wrong: created with the default mode, then narrowed.
    let bad = dir.path().join("bad");
    fs::write(&bad, b"secret").expect("write");
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut events = Vec::new();
    watch.drain(&mut events);
    assert_never_widened(&events, &["good"]);
    let caught = std::panic::catch_unwind(|| assert_never_widened(&events, &["bad"]));
    assert!(caught.is_err(), "missed the chmod: {events:x?}");
}

fn fsutil_like_create(path: &Path, mode: u32) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .expect("create");
    f.write_all(b"secret").expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_commands_at_trace_level_print_no_secret_or_token() {
    let tenant = FakeTenant::start(FakeTenantConfig {
        faults: Faults {
            // A few retries and a lost answer, so the error and retry paths log too.
            throttle_every: Some(9),
            retry_after_secs: 0.01,
            drop_connection_every: Some(13),
            drop_after_processing: true,
            replication_reads: 1,
            ..Faults::default()
        },
        tenant_id: None,
    })
    .await
    .expect("fake tenant");
    let home = tempfile::tempdir().expect("home");
    let secrets_dir = home.path().join("secrets");
    fs::create_dir(&secrets_dir).expect("secrets dir");
    let config = home.path().join("es-config");
    fs::create_dir(&config).expect("config dir");
    let first = secrets_dir.join("first.secret");
    let second = secrets_dir.join("second.secret");

    let watch = DirWatch::new(&secrets_dir);
    let mut events = Vec::new();
    let mut outputs: Vec<(String, String)> = Vec::new();

    // provision with --secret-file, under the widest umask.
    let mut args: Vec<String> = [
        "provision",
        "--app-name",
        "leak-app",
        "--secret-file",
        first.to_str().expect("utf-8"),
    ]
    .map(String::from)
    .to_vec();
    args.extend(graph_flags(&tenant));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(with_open_umask(&command(&tenant, home.path(), &refs))).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    watch.drain(&mut events);
    assert_eq!(mode(&first), 0o600, "--secret-file mode");
    outputs.push(("provision".into(), text(&out.stdout) + &text(&out.stderr)));

    // A second secret, JSON output.
    let mut args: Vec<String> = [
        "provision",
        "--app-name",
        "leak-app",
        "--new-secret",
        "--output",
        "json",
        "--secret-file",
        second.to_str().expect("utf-8"),
    ]
    .map(String::from)
    .to_vec();
    args.extend(graph_flags(&tenant));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(with_open_umask(&command(&tenant, home.path(), &refs))).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    watch.drain(&mut events);
    assert_eq!(mode(&second), 0o600, "--secret-file mode");
    outputs.push((
        "provision --new-secret --output json".into(),
        text(&out.stdout) + &text(&out.stderr),
    ));
    assert_never_widened(&events, &["first.secret", "second.secret"]);

    let config_arg = config.to_str().expect("utf-8").to_string();
    for (label, args, codes) in [
        (
            "setup",
            vec!["setup", "--app-name", "leak-app", "--config", &config_arg],
            vec![0],
        ),
        (
            "status",
            vec!["status", "--app-name", "leak-app", "--config", &config_arg],
            // Status reports what it finds; any of its report codes is fine here.
            vec![0, 1, 3, 5],
        ),
        (
            "provision --dry-run",
            vec!["provision", "--app-name", "leak-app", "--dry-run"],
            vec![0],
        ),
        (
            "deprovision --yes",
            vec!["deprovision", "--app-name", "leak-app", "--yes"],
            vec![0],
        ),
    ] {
        let (stdout, stderr) = run_logged(&tenant, home.path(), &args, &codes).await;
        outputs.push((label.to_string(), stdout + &stderr));
    }

    // A wrong admin secret: the refusal is printed, the secret is not.
    let wrong = "Wr0ng~secret.value-that-must-not-print_123";
    let mut cmd = command(
        &tenant,
        home.path(),
        &["provision", "--app-name", "leak-app", "--dry-run"],
    );
    cmd.args(graph_flags(&tenant))
        .env("AZURE_CLIENT_SECRET", wrong);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let refused = text(&out.stdout) + &text(&out.stderr);
    assert!(refused.contains("invalid_client"), "{refused}");
    let mut wrong_needle = Needles::new();
    wrong_needle.secret("the wrong client secret", wrong);
    wrong_needle.assert_absent("a refused provision", &refused);

    // Everything the tenant ever handed out, and the two secret files' contents.
    let mut needles = Needles::new();
    needles.secret(
        "the admin's client secret",
        tenant.admin().client_secret.expose_secret(),
    );
    let issued_secrets = tenant.issued_secrets();
    assert!(issued_secrets.len() >= 4, "admin + two provisions + setup");
    for s in &issued_secrets {
        needles.secret("a client secret the tenant created", s.expose_secret());
    }
    let tokens = tenant.issued_tokens();
    assert!(tokens.len() >= 5, "each command got a token");
    for t in &tokens {
        needles.token("an access token", t.expose_secret());
    }
    for file in [&first, &second] {
        needles.secret(
            "a --secret-file's secret",
            fs::read_to_string(file).expect("secret file").trim(),
        );
    }
    let mut traced = 0;
    for (label, output) in &outputs {
        // The logs really are at trace level: otherwise this test proves little.
        traced += output.matches("TRACE").count();
        needles.assert_absent(label, output);
    }
    assert!(
        traced > 20,
        "expected trace-level logs, saw {traced} TRACE lines"
    );
}

/// Read lines from a child's pipe on a thread, into a shared buffer.
fn collect_lines<R: Read + Send + 'static>(
    pipe: R,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    std::thread::JoinHandle<()>,
) {
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    let handle = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Ok(mut l) = sink.lock() {
                l.push(line);
            }
        }
    });
    (lines, handle)
}

fn snapshot(lines: &std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> Vec<String> {
    lines.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Parse `KEY=VALUE` lines of the fake tenant's env file.
fn env_file(path: &Path) -> HashMap<String, String> {
    fs::read_to_string(path)
        .expect("env file")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_fake_tenant_logs_no_secret_and_writes_its_files_0600() {
    let dir = tempfile::tempdir().expect("dir");
    let watch = DirWatch::new(dir.path());
    let env_path = dir.path().join("ft.env");
    let mut ft_cmd = Command::new(BIN);
    ft_cmd
        .args(["-vvv", "fake-tenant", "--tls", "--credentials-file"])
        .arg(&env_path)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "trace");
    let mut ft = with_open_umask(&ft_cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("start fake-tenant");
    let (out_lines, out_thread) = collect_lines(ft.stdout.take().expect("stdout"));
    let (err_lines, err_thread) = collect_lines(ft.stderr.take().expect("stderr"));

    // Wait for the banner (it is printed once the credential files exist).
    let give_up = Instant::now() + Duration::from_secs(20);
    let host = loop {
        let lines = snapshot(&out_lines);
        if let Some(host) = lines
            .first()
            .and_then(|l| l.strip_prefix("fake tenant listening on "))
            .filter(|_| lines.iter().any(|l| l.contains("Stop with Ctrl-C")))
        {
            break host.to_string();
        }
        assert!(Instant::now() < give_up, "no banner: {lines:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(host.starts_with("https://127.0.0.1:"), "{host}");
    let secret_path = dir.path().join("ft.env.secret");
    let ca_path = dir.path().join("ft.env.ca.pem");
    assert_eq!(mode(&env_path), 0o600);
    assert_eq!(mode(&secret_path), 0o600);
    assert_eq!(mode(&ca_path), 0o644, "the CA certificate is public");
    let mut events = Vec::new();
    watch.drain(&mut events);
    assert_never_widened(&events, &["ft.env", "ft.env.secret", "ft.env.ca.pem"]);

    let creds = env_file(&env_path);
    let admin_secret = fs::read_to_string(&secret_path).expect("secret file");
    assert_eq!(
        creds.get("AZURE_CLIENT_SECRET_FILE").map(PathBuf::from),
        Some(secret_path.clone())
    );
    assert!(
        !fs::read_to_string(&env_path)
            .expect("env")
            .contains(admin_secret.trim()),
        "the env file points at the secret, never holds it"
    );

    // A token issued by the standalone tenant, used for a Graph call it logs at trace level.
    let http = build_client(&HttpOptions {
        ca_cert: Some(ca_path.clone()),
        ..HttpOptions::default()
    })
    .expect("client");
    let token = client_credentials_token(
        &http,
        &host,
        &creds["AZURE_TENANT_ID"],
        &creds["AZURE_CLIENT_ID"],
        &SecretString::from(admin_secret.trim().to_string()),
        SCOPE,
    )
    .await
    .expect("token from the standalone tenant");
    let listed = http
        .get(format!("{host}/v1.0/applications?$top=1"))
        .bearer_auth(token.token.expose_secret())
        .send()
        .await
        .expect("graph call");
    assert!(listed.status().is_success());

    // provision (another process) against it, writing a secret file.
    let realm_secret = dir.path().join("realm.secret");
    let out = run({
        let mut cmd = Command::new(BIN);
        cmd.args([
            "-vvv",
            "provision",
            "--app-name",
            "standalone-leak",
            "--auth",
        ])
        .arg("client-secret")
        .arg("--access-token-host")
        .arg(&host)
        .arg("--graph-host")
        .arg(format!("{host}/v1.0"))
        .arg("--ca-cert")
        .arg(&ca_path)
        .arg("--secret-file")
        .arg(&realm_secret)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "trace");
        for (k, v) in &creds {
            cmd.env(k, v);
        }
        cmd
    })
    .await;
    let provision_output = text(&out.stdout) + &text(&out.stderr);
    assert!(out.status.success(), "{provision_output}");
    let realm_value = fs::read_to_string(&realm_secret).expect("realm secret");

    // Stop the fake tenant (SIGTERM) and collect everything it printed.
    // SAFETY: signalling a child process this test started and still owns.
    unsafe {
        libc::kill(ft.id() as i32, libc::SIGTERM);
    }
    let status = tokio::task::spawn_blocking(move || ft.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "fake-tenant exit: {status:?}");
    let _ = out_thread.join();
    let _ = err_thread.join();
    let logged = snapshot(&out_lines).join("\n") + &snapshot(&err_lines).join("\n");
    assert!(logged.contains("TRACE"), "trace logging was on: {logged}");
    assert!(!env_path.exists() && !secret_path.exists() && !ca_path.exists());

    let mut needles = Needles::new();
    needles.secret("the fake tenant's admin secret", admin_secret.trim());
    needles.secret("the realm's new client secret", realm_value.trim());
    needles.token(
        "a token the fake tenant issued",
        token.token.expose_secret(),
    );
    needles.assert_absent("fake-tenant's output", &logged);
    needles.assert_absent("provision's output", &provision_output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_formatting_of_secret_holding_types_shows_no_value() {
    let tenant = FakeTenant::start(FakeTenantConfig::default())
        .await
        .expect("fake tenant");
    let admin = tenant.admin();
    let admin_secret = admin.client_secret.expose_secret().to_string();
    let http = build_client(&HttpOptions::default()).expect("client");
    let source = ClientSecretSource::new(
        http.clone(),
        &tenant.access_token_host(),
        &admin.tenant_id,
        &admin.client_id,
        admin.client_secret.clone(),
    )
    .expect("source");
    let token = source.token(SCOPE).await.expect("token");
    let token_value = token.token.expose_secret().to_string();
    let graph = GraphClient::new(
        http.clone(),
        std::sync::Arc::new(source),
        &tenant.graph_host(),
        SCOPE,
        Instant::now() + Duration::from_secs(30),
    )
    .expect("graph");

    let mut endpoints = Cloud::Global.endpoints();
    endpoints.access_token_host = tenant.access_token_host();
    endpoints.graph_host = tenant.graph_host();
    let mut opts = ProvisionOptions::for_endpoints(&endpoints).with_app_name("debug-leak");
    opts.add_secret = AddSecret::IfNone;
    let record = provision(&graph, &opts, &NoProgress)
        .await
        .expect("provision");
    let new_secret = record.new_secret.as_ref().expect("a new secret");
    let new_value = new_secret.value.expose_secret().to_string();
    let object_id = record.app_object_id.clone().expect("object id");
    let password = graph
        .add_password(
            &object_id,
            "debug-leak second",
            chrono::Utc::now() + chrono::Duration::days(1),
        )
        .await
        .expect("addPassword");
    let password_value = password.secret_text.expose_secret().to_string();
    let pki = TestPki::generate().expect("pki");

    let mut needles = Needles::new();
    needles.secret("the admin secret", &admin_secret);
    needles.token("the access token", &token_value);
    needles.secret("the provisioned secret", &new_value);
    needles.secret("the addPassword secret", &password_value);

    let shown = [
        ("AccessToken", format!("{token:?}")),
        ("FakeCredentials", format!("{admin:?}")),
        ("FakeTenant", format!("{tenant:?}")),
        ("GraphClient", format!("{graph:?}")),
        ("TokenSource::describe", graph.token_source().describe()),
        ("NewSecret", format!("{new_secret:?}")),
        ("Provisioned", format!("{record:?} {record:#?}")),
        (
            "Provisioned as JSON",
            serde_json::to_string(&record).expect("json"),
        ),
        ("NewPassword", format!("{password:?}")),
    ];
    for (what, text) in &shown {
        needles.assert_absent(what, text);
    }
    // The TLS key is a secret too.
    let key_marker = "PRIVATE KEY";
    let tls = format!("{:?} {pki:?}", pki.server);
    assert!(!tls.contains(key_marker), "{tls}");
    // And a refused secret does not come back in the error.
    let wrong = SecretString::from("Wr0ng~debug-secret-value.XYZ_0123456789".to_string());
    let err = client_credentials_token(
        &http,
        &tenant.access_token_host(),
        &admin.tenant_id,
        &admin.client_id,
        &wrong,
        SCOPE,
    )
    .await
    .expect_err("wrong secret");
    let mut wrong_needle = Needles::new();
    wrong_needle.secret("the wrong secret", wrong.expose_secret());
    wrong_needle.assert_absent("AuthError", &format!("{err} {err:?}"));
}

/// Secrets come from the environment, files or stdin, never from argv (where `ps` and shell
/// history show them): no command has a flag that takes one.
#[test]
fn no_flag_takes_a_secret_value_on_the_command_line() {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String, Vec<String>)>) {
        for arg in cmd.get_arguments() {
            if let (Some(long), true) = (arg.get_long(), arg.get_action().takes_values()) {
                let value_names = arg
                    .get_value_names()
                    .map(|v| v.iter().map(|n| n.to_string()).collect())
                    .unwrap_or_default();
                out.push((path.to_string(), long.to_string(), value_names));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }
    let mut flags = Vec::new();
    walk(&Cli::command(), "msgraph-keystore", &mut flags);
    assert!(flags.len() > 30, "{flags:?}");
    for (command, flag, value_names) in flags {
        let secretish = ["secret", "password", "token", "credential", "key"]
            .iter()
            .any(|w| flag.contains(w));
        // What such a flag may hold instead: a path to the secret, or a name, a lifetime, a
        // host or a count (`--secret-name NAME` names a Kubernetes Secret), or a client
        // secret's keyId (`rotate --remove-secret-id KEYID`: the public ID Graph lists, not the value).
        let harmless = flag.ends_with("-file")
            || (!value_names.is_empty()
                && value_names.iter().all(|v| {
                    ["FILE", "PATH", "DIR", "NAME", "DAYS", "URL", "N", "KEYID"]
                        .contains(&v.as_str())
                }));
        assert!(
            !secretish || harmless,
            "`{command} --{flag}` would take a secret on the command line"
        );
    }
}

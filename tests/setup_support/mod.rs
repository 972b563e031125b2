//! Shared set-up for the `setup`/`verify`/`rotate`/`status`/`demo` CLI tests: an in-process
//! fake tenant, the real binary pointed at it with a clean environment, and helpers to read
//! back what was written (keystore, yml, tenant state, file bytes and mtimes).
//!
//! Every test starts its own tenant (cheap: an in-process server on 127.0.0.1:0), so no test
//! sees another's applications. The binary runs on a blocking thread while the tenant keeps
//! serving on the test's runtime, which must therefore be multi-threaded.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use fake_tenant::{
    AppSnapshot, FakeCredentials, FakeTenant, FakeTenantConfig, Faults, TenantSnapshot,
};
use msgraph_keystore::auth::{client_credentials_token, AuthError};
use msgraph_keystore::esconfig::realm_setting_key;
use msgraph_keystore::keystore::{self, Keystore};
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::secret::{ExposeSecret, SecretString};

/// The realm every test sets up unless it says otherwise.
pub const REALM: &str = "microsoft_graph1";
/// The scope the realm asks for.
pub const REALM_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Fixture keystores written by Elasticsearch itself (see `fixtures/keystores/manifest.json`).
pub fn fixture_keystore(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keystores")
        .join(case)
        .join("elasticsearch.keystore")
}

/// The keystore setting holding the realm's client secret.
pub fn secret_key(realm: &str) -> String {
    realm_setting_key(realm, "client_secret")
}

/// A fake tenant plus a scratch directory for config dirs and files.
pub struct Harness {
    pub tenant: FakeTenant,
    pub admin: FakeCredentials,
    pub scratch: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::with_faults(Faults::default()).await
    }

    pub async fn with_faults(faults: Faults) -> Harness {
        let tenant = match FakeTenant::start(FakeTenantConfig {
            faults,
            tenant_id: None,
        })
        .await
        {
            Ok(t) => t,
            Err(e) => panic!("cannot start the fake tenant: {e}"),
        };
        let admin = tenant.admin();
        let scratch = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a temp dir: {e}"),
        };
        Harness {
            tenant,
            admin,
            scratch,
        }
    }

    /// A new, empty directory under the scratch dir.
    pub fn dir(&self, name: &str) -> PathBuf {
        let path = self.scratch.path().join(name);
        mkdirs(&path);
        path
    }

    /// The flags that point a Graph-talking command at the fake tenant as its admin.
    pub fn graph_flags(&self) -> Vec<String> {
        vec![
            "--auth".into(),
            "client-secret".into(),
            "--access-token-host".into(),
            self.tenant.access_token_host(),
            "--graph-host".into(),
            self.tenant.graph_host(),
        ]
    }

    /// The binary with `args`, a clean environment (no `ES_PATH_CONF`, no keystore
    /// password, no proxy, no other Azure variables) and the admin's credentials.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.scratch.path())
            .env("NO_COLOR", "1")
            .env("AZURE_TENANT_ID", &self.admin.tenant_id)
            .env("AZURE_CLIENT_ID", &self.admin.client_id)
            .env(
                "AZURE_CLIENT_SECRET",
                self.admin.client_secret.expose_secret(),
            );
        cmd
    }

    /// `setup`/`rotate`/`status` (anything taking the Graph flags) with `args`.
    pub fn graph_command(&self, subcommand: &str, args: &[&str]) -> Command {
        let mut all: Vec<String> = vec![subcommand.to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        all.extend(self.graph_flags());
        self.command(&all)
    }

    /// Run `setup --config DIR... <args>` against the tenant.
    pub async fn setup(&self, dirs: &[&Path], args: &[&str]) -> Run {
        let mut all: Vec<String> = Vec::new();
        for d in dirs {
            all.push("--config".into());
            all.push(d.display().to_string());
        }
        all.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        run(self.graph_command("setup", &refs)).await
    }

    /// Run `verify --config DIR <args>` (verify reads the hosts from the yml).
    pub async fn verify(&self, dir: &Path, args: &[&str]) -> Run {
        let mut all: Vec<String> = vec![
            "verify".into(),
            "--config".into(),
            dir.display().to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        run(self.command(&all)).await
    }

    pub fn snapshot(&self) -> TenantSnapshot {
        self.tenant.snapshot()
    }

    /// The applications other than the admin caller's.
    pub fn realm_apps(&self) -> Vec<AppSnapshot> {
        let snap = self.snapshot();
        snap.applications
            .iter()
            .filter(|a| a.app_id != snap.admin_app_id)
            .cloned()
            .collect()
    }

    /// The single realm application; fails the test when there is not exactly one.
    pub fn the_app(&self) -> AppSnapshot {
        let apps = self.realm_apps();
        assert_eq!(
            apps.len(),
            1,
            "expected exactly one realm application: {apps:#?}"
        );
        apps.into_iter().next().unwrap_or_else(|| unreachable!())
    }

    /// Object id of the service principal of `app_id`.
    pub fn sp_id(&self, app_id: &str) -> String {
        match self.snapshot().service_principal_of(app_id) {
            Some(sp) => sp.id.clone(),
            None => panic!("no service principal for {app_id}"),
        }
    }

    /// Whether the token endpoint issues a realm token to `client_id` with `secret`.
    pub async fn token_for(&self, client_id: &str, secret: &SecretString) -> Result<(), AuthError> {
        let http = match build_client(&HttpOptions::default()) {
            Ok(h) => h,
            Err(e) => panic!("http client: {e}"),
        };
        client_credentials_token(
            &http,
            &self.tenant.access_token_host(),
            &self.tenant.tenant_id(),
            client_id,
            secret,
            REALM_SCOPE,
        )
        .await
        .map(|_| ())
    }

    /// Assert the token endpoint accepts `secret` for `client_id`.
    pub async fn assert_accepted(&self, client_id: &str, secret: &SecretString) {
        if let Err(e) = self.token_for(client_id, secret).await {
            panic!("the tenant refuses the secret for {client_id}: {e}");
        }
    }
}

/// A finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout and stderr, for failure messages and leak checks.
    pub fn all(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.all());
        self
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        self.assert_code(0)
    }
}

/// Run `cmd` on a blocking thread so the tenant keeps serving on the runtime.
pub async fn run(mut cmd: Command) -> Run {
    let output: std::io::Result<Output> =
        match tokio::task::spawn_blocking(move || cmd.stdin(std::process::Stdio::null()).output())
            .await
        {
            Ok(o) => o,
            Err(e) => panic!("the command thread failed: {e}"),
        };
    let output = match output {
        Ok(o) => o,
        Err(e) => panic!("cannot run the binary: {e}"),
    };
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Read and decrypt `dir`'s keystore.
pub fn read_keystore(dir: &Path, password: &str) -> Keystore {
    match keystore::load_read_only(dir, &SecretString::from(password.to_string())) {
        Ok(ks) => ks,
        Err(e) => panic!("cannot read the keystore in {}: {e}", dir.display()),
    }
}

/// A string entry of a keystore, or `None`.
pub fn entry(ks: &Keystore, name: &str) -> Option<SecretString> {
    match ks.get_string(name) {
        Ok(v) => v,
        Err(e) => panic!("entry {name} is not a string: {e}"),
    }
}

/// The realm's client secret in `dir`'s keystore; fails the test when it is missing.
pub fn realm_secret(dir: &Path, password: &str) -> SecretString {
    match entry(&read_keystore(dir, password), &secret_key(REALM)) {
        Some(s) => s,
        None => panic!("no realm client secret in {}", dir.display()),
    }
}

/// Copy a fixture keystore into `dir`.
pub fn copy_fixture(case: &str, dir: &Path) {
    if let Err(e) = fs::copy(fixture_keystore(case), dir.join("elasticsearch.keystore")) {
        panic!("cannot copy fixture {case}: {e}");
    }
}

pub fn mkdirs(path: &Path) {
    if let Err(e) = fs::create_dir_all(path) {
        panic!("cannot create {}: {e}", path.display());
    }
}

pub fn read_text(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

pub fn write(path: &Path, contents: &str) {
    if let Err(e) = fs::write(path, contents) {
        panic!("cannot write {}: {e}", path.display());
    }
}

pub fn mode(path: &Path) -> u32 {
    match fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(e) => panic!("cannot stat {}: {e}", path.display()),
    }
}

/// One file's bytes and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub bytes: Vec<u8>,
    pub modified: SystemTime,
}

/// Every regular file directly in `dir` (name → bytes, mtime), to prove nothing changed.
pub fn dir_state(dir: &Path) -> BTreeMap<String, FileState> {
    let mut files = BTreeMap::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if meta.is_file() {
            files.insert(
                name,
                FileState {
                    bytes: match fs::read(&path) {
                        Ok(b) => b,
                        Err(e) => panic!("cannot read {}: {e}", path.display()),
                    },
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                },
            );
        } else {
            files.insert(
                format!("{name}/"),
                FileState {
                    bytes: Vec::new(),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                },
            );
        }
    }
    files
}

/// Let the clock tick past the filesystem's mtime resolution, so a rewrite with the same
/// bytes would still show in `dir_state`.
pub fn tick() {
    std::thread::sleep(Duration::from_millis(20));
}

/// The setting's value in the yml of `dir`, as Elasticsearch would read it.
pub fn yml_value(dir: &Path, realm: &str, setting: &str) -> Option<String> {
    match msgraph_keystore::esconfig::EsYml::load(dir) {
        Ok(yml) => yml.get(&realm_setting_key(realm, setting)),
        Err(e) => panic!("cannot read the yml in {}: {e}", dir.display()),
    }
}

/// Assert no text in `haystack` contains `needle` (a secret), without printing the secret.
#[track_caller]
pub fn assert_no_secret(haystack: &str, needle: &str, what: &str) {
    assert!(
        needle.len() >= 8,
        "{what}: the secret to look for is implausibly short"
    );
    if let Some(at) = haystack.find(needle) {
        let start = haystack[..at].rfind('\n').map_or(0, |i| i + 1);
        panic!(
            "{what} leaked: it appears at byte {at}, in a line starting `{}`",
            haystack[start..at].chars().take(80).collect::<String>()
        );
    }
}

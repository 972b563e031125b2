//! The documented examples whose outcome can be checked, run as written (issue 9): the
//! README's by-hand walkthrough and the fake tenant's own "Try it" text (both against the
//! standalone `fake-tenant`), the image-build pattern of docs/setup.md §5, the troubleshooting
//! row for a secret-lifetime policy, and keystore.md's word on 6.x.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use fake_tenant::{FakeTenant, FakeTenantConfig, Faults};
use msgraph_keystore::secret::ExposeSecret;

const README: &str = include_str!("../README.md");
const SETUP_MD: &str = include_str!("../docs/setup.md");
const KEYSTORE_MD: &str = include_str!("../docs/keystore.md");
const BIN: &str = env!("CARGO_BIN_EXE_msgraph-keystore");

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `bash -e` running `script` in `dir`, with the binary first on PATH.
fn bash(dir: &Path, script: &str) -> Output {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .args(["--norc", "--noprofile", "-e", "-c", script])
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The standalone fake tenant, started in `dir` as the docs start it, on a free port.
struct Standalone {
    child: Child,
    host: String,
    banner: String,
}

impl Standalone {
    fn start(dir: &Path) -> Standalone {
        let mut child = Command::new(BIN)
            .args(["fake-tenant", "--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env_remove("ES_PATH_CONF")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            banner.push_str(&line);
            banner.push('\n');
            if line.starts_with("Stop with Ctrl-C") {
                break;
            }
        }
        let host = banner
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("fake tenant listening on "))
            .unwrap_or_else(|| panic!("no address in the banner: {banner}"))
            .to_owned();
        Standalone {
            child,
            host,
            banner,
        }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        // SIGTERM, as Ctrl-C: it removes its credential files and exits.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// The lines of the first ```sh block after `heading` in `doc`.
fn sh_block_after(doc: &str, heading: &str) -> String {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("{heading} not found"));
    let rest = &doc[start..];
    let open = rest.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let close = rest[open..].find("```").expect("its end");
    rest[open..open + close].to_owned()
}

/// Every `--app-name` in a script: provision and setup must name the same application.
fn app_names(script: &str) -> Vec<String> {
    let words: Vec<&str> = script.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "--app-name")
        .map(|w| w[1].to_owned())
        .collect()
}

/// Each `msgraph-keystore setup|provision` command of a script names an application.
fn assert_one_application(script: &str, what: &str) {
    let commands = script.replace("\\\n", " ");
    for line in commands.lines() {
        let line = line.trim();
        let graph_command = ["setup", "provision"].iter().any(|c| {
            line.split("&&")
                .any(|part| part.trim().starts_with(&format!("msgraph-keystore {c} ")))
        });
        if graph_command {
            assert!(
                line.contains("--app-name "),
                "{what}: a command without --app-name creates the default application too: {line}"
            );
        }
    }
    let names = app_names(script);
    assert!(!names.is_empty(), "{what}: no --app-name");
    assert!(
        names.iter().all(|n| n == &names[0]),
        "{what} names several applications: {names:?}"
    );
}

#[test]
fn readme_walkthrough_runs_as_written_with_one_application() {
    let block = sh_block_after(README, "## Try the commands by hand");
    assert_one_application(&block, "README");
    let dir = tempfile::tempdir().unwrap();
    let tenant = Standalone::start(dir.path());
    // Shell 1 is the fake tenant started above; the build is the one under test.
    let script: String = block
        .lines()
        .filter(|l| !l.contains("cargo build") && !l.contains("fake-tenant --listen"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("http://127.0.0.1:8080", &tenant.host);
    let out = bash(dir.path(), &script);
    assert!(
        out.status.success(),
        "README walkthrough failed:\n{script}\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .contains("xpack.security.authc.realms.microsoft_graph.microsoft_graph1.client_secret"),
        "{stdout}"
    );
}

#[test]
fn fake_tenant_hint_runs_as_printed_with_one_application() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = Standalone::start(dir.path());
    let banner = &tenant.banner;
    let start = banner.find("Try it, in another shell:").expect("the hint");
    let end = banner.find("Stop with Ctrl-C").unwrap();
    let hint = &banner[start + "Try it, in another shell:".len()..end];
    assert!(hint.contains("mkdir es-config"), "{hint}");
    assert_one_application(hint, "fake tenant hint");
    let out = bash(dir.path(), hint);
    assert!(
        out.status.success(),
        "the hint failed:\n{hint}\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// In-process fake tenant for the checks that look inside it.
fn with_tenant(faults: Faults, f: impl FnOnce(&FakeTenant)) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tenant = rt
        .block_on(FakeTenant::start(FakeTenantConfig {
            faults,
            tenant_id: None,
        }))
        .unwrap();
    f(&tenant);
    rt.block_on(tenant.shutdown());
}

fn cli(tenant: &FakeTenant, args: &[&str]) -> Command {
    let admin = tenant.admin();
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("AZURE_TENANT_ID", &admin.tenant_id)
        .env("AZURE_CLIENT_ID", &admin.client_id)
        .env("AZURE_CLIENT_SECRET", admin.client_secret.expose_secret())
        .args(args)
        .args(["--access-token-host", &tenant.access_token_host()])
        .args(["--graph-host", &tenant.graph_host()])
        .stdin(Stdio::null());
    cmd
}

fn ok(mut cmd: Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn secrets_of(tenant: &FakeTenant, app: &str) -> usize {
    let snap = tenant.snapshot();
    let apps = snap.applications_named(app);
    assert_eq!(apps.len(), 1, "applications named {app}");
    apps[0].password_credentials.len()
}

/// docs/setup.md §5: a `setup` per build adds a secret per build; provisioning once and
/// `keystore add` in the build adds none, and the result verifies.
#[test]
fn image_build_pattern_adds_no_secret_per_build() {
    assert!(SETUP_MD.contains("Each such build adds a client secret"));
    assert!(SETUP_MD.contains("keystore add -x -f"));
    with_tenant(Faults::default(), |tenant| {
        let app = "image-app";
        // Two "builds" with setup, each from a fresh config dir: two secrets.
        for _ in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let mut cmd = cli(tenant, &["setup", "--app-name", app, "--no-verify"]);
            cmd.arg("--config").arg(dir.path());
            ok(cmd);
        }
        assert_eq!(secrets_of(tenant, app), 2);

        // The pattern: provision once, then builds that only write the two files.
        let app = "image-app-once";
        let work = tempfile::tempdir().unwrap();
        let secret_file = work.path().join("realm-secret");
        let mut cmd = cli(
            tenant,
            &["provision", "--app-name", app, "--output", "json"],
        );
        cmd.arg("--secret-file").arg(&secret_file);
        let record: serde_json::Value = serde_json::from_slice(&ok(cmd).stdout).unwrap();
        let client_id = record["app_id"].as_str().unwrap().to_owned();
        let tenant_id = record["tenant_id"].as_str().unwrap().to_owned();
        for _ in 0..2 {
            let config: PathBuf = tempfile::tempdir().unwrap().keep();
            let mut add = Command::new(BIN);
            add.env_clear()
                .args(["keystore", "add", "-x", "-f", "--config"])
                .arg(&config)
                .arg("xpack.security.authc.realms.microsoft_graph.microsoft_graph1.client_secret")
                .stdin(std::fs::File::open(&secret_file).unwrap());
            ok(add);
            // The yml of §5, plus the fake tenant's hosts (a real tenant needs none).
            std::fs::write(
                config.join("elasticsearch.yml"),
                format!(
                    "xpack.security.authc.realms.microsoft_graph.microsoft_graph1:\n  order: 2\n  client_id: {client_id}\n  tenant_id: {tenant_id}\n  access_token_host: {}\n  graph_host: {}\n",
                    tenant.access_token_host(),
                    tenant.graph_host()
                ),
            )
            .unwrap();
            let mut verify = Command::new(BIN);
            verify.env_clear().args(["verify", "--config"]).arg(&config);
            ok(verify);
            std::fs::remove_dir_all(&config).unwrap();
        }
        assert_eq!(secrets_of(tenant, app), 1, "the builds added secrets");
    });
}

/// docs/setup.md troubleshooting: the code a lifetime policy answers with is the one named.
#[test]
fn lifetime_policy_row_names_the_code_the_tenant_sends() {
    with_tenant(
        Faults {
            max_secret_lifetime_days: Some(30),
            ..Faults::default()
        },
        |tenant| {
            let dir = tempfile::tempdir().unwrap();
            let mut cmd = cli(
                tenant,
                &["setup", "--secret-lifetime", "180", "--no-verify"],
            );
            cmd.arg("--config").arg(dir.path());
            let out = cmd.output().unwrap();
            assert!(!out.status.success());
            let stderr = text(&out.stderr);
            let code = "CredentialInvalidLifetimeAsPerAppPolicy";
            assert!(stderr.contains(code), "{stderr}");
            assert!(
                SETUP_MD.contains(&format!("`… {code}`")),
                "setup.md lacks {code}"
            );
            assert!(stderr.contains("--secret-lifetime"), "{stderr}");
        },
    );
}

/// docs/keystore.md on 6.x says what the tool does.
#[test]
fn keystore_md_on_6x_matches_the_tool() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .env_clear()
        .args([
            "keystore",
            "create",
            "--target-es-version",
            "6.8",
            "--config",
        ])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let said = "use that release's own elasticsearch-keystore";
    assert!(text(&out.stderr).contains(said), "{}", text(&out.stderr));
    let doc = KEYSTORE_MD.replace("\n  ", " ");
    assert!(
        doc.contains(said),
        "keystore.md does not say what the tool says"
    );
    assert!(doc.contains("`--target-es-version` takes 7.0 and later"));
}

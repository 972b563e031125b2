//! docs/exit-codes.md, row by row, against the real binary (issue 9: the table and the tool had
//! drifted apart).
//!
//! Every test here is named `exit_<code>_…` and reproduces its row's situation. The last test
//! parses the table and fails when a code in it has no `exit_<code>_` test, or a test's code is
//! not in the table: a row added later must come with a case. Each case also checks the
//! output format the document promises: an error is one `ERROR: …, with exit code N` line.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use fake_tenant::{FakeTenant, FakeTenantConfig, Faults};
use msgraph_keystore::secret::ExposeSecret;

const DOC: &str = include_str!("../docs/exit-codes.md");
const THIS_FILE: &str = include_str!("exit_codes_doc.rs");

/// The binary with nothing inherited that could change its behaviour.
fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run the binary");
    let mut input = child.stdin.take().unwrap();
    // A command that exits before reading its stdin closes the pipe: not an error here.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit code, and for an error the documented format: exactly one line starting with
/// `ERROR: `, and it ends with `, with exit code N`. Returns that line.
fn expect_error(o: &Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
    let text = stderr(o);
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("ERROR: ")).collect();
    assert_eq!(errors.len(), 1, "expected one ERROR line: {text}");
    let suffix = format!(", with exit code {code}");
    assert!(errors[0].ends_with(&suffix), "no {suffix:?}: {text}");
    assert!(
        text.lines()
            .all(|l| !l.starts_with("error:") && !l.starts_with("Usage:")),
        "clap's several-line error: {text}"
    );
    errors[0].to_owned()
}

/// An answer that is not an error (codes 1, 3, 5): the exit code, no `, with exit code`
/// line, and the report on stdout or stderr holding `needle`.
fn expect_report(o: &Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
    assert!(!all.contains(", with exit code"), "{all}");
    assert!(all.contains(needle), "{needle:?} not in: {all}");
}

/// A config directory with a keystore made by the tool itself.
struct Conf {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Conf {
    fn new() -> Conf {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("config");
        std::fs::create_dir(&dir).unwrap();
        Conf { _tmp: tmp, dir }
    }

    fn keystore(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut cmd = bin();
        cmd.arg("keystore")
            .args(args)
            .arg("--config")
            .arg(&self.dir);
        run(cmd, stdin)
    }

    /// A keystore protected by `pw`.
    fn with_password(pw: &str) -> Conf {
        let conf = Conf::new();
        let o = conf.keystore(&["create", "-p"], format!("{pw}\n{pw}\n").as_bytes());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        conf
    }
}

/// An in-process fake tenant on a runtime of its own, so the binary can be run blocking.
struct Tenant {
    rt: tokio::runtime::Runtime,
    tenant: Option<FakeTenant>,
}

impl Tenant {
    fn start(faults: Faults) -> Tenant {
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
        Tenant {
            rt,
            tenant: Some(tenant),
        }
    }

    fn get(&self) -> &FakeTenant {
        self.tenant.as_ref().unwrap()
    }

    /// The binary signed in as the tenant's admin caller, endpoints at the tenant.
    fn cli(&self, args: &[&str]) -> Command {
        let admin = self.get().admin();
        self.cli_as(args, &admin.client_id, admin.client_secret.expose_secret())
    }

    fn cli_as(&self, args: &[&str], client_id: &str, secret: &str) -> Command {
        let t = self.get();
        let mut cmd = bin();
        cmd.env("AZURE_TENANT_ID", t.tenant_id())
            .env("AZURE_CLIENT_ID", client_id)
            .env("AZURE_CLIENT_SECRET", secret)
            .args(args)
            .args(["--access-token-host", &t.access_token_host()])
            .args(["--graph-host", &t.graph_host()]);
        cmd
    }

    /// `setup` into `conf` with the given extra flags; it must succeed.
    fn setup(&self, conf: &Conf, extra: &[&str]) {
        let mut cmd = self.cli(&["setup", "--no-verify"]);
        cmd.arg("--config").arg(&conf.dir).args(extra);
        let o = run(cmd, b"");
        assert_eq!(o.status.code(), Some(0), "setup: {}", stderr(&o));
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        if let Some(t) = self.tenant.take() {
            self.rt.block_on(t.shutdown());
        }
    }
}

fn verify(conf: &Conf) -> Command {
    let mut cmd = bin();
    cmd.args(["verify", "--config"]).arg(&conf.dir);
    cmd
}

// ------------------------------------------------------------------------------ the rows

#[test]
fn exit_0_everything_done_and_create_answered_no() {
    let conf = Conf::new();
    let o = conf.keystore(&["create"], b"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Created elasticsearch keystore in"));
    let o = conf.keystore(&["create"], b"n\n");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "Exiting without creating keystore.\n"
    );
}

#[test]
fn exit_1_has_passwd_negative_prints_es_line_without_suffix() {
    let conf = Conf::new();
    let o = conf.keystore(&["has-passwd"], b"");
    expect_report(&o, 1, "ERROR: Elasticsearch keystore not found\n");
    conf.keystore(&["create"], b"");
    let o = conf.keystore(&["has-passwd"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "ERROR: Keystore is not password-protected\n");
}

#[test]
fn exit_1_status_fail_under_prints_its_line_without_suffix() {
    let t = Tenant::start(Faults::default());
    let conf = Conf::new();
    t.setup(&conf, &["--secret-lifetime", "10"]);
    let mut cmd = t.cli(&["status", "--fail-under", "30", "--output", "json"]);
    cmd.arg("--config").arg(&conf.dir);
    let o = run(cmd, b"");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let line = stderr(&o)
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(line.contains("under --fail-under 30"), "{}", stderr(&o));
    assert!(!line.contains("with exit code"), "{line}");
}

#[test]
fn exit_3_consent_required_prints_the_consent_url() {
    let t = Tenant::start(Faults {
        caller_can_consent: false,
        ..Faults::default()
    });
    let o = run(t.cli(&["provision", "--app-name", "exit3"]), b"");
    expect_report(&o, 3, "adminconsent?client_id=");
}

#[test]
fn exit_4_credentials_rejected() {
    let t = Tenant::start(Faults::default());
    let client = t.get().admin().client_id;
    let o = run(t.cli_as(&["provision"], &client, "wrong-secret"), b"");
    let line = expect_error(&o, 4);
    assert!(!stderr(&o).contains("wrong-secret"), "{line}");
}

#[test]
fn exit_5_verify_token_lacks_permissions() {
    let t = Tenant::start(Faults::default());
    let conf = Conf::new();
    t.setup(&conf, &["--no-consent"]);
    let o = run(verify(&conf), b"");
    expect_report(&o, 5, "MISSING");
}

#[test]
fn exit_6_verify_principal_graph_does_not_know() {
    let t = Tenant::start(Faults::default());
    let conf = Conf::new();
    t.setup(&conf, &[]);
    let mut cmd = verify(&conf);
    cmd.args(["--principal", "transient-nameid-4711"]);
    let o = run(cmd, b"");
    let line = expect_error(&o, 6);
    assert!(line.contains("transient-nameid-4711"), "{line}");
}

#[test]
fn exit_8_removal_refused_for_an_unknown_or_in_use_secret() {
    let t = Tenant::start(Faults::default());
    let conf = Conf::new();
    t.setup(&conf, &[]);
    let mut cmd = t.cli(&[
        "rotate",
        "--remove-secret-id",
        "00000000-0000-0000-0000-00000000abcd",
    ]);
    cmd.arg("--config").arg(&conf.dir);
    let o = run(cmd, b"");
    let line = expect_error(&o, 8);
    assert!(
        line.contains("00000000-0000-0000-0000-00000000abcd"),
        "{line}"
    );
}

#[test]
fn exit_64_usage_clap_errors_are_one_line() {
    for args in [
        &["setup", "--con"][..],
        &["keystore", "lis"][..],
        &["completions"][..],
        &["status", "--fail-under", "x"][..],
        &["no-such-command"][..],
    ] {
        let mut cmd = bin();
        cmd.args(args);
        let o = run(cmd, b"");
        let line = expect_error(&o, 64);
        assert!(line.contains("--help"), "{args:?}: {line}");
    }
    // The tip clap gives survives in the line.
    let mut cmd = bin();
    cmd.args(["setup", "--con"]);
    let line = expect_error(&run(cmd, b""), 64);
    assert!(line.contains("'--config'"), "{line}");
}

#[test]
fn exit_64_usage_missing_config_and_existing_secret_file() {
    let mut cmd = bin();
    cmd.args(["keystore", "list"]);
    let line = expect_error(&run(cmd, b""), 64);
    assert!(line.contains("ES_PATH_CONF"), "{line}");

    let conf = Conf::new();
    conf.keystore(&["create"], b"");
    conf.keystore(&["add", "-x", "a.b"], b"v\n");
    let taken = conf.dir.join("taken");
    std::fs::write(&taken, "keep").unwrap();
    let o = conf.keystore(&["show", "a.b", "-o", taken.to_str().unwrap()], b"");
    expect_error(&o, 64);
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "keep");
}

#[test]
fn exit_65_wrong_password_and_missing_keystore() {
    let conf = Conf::with_password("right-pw");
    let o = conf.keystore(&["list"], b"wrong-pw\n");
    let line = expect_error(&o, 65);
    assert!(line.contains("incorrect"), "{line}");
    let empty = Conf::new();
    let line = expect_error(&empty.keystore(&["list"], b""), 65);
    assert!(line.contains("Use 'create'"), "{line}");
}

#[test]
fn exit_69_unreachable() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = bin();
    cmd.env("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000001")
        .env("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000002")
        .env("AZURE_CLIENT_SECRET", "s")
        .args(["provision", "--dry-run", "--timeout", "5s"])
        .args(["--access-token-host", &format!("http://127.0.0.1:{port}")])
        .args(["--graph-host", &format!("http://127.0.0.1:{port}/v1.0")]);
    expect_error(&run(cmd, b""), 69);
}

/// A protected keystore, no password source and stdin closed, in `keystore list` and in
/// `verify` (issue 9): exit 70 as Elasticsearch, a line naming the three ways to pass it.
#[test]
fn exit_70_no_password_without_a_terminal() {
    let conf = Conf::with_password("pw-70");
    let check = |o: &Output| {
        let line = expect_error(o, 70);
        for way in [
            "--password-file",
            "KEYSTORE_PASSWORD,",
            "KEYSTORE_PASSWORD_FILE",
        ] {
            assert!(line.contains(way), "{way} missing: {line}");
        }
    };
    check(&conf.keystore(&["list"], b""));

    let t = Tenant::start(Faults::default());
    let pw_file = conf.dir.join("pw");
    std::fs::write(&pw_file, "pw-70\n\n").unwrap();
    t.setup(&conf, &["--password-file", pw_file.to_str().unwrap()]);
    check(&run(verify(&conf), b""));
    // The same password given the three documented ways works (a file ending in two
    // newlines included, as the Docker image reads it).
    let mut cmd = verify(&conf);
    cmd.arg("--password-file").arg(&pw_file);
    assert_eq!(run(cmd, b"").status.code(), Some(0));
    let mut cmd = verify(&conf);
    cmd.env("KEYSTORE_PASSWORD", "pw-70");
    assert_eq!(run(cmd, b"").status.code(), Some(0));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = verify(&conf);
    cmd.env("KEYSTORE_PASSWORD_FILE", &pw_file);
    let o = run(cmd, b"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn exit_74_a_file_to_read_is_missing() {
    let conf = Conf::new();
    let missing = conf.dir.join("missing-file");
    let o = conf.keystore(&["add-file", "a.b", missing.to_str().unwrap()], b"");
    let line = expect_error(&o, 74);
    assert!(line.contains("does not exist"), "{line}");
}

#[test]
fn exit_75_throttling_outlasts_the_timeout() {
    let t = Tenant::start(Faults {
        throttle_every: Some(1),
        retry_after_secs: 600.0,
        ..Faults::default()
    });
    let mut cmd = t.cli(&["provision", "--dry-run"]);
    cmd.args(["--timeout", "3s"]);
    expect_error(&run(cmd, b""), 75);
}

#[test]
fn exit_77_graph_refuses_for_lack_of_privileges() {
    let t = Tenant::start(Faults::default());
    // An application with a secret but no Graph permissions, used as the caller.
    let app = t.get().seed_application("unprivileged-caller", &[]);
    let creds = t.get().add_secret(&app.app_id, 30);
    let cmd = t.cli_as(
        &["provision", "--app-name", "exit77"],
        &creds.client_id,
        creds.client_secret.expose_secret(),
    );
    expect_error(&run(cmd, b""), 77);
}

#[test]
fn exit_78_config_dir_missing_for_every_keystore_command() {
    let conf = Conf::new();
    let missing = conf.dir.join("missing-dir");
    for args in [
        &["list"][..],
        &["create"][..],
        &["show", "a.b"][..],
        &["add", "-x", "-f", "a.b"][..],
        &["remove", "a.b"][..],
        &["upgrade"][..],
        &["passwd"][..],
    ] {
        let mut cmd = bin();
        cmd.arg("keystore").args(args).arg("--config").arg(&missing);
        let o = run(cmd, b"v\n");
        let line = expect_error(&o, 78);
        assert!(line.contains(missing.to_str().unwrap()), "{args:?}: {line}");
        assert!(!missing.exists());
    }
}

#[test]
fn exit_78_unknown_setting() {
    let conf = Conf::new();
    conf.keystore(&["create"], b"");
    let line = expect_error(&conf.keystore(&["show", "no.such"], b""), 78);
    assert!(line.contains("does not exist in the keystore"), "{line}");
}

// ------------------------------------------------------------------- the table and the tests

/// The codes in the first column of the table in docs/exit-codes.md.
fn table_codes(doc: &str) -> Vec<i32> {
    let mut codes = Vec::new();
    let mut in_table = false;
    for line in doc.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if !line.trim_start().starts_with('|') {
            in_table = false;
            continue;
        }
        if cells.first() == Some(&"code") {
            in_table = true;
            continue;
        }
        if !in_table
            || cells
                .iter()
                .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
        {
            continue;
        }
        let code = cells[0]
            .parse::<i32>()
            .unwrap_or_else(|_| panic!("a row of the table without a numeric code: {line}"));
        codes.push(code);
    }
    codes
}

/// The codes of the `exit_<code>_…` tests in this file.
fn tested_codes(source: &str) -> Vec<i32> {
    let mut codes: Vec<i32> = source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("fn exit_"))
        .filter_map(|rest| rest.split('_').next()?.parse().ok())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

#[test]
fn every_row_of_the_table_has_a_case_and_every_case_a_row() {
    let table = table_codes(DOC);
    assert!(table.len() >= 13, "the table was not found: {table:?}");
    let tested = tested_codes(THIS_FILE);
    let untested: Vec<i32> = table
        .iter()
        .copied()
        .filter(|c| !tested.contains(c))
        .collect();
    let undocumented: Vec<i32> = tested
        .iter()
        .copied()
        .filter(|c| !table.contains(c))
        .collect();
    assert!(
        untested.is_empty(),
        "docs/exit-codes.md lists codes no exit_<code>_ test covers: {untested:?}"
    );
    assert!(
        undocumented.is_empty(),
        "tests exit with codes docs/exit-codes.md does not list: {undocumented:?}"
    );
    // And src/exit.rs has exactly the table's codes.
    let source = include_str!("../src/exit.rs");
    let mut in_code = source
        .lines()
        .filter_map(|l| l.trim().split("=> ").nth(1))
        .filter_map(|v| v.trim_end_matches(',').parse::<i32>().ok())
        .collect::<Vec<_>>();
    in_code.sort_unstable();
    let mut sorted = table.clone();
    sorted.sort_unstable();
    assert_eq!(in_code, sorted, "src/exit.rs and docs/exit-codes.md differ");
}

#[test]
fn the_table_parser_sees_rows_and_only_rows() {
    let doc =
        "text | not a table\n\n| code | name |\n|---|---|\n| 0 | ok |\n| 64 | usage |\n\nafter\n";
    assert_eq!(table_codes(doc), vec![0, 64]);
    assert_eq!(
        tested_codes("fn exit_3_x() {}\n    fn exit_70_y() {}\nfn other() {}\n"),
        vec![3, 70]
    );
}

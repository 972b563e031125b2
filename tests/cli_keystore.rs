//! End-to-end tests of `msgraph-keystore keystore …`, run as a real process against copies of
//! the keystores Elasticsearch itself wrote (`fixtures/keystores/`).
//!
//! Format 4 and 5 fixtures (10,000 PBKDF2 rounds) are used wherever the format does not
//! matter; format 6 (210,000 rounds, slow in debug builds) only where it is the point.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use msgraph_keystore::keystore;
use msgraph_keystore::secret::secret_string;

mod other_user;

const BIN: &str = env!("CARGO_BIN_EXE_msgraph-keystore");
const KEYSTORE: &str = "elasticsearch.keystore";

/// A scratch Elasticsearch config directory.
struct Conf {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Conf {
    fn empty() -> Conf {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("config");
        std::fs::create_dir(&dir).expect("mkdir config");
        Conf { _tmp: tmp, dir }
    }

    /// A config dir holding a byte-for-byte copy of one shared fixture.
    fn fixture(case: &str) -> Conf {
        let conf = Conf::empty();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/keystores")
            .join(case)
            .join(KEYSTORE);
        std::fs::copy(&src, conf.keystore()).expect("copy fixture");
        conf
    }

    fn keystore(&self) -> PathBuf {
        self.dir.join(KEYSTORE)
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.keystore()).expect("read keystore")
    }

    fn version(&self) -> i32 {
        let header = keystore::read_header(&self.dir)
            .expect("header")
            .expect("keystore exists");
        header.version.number()
    }

    fn has_password(&self) -> bool {
        keystore::read_header(&self.dir)
            .expect("header")
            .expect("keystore exists")
            .has_password
    }

    /// Decrypt with `password` and return every entry, names sorted.
    fn entries(&self, password: &str) -> Vec<(String, Vec<u8>)> {
        let ks =
            keystore::load_read_only(&self.dir, &secret_string(password)).expect("load keystore");
        ks.names()
            .into_iter()
            .map(|n| (n.to_owned(), ks.get_bytes(n).expect("entry").to_vec()))
            .collect()
    }

    fn value(&self, password: &str, name: &str) -> Option<Vec<u8>> {
        self.entries(password)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn names(&self, password: &str) -> Vec<String> {
        self.entries(password).into_iter().map(|(n, _)| n).collect()
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        self.cmd_with(Path::new(BIN), args)
    }

    /// [`Conf::cmd`] running the executable at `exe` (a copy other users can reach).
    fn cmd_with(&self, exe: &Path, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("keystore")
            .args(args)
            .arg("--config")
            .arg(&self.dir)
            .env_remove("ES_PATH_CONF")
            .env_remove("KEYSTORE_PASSWORD")
            .env_remove("KEYSTORE_PASSWORD_FILE")
            .env_remove("RUST_LOG");
        cmd
    }

    /// Run `keystore <args> --config <dir>` with `stdin` piped in.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        run_cmd(self.cmd(args), stdin.as_bytes())
    }
}

fn run_cmd(cmd: std::process::Command, stdin: &[u8]) -> Output {
    assert_cmd::Command::from_std(cmd)
        .write_stdin(stdin.to_vec())
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("run msgraph-keystore")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// Exit code, plus both streams in the failure message.
#[track_caller]
fn assert_code(o: &Output, expected: i32) {
    assert_eq!(
        code(o),
        expected,
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
}

/// Neither stream may contain any of the secrets.
#[track_caller]
fn assert_no_secret(o: &Output, secrets: &[&str]) {
    for s in secrets {
        assert!(!stdout(o).contains(s), "stdout leaks {s:?}: {}", stdout(o));
        assert!(!stderr(o).contains(s), "stderr leaks {s:?}: {}", stderr(o));
    }
}

#[track_caller]
fn assert_error_line(o: &Output, message: &str, exit: i32) {
    assert_code(o, exit);
    let expected = format!("ERROR: {message}, with exit code {exit}");
    assert!(
        stderr(o).contains(&expected),
        "expected {expected:?} in stderr: {}",
        stderr(o)
    );
}

const V4_SEED: &str = "C~8^=B9r8CO4B_ou8X03";
const V4_SSL: &str = "xpack.security.transport.ssl.keystore.secure_password";
const V4_PW: &str = "v4-Passw0rd";
const V5_PW: &str = "v5-Passw0rd";

// ---------------------------------------------------------------- config directory

#[test]
fn no_config_dir_is_a_usage_error_that_says_what_to_do() {
    let o = run_cmd(
        {
            let mut c = std::process::Command::new(BIN);
            c.args(["keystore", "list"]).env_remove("ES_PATH_CONF");
            c
        },
        b"",
    );
    assert_code(&o, 64);
    assert!(stderr(&o).contains("--config"), "{}", stderr(&o));
    assert!(stderr(&o).contains("ES_PATH_CONF"), "{}", stderr(&o));
}

#[test]
fn es_path_conf_is_the_default_config_dir_and_e_settings_are_accepted() {
    let conf = Conf::fixture("v4_no_password");
    let mut c = std::process::Command::new(BIN);
    c.args(["keystore", "list", "-E", "path.data=/ignored"])
        .env("ES_PATH_CONF", &conf.dir)
        .env_remove("KEYSTORE_PASSWORD")
        .env_remove("KEYSTORE_PASSWORD_FILE");
    let o = run_cmd(c, b"");
    assert_code(&o, 0);
    assert_eq!(stdout(&o), format!("keystore.seed\n{V4_SSL}\n"));
}

// ---------------------------------------------------------------- create

#[test]
fn create_defaults_to_format_6_with_a_seed_and_prints_the_path() {
    let conf = Conf::empty();
    let o = conf.run(&["create"], "");
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        format!(
            "Created elasticsearch keystore in {}\n",
            conf.keystore().display()
        )
    );
    assert_eq!(conf.version(), 6);
    assert!(!conf.has_password());
    let entries = conf.entries("");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "keystore.seed");
    assert_eq!(entries[0].1.len(), 20);
    let mode = std::fs::metadata(conf.keystore()).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn create_writes_the_requested_format_version() {
    for (args, version) in [
        (&["--format-version", "4"][..], 4),
        (&["--format-version", "5"][..], 5),
        (&["--target-es-version", "7.17"][..], 4),
        (&["--target-es-version", "8.13"][..], 5),
    ] {
        let conf = Conf::empty();
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        let o = conf.run(&all, "");
        assert_code(&o, 0);
        assert_eq!(conf.version(), version, "{args:?}");
    }
}

#[test]
fn create_rejects_bad_or_conflicting_version_options() {
    let conf = Conf::empty();
    for args in [
        &["create", "--format-version", "3"][..],
        &["create", "--format-version", "7"][..],
        &[
            "create",
            "--format-version",
            "4",
            "--target-es-version",
            "7.17",
        ][..],
        &["create", "--target-es-version", "banana"][..],
    ] {
        let o = conf.run(args, "");
        assert_code(&o, 64);
    }
    assert!(!conf.keystore().exists());
}

#[test]
fn create_over_an_existing_keystore_asks_and_no_keeps_it() {
    let conf = Conf::fixture("v4_no_password");
    let before = conf.bytes();
    for answer in ["n\n", "\n", "N\r\n"] {
        let o = conf.run(&["create", "--format-version", "4"], answer);
        assert_code(&o, 0);
        assert!(stderr(&o).contains("An elasticsearch keystore already exists. Overwrite? [y/N]"));
        assert_eq!(stdout(&o), "Exiting without creating keystore.\n");
        assert_eq!(conf.bytes(), before);
    }
    // No answer at all is not a "no": it is Elasticsearch's stdin error, and nothing changes.
    let o = conf.run(&["create", "--format-version", "4"], "");
    assert_error_line(
        &o,
        "unable to read from standard input; is standard input open and a tty attached?",
        70,
    );
    assert_eq!(conf.bytes(), before);

    let o = conf.run(&["create", "--format-version", "4"], "y\n");
    assert_code(&o, 0);
    assert_eq!(conf.names(""), vec!["keystore.seed"]);
}

#[test]
fn create_p_reads_the_new_password_twice_from_stdin() {
    let conf = Conf::empty();
    let o = conf.run(
        &["create", "-p", "--format-version", "4"],
        "n3w-pass\nn3w-pass\n",
    );
    assert_code(&o, 0);
    assert!(conf.has_password());
    assert_eq!(conf.names("n3w-pass"), vec!["keystore.seed"]);
    assert_no_secret(&o, &["n3w-pass"]);
}

#[test]
fn create_p_with_different_passwords_fails_without_echoing_them() {
    let conf = Conf::empty();
    let o = conf.run(
        &["create", "-p", "--format-version", "4"],
        "first-pw\nsecond-pw\n",
    );
    assert_error_line(&o, "Passwords are not equal, exiting.", 65);
    assert_no_secret(&o, &["first-pw", "second-pw"]);
    assert!(!conf.keystore().exists());
}

#[test]
fn create_with_a_new_password_file() {
    let conf = Conf::empty();
    let pw = conf.dir.parent().unwrap().join("new-pw");
    std::fs::write(&pw, "file-pass\n").unwrap();
    let o = conf.run(
        &[
            "create",
            "--format-version",
            "5",
            "--new-password-file",
            pw.to_str().unwrap(),
        ],
        "",
    );
    assert_code(&o, 0);
    assert_eq!(conf.version(), 5);
    assert_eq!(conf.names("file-pass"), vec!["keystore.seed"]);
}

#[test]
fn create_in_a_missing_config_dir_is_a_config_error() {
    let conf = Conf::empty();
    let missing = conf.dir.join("nope");
    let mut c = std::process::Command::new(BIN);
    c.args(["keystore", "create", "--config"]).arg(&missing);
    let o = run_cmd(c, b"");
    assert_code(&o, 78);
    assert!(
        stderr(&o).contains(missing.to_str().unwrap()),
        "{}",
        stderr(&o)
    );
    assert!(!missing.exists());
}

// ---------------------------------------------------------------- list / show

#[test]
fn list_prints_sorted_names_of_every_fixture_format() {
    let cases = [
        (
            "v3_no_password",
            "",
            vec![
                "gcs.client.legacy.credentials_file",
                "keystore.seed",
                "s3.client.legacy.secret_key",
            ],
        ),
        ("v4_no_password", "", vec!["keystore.seed", V4_SSL]),
        (
            "v5_password",
            "v5-Passw0rd\n",
            vec![
                "azure.client.default.account",
                "azure.client.default.key",
                "keystore.seed",
            ],
        ),
        ("v6_seed_only", "", vec!["keystore.seed"]),
    ];
    for (case, stdin, names) in cases {
        let conf = Conf::fixture(case);
        let o = conf.run(&["list"], stdin);
        assert_code(&o, 0);
        let expected: String = names.iter().map(|n| format!("{n}\n")).collect();
        assert_eq!(stdout(&o), expected, "{case}");
    }
}

#[test]
fn list_silent_prints_nothing() {
    let conf = Conf::fixture("v4_no_password");
    let o = conf.run(&["list", "-s"], "");
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "");
}

#[test]
fn commands_on_a_missing_keystore_say_use_create() {
    let conf = Conf::empty();
    for args in [
        &["list"][..],
        &["show", "a"][..],
        &["remove", "a"][..],
        &["upgrade"][..],
        &["passwd"][..],
    ] {
        let o = conf.run(args, "");
        assert_error_line(
            &o,
            &format!(
                "Elasticsearch keystore not found at [{}]. Use 'create' command to create one.",
                conf.keystore().display()
            ),
            65,
        );
    }
    assert!(!conf.keystore().exists());
}

#[test]
fn wrong_password_is_a_data_error_that_does_not_echo_it() {
    let conf = Conf::fixture("v4_password");
    let o = conf.run(&["list"], "not-the-Passw0rd\n");
    assert_code(&o, 65);
    assert!(
        stderr(&o).contains("Provided keystore password was incorrect"),
        "{}",
        stderr(&o)
    );
    assert_no_secret(&o, &["not-the-Passw0rd", V4_PW]);
}

#[test]
fn corrupt_keystore_is_a_data_error() {
    let conf = Conf::fixture("v4_no_password");
    let mut bytes = conf.bytes();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(conf.keystore(), &bytes).unwrap();
    let o = conf.run(&["list"], "");
    assert_code(&o, 65);
    assert!(stderr(&o).starts_with("ERROR: "), "{}", stderr(&o));
    let o = conf.run(&["add", "-f", "x"], "v\n");
    assert_code(&o, 65);
    assert_eq!(conf.bytes(), bytes);
}

#[test]
fn show_prints_the_exact_value_without_newline_to_a_pipe() {
    let conf = Conf::fixture("v4_no_password");
    let o = conf.run(&["show", V4_SSL], "");
    assert_code(&o, 0);
    assert_eq!(o.stdout, b"transport-ks-pass");
    let o = conf.run(&["show", "-s", "keystore.seed"], "");
    assert_code(&o, 0);
    assert_eq!(o.stdout, V4_SEED.as_bytes());
}

#[test]
fn show_writes_binary_values_raw_to_a_pipe() {
    let conf = Conf::fixture("v4_password");
    let o = conf.run(
        &["show", "xpack.security.http.ssl.secure_key_passphrase_file"],
        "v4-Passw0rd\n",
    );
    assert_code(&o, 0);
    assert_eq!(o.stdout, b"\x00\x01\x02binary\xff\xfe");
}

#[test]
fn show_argument_and_name_errors() {
    let conf = Conf::fixture("v4_no_password");
    for args in [&["show"][..], &["show", "a", "b"][..]] {
        let o = conf.run(args, "");
        assert_error_line(&o, "Must provide a single setting name to show", 64);
    }
    let o = conf.run(&["show", "no.such.setting"], "");
    assert_error_line(
        &o,
        "Setting [no.such.setting] does not exist in the keystore.",
        78,
    );
}

#[test]
fn show_o_writes_a_0600_file_and_never_overwrites() {
    let conf = Conf::fixture("v4_no_password");
    let out = conf.dir.parent().unwrap().join("value.out");
    let o = conf.run(&["show", V4_SSL, "-o", out.to_str().unwrap()], "");
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "");
    assert_eq!(std::fs::read(&out).unwrap(), b"transport-ks-pass");
    assert_eq!(std::fs::metadata(&out).unwrap().mode() & 0o777, 0o600);

    std::fs::write(&out, "keep me").unwrap();
    let o = conf.run(&["show", V4_SSL, "-o", out.to_str().unwrap()], "");
    assert_code(&o, 64);
    assert!(stderr(&o).contains(out.to_str().unwrap()), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    assert_no_secret(&o, &["transport-ks-pass"]);
}

// ---------------------------------------------------------------- password sources

#[test]
fn password_from_the_first_stdin_line_then_values() {
    let conf = Conf::fixture("v4_password");
    let o = conf.run(
        &["add", "-x", "new.one", "new.two"],
        "v4-Passw0rd\nvalue-one\r\nvalue-two",
    );
    assert_code(&o, 0);
    assert_eq!(conf.version(), 4);
    assert_eq!(conf.value(V4_PW, "new.one").unwrap(), b"value-one");
    assert_eq!(conf.value(V4_PW, "new.two").unwrap(), b"value-two");
    assert_eq!(
        conf.value(V4_PW, "cloud.auth.example").unwrap(),
        b"elastic:changeme"
    );
    assert_no_secret(&o, &[V4_PW, "value-one", "value-two"]);
}

#[test]
fn password_from_password_file_leaves_stdin_for_values() {
    let conf = Conf::fixture("v4_password");
    let pw = conf.dir.parent().unwrap().join("pw");
    std::fs::write(&pw, "v4-Passw0rd\n").unwrap();
    let o = conf.run(
        &["add", "a.b", "--password-file", pw.to_str().unwrap()],
        "the-value\n",
    );
    assert_code(&o, 0);
    assert_eq!(conf.value(V4_PW, "a.b").unwrap(), b"the-value");
}

#[test]
fn password_from_keystore_password_env() {
    let conf = Conf::fixture("v5_password");
    let mut c = conf.cmd(&["list"]);
    c.env("KEYSTORE_PASSWORD", V5_PW);
    let o = run_cmd(c, b"");
    assert_code(&o, 0);
    assert!(stdout(&o).contains("azure.client.default.key"));
    assert_no_secret(&o, &[V5_PW]);
}

#[test]
fn password_from_keystore_password_file_env_requires_mode_400_or_600() {
    let conf = Conf::fixture("v5_password");
    let pw = conf.dir.parent().unwrap().join("pw");
    std::fs::write(&pw, "v5-Passw0rd\n").unwrap();
    for (mode, exit) in [(0o644, 78), (0o640, 78), (0o600, 0), (0o400, 0)] {
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut c = conf.cmd(&["list"]);
        c.env("KEYSTORE_PASSWORD_FILE", &pw);
        let o = run_cmd(c, b"");
        assert_code(&o, exit);
        if exit != 0 {
            assert!(stderr(&o).contains("400 or 600"), "{}", stderr(&o));
        }
        assert_no_secret(&o, &[V5_PW]);
    }
}

#[test]
fn no_password_is_read_for_a_password_less_keystore() {
    // The first stdin line is the value, not a password (Elasticsearch reads none here).
    let conf = Conf::fixture("v4_no_password");
    let mut c = conf.cmd(&["add", "x.y"]);
    c.env("KEYSTORE_PASSWORD", "ignored");
    let o = run_cmd(c, b"only-line\n");
    assert_code(&o, 0);
    assert_eq!(conf.value("", "x.y").unwrap(), b"only-line");
}

// ---------------------------------------------------------------- add

#[test]
fn add_keeps_the_format_version_and_strips_one_line_ending() {
    for (case, version) in [("v4_no_password", 4), ("v5_no_password", 5)] {
        let conf = Conf::fixture(case);
        let o = conf.run(
            &["add", "s.lf", "s.crlf", "s.empty", "s.last"],
            "value-lf\nvalue-crlf\r\n\nvalue-last",
        );
        assert_code(&o, 0);
        assert_eq!(conf.version(), version);
        assert_eq!(conf.value("", "s.lf").unwrap(), b"value-lf");
        assert_eq!(conf.value("", "s.crlf").unwrap(), b"value-crlf");
        assert_eq!(conf.value("", "s.empty").unwrap(), b"");
        assert_eq!(conf.value("", "s.last").unwrap(), b"value-last");
        // Prompts go to stderr, values never appear.
        assert!(
            stderr(&o).contains("Enter value for s.lf: "),
            "{}",
            stderr(&o)
        );
        assert_eq!(stdout(&o), "");
        assert_no_secret(&o, &["value-"]);
        let mode = std::fs::metadata(conf.keystore()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o660);
    }
}

#[test]
fn add_with_too_few_stdin_lines_fails_and_changes_nothing() {
    let conf = Conf::fixture("v4_no_password");
    let before = conf.bytes();
    for stdin in ["", "only-one\n"] {
        let o = conf.run(&["add", "a.one", "a.two"], stdin);
        assert_error_line(
            &o,
            "unable to read from standard input; is standard input open and a tty attached?",
            70,
        );
        assert_eq!(conf.bytes(), before);
    }
}

#[test]
fn add_existing_setting_asks_and_no_saves_nothing() {
    let conf = Conf::fixture("v4_no_password");
    let before = conf.bytes();
    // The first setting is new, the second exists: answering no discards both.
    let o = conf.run(&["add", "brand.new", V4_SSL], "new-value\nn\n");
    assert_code(&o, 0);
    assert!(stderr(&o).contains(&format!(
        "Setting {V4_SSL} already exists. Overwrite? [y/N]"
    )));
    assert_eq!(stdout(&o), "Exiting without modifying keystore.\n");
    assert_eq!(conf.bytes(), before);

    let o = conf.run(&["add", V4_SSL], "y\nreplaced\n");
    assert_code(&o, 0);
    assert_eq!(conf.value("", V4_SSL).unwrap(), b"replaced");

    let o = conf.run(&["add", "--force", V4_SSL], "forced\n");
    assert_code(&o, 0);
    assert!(!stderr(&o).contains("Overwrite?"));
    assert_eq!(conf.value("", V4_SSL).unwrap(), b"forced");
}

#[test]
fn add_reasks_a_misunderstood_answer_without_echoing_it() {
    let conf = Conf::fixture("v4_no_password");
    let o = conf.run(&["add", V4_SSL], "a-secret-value\ny\nreplaced\n");
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("Did not understand answer"),
        "{}",
        stderr(&o)
    );
    assert_no_secret(&o, &["a-secret-value"]);
    assert_eq!(conf.value("", V4_SSL).unwrap(), b"replaced");
}

#[test]
fn add_to_a_missing_keystore_asks_first() {
    let conf = Conf::empty();
    let o = conf.run(&["add", "a.b"], "n\n");
    assert_code(&o, 0);
    assert!(stderr(&o)
        .contains("The elasticsearch keystore does not exist. Do you want to create it? [y/N]"));
    assert_eq!(stdout(&o), "Exiting without creating keystore.\n");
    assert!(!conf.keystore().exists());

    let o = conf.run(&["add", "a.b"], "");
    assert_code(&o, 70);
    assert!(!conf.keystore().exists());
}

#[test]
fn add_force_creates_a_v6_keystore_with_a_seed() {
    let conf = Conf::empty();
    let o = conf.run(&["add", "-f", "-x", "a.b"], "v\n");
    assert_code(&o, 0);
    assert_eq!(conf.version(), 6);
    assert_eq!(conf.names(""), vec!["a.b", "keystore.seed"]);
}

#[test]
fn add_usage_and_name_errors_change_nothing() {
    let conf = Conf::fixture("v4_no_password");
    let before = conf.bytes();
    let o = conf.run(&["add"], "v\n");
    assert_error_line(&o, "the setting names can not be empty", 64);
    let o = conf.run(&["add", "bad name!"], "v\n");
    assert_code(&o, 65);
    assert!(stderr(&o).contains("[bad name!]"), "{}", stderr(&o));
    assert!(stderr(&o).contains("[A-Za-z0-9_\\-.]+"), "{}", stderr(&o));
    assert_eq!(conf.bytes(), before);
}

#[test]
fn add_refuses_non_secure_realm_settings() {
    let conf = Conf::fixture("v4_no_password");
    let before = conf.bytes();
    for key in [
        "client_id",
        "tenant_id",
        "order",
        "access_token_host",
        "graph_host",
        "http_request_timeout",
        "execution_timeout",
    ] {
        let name = format!("xpack.security.authc.realms.microsoft_graph.graph1.{key}");
        let o = conf.run(&["add", "-f", "ok.first", &name], "v1\nv2\n");
        assert_code(&o, 65);
        assert!(stderr(&o).contains(&name), "{}", stderr(&o));
        assert!(stderr(&o).contains("elasticsearch.yml"), "{}", stderr(&o));
        let f = conf.dir.parent().unwrap().join("f");
        std::fs::write(&f, "x").unwrap();
        let o = conf.run(&["add-file", "-f", &name, f.to_str().unwrap()], "");
        assert_code(&o, 65);
    }
    assert_eq!(conf.bytes(), before);
    // The secret itself is welcome.
    let secret = "xpack.security.authc.realms.microsoft_graph.graph1.client_secret";
    let o = conf.run(&["add", secret], "s3cr3t\n");
    assert_code(&o, 0);
    assert_eq!(conf.value("", secret).unwrap(), b"s3cr3t");
}

#[test]
fn add_to_a_format_3_keystore_is_refused_with_the_way_out() {
    let conf = Conf::fixture("v3_no_password");
    let before = conf.bytes();
    let o = conf.run(&["add", "-f", "a.b"], "v\n");
    assert_code(&o, 78);
    assert!(stderr(&o).contains("upgrade"), "{}", stderr(&o));
    assert_eq!(conf.bytes(), before);
}

// ---------------------------------------------------------------- add-file

#[test]
fn add_file_stores_bytes_verbatim_for_each_pair() {
    let conf = Conf::fixture("v4_no_password");
    let scratch = conf.dir.parent().unwrap();
    let bin = scratch.join("bin");
    let text = scratch.join("text");
    std::fs::write(&bin, b"\x00\xff\r\n\x80").unwrap();
    std::fs::write(&text, "line1\nline2\n").unwrap();
    let o = conf.run(
        &[
            "add-file",
            "f.bin",
            bin.to_str().unwrap(),
            "f.text",
            text.to_str().unwrap(),
        ],
        "",
    );
    assert_code(&o, 0);
    assert_eq!(conf.version(), 4);
    assert_eq!(conf.value("", "f.bin").unwrap(), b"\x00\xff\r\n\x80");
    assert_eq!(conf.value("", "f.text").unwrap(), b"line1\nline2\n");
}

#[test]
fn add_file_argument_errors() {
    let conf = Conf::fixture("v4_no_password");
    let before = conf.bytes();
    let o = conf.run(&["add-file"], "");
    assert_error_line(&o, "Missing setting name", 64);
    let o = conf.run(&["add-file", "a", "/x", "b"], "");
    assert_error_line(&o, "settings and filenames must come in pairs", 64);
    let missing = conf.dir.parent().unwrap().join("missing-file");
    let o = conf.run(&["add-file", "a.b", missing.to_str().unwrap()], "");
    assert_error_line(
        &o,
        &format!("File [{}] does not exist", missing.display()),
        74,
    );
    assert_eq!(conf.bytes(), before);
}

#[test]
fn add_file_existing_setting_asks() {
    let conf = Conf::fixture("v4_no_password");
    let before = conf.bytes();
    let f = conf.dir.parent().unwrap().join("f");
    std::fs::write(&f, "file-value").unwrap();
    let o = conf.run(&["add-file", V4_SSL, f.to_str().unwrap()], "n\n");
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Exiting without modifying keystore.\n");
    assert_eq!(conf.bytes(), before);
    let o = conf.run(&["add-file", V4_SSL, f.to_str().unwrap()], "y\n");
    assert_code(&o, 0);
    assert_eq!(conf.value("", V4_SSL).unwrap(), b"file-value");
}

// ---------------------------------------------------------------- remove

#[test]
fn remove_settings_and_errors() {
    let conf = Conf::fixture("v5_no_password");
    let before = conf.bytes();
    let o = conf.run(&["remove"], "");
    assert_error_line(&o, "Must supply at least one setting to remove", 64);
    let o = conf.run(
        &["remove", "xpack.watcher.encryption_key.note", "not.there"],
        "",
    );
    assert_error_line(
        &o,
        "Setting [not.there] does not exist in the keystore.",
        78,
    );
    assert_eq!(conf.bytes(), before);

    let o = conf.run(&["remove", "xpack.watcher.encryption_key.note"], "");
    assert_code(&o, 0);
    assert_eq!(conf.version(), 5);
    assert_eq!(conf.names(""), vec!["keystore.seed"]);
}

#[test]
fn remove_from_a_protected_keystore_reads_the_password() {
    let conf = Conf::fixture("v5_password");
    let o = conf.run(&["remove", "azure.client.default.key"], "v5-Passw0rd\n");
    assert_code(&o, 0);
    assert_eq!(
        conf.names(V5_PW),
        vec!["azure.client.default.account", "keystore.seed"]
    );
}

// ---------------------------------------------------------------- upgrade / passwd

#[test]
fn upgrade_rewrites_v4_as_v6_keeping_every_entry_and_prints_nothing() {
    let conf = Conf::fixture("v4_password");
    let before = conf.entries(V4_PW);
    let o = conf.run(&["upgrade"], "v4-Passw0rd\n");
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "");
    assert_eq!(conf.version(), 6);
    assert!(conf.has_password());
    assert_eq!(conf.entries(V4_PW), before);
}

#[test]
fn upgrade_to_a_requested_version_and_from_format_3() {
    let conf = Conf::fixture("v3_no_password");
    let before = conf.entries("");
    let o = conf.run(&["upgrade", "--format-version", "4"], "");
    assert_code(&o, 0);
    assert_eq!(conf.version(), 4);
    assert_eq!(conf.entries(""), before);
    let o = conf.run(&["upgrade", "--target-es-version", "8.10"], "");
    assert_code(&o, 0);
    assert_eq!(conf.version(), 5);
    assert_eq!(conf.entries(""), before);
    let o = conf.run(
        &[
            "upgrade",
            "--format-version",
            "5",
            "--target-es-version",
            "8.10",
        ],
        "",
    );
    assert_code(&o, 64);
}

#[test]
fn upgrade_adds_a_missing_seed() {
    let conf = Conf::fixture("v4_no_password");
    let o = conf.run(&["remove", "keystore.seed"], "");
    assert_code(&o, 0);
    let o = conf.run(&["upgrade", "--format-version", "4"], "");
    assert_code(&o, 0);
    assert_eq!(conf.version(), 4);
    assert_eq!(conf.names(""), vec!["keystore.seed", V4_SSL]);
}

#[test]
fn passwd_sets_changes_and_removes_the_password_keeping_version_and_entries() {
    let conf = Conf::fixture("v4_no_password");
    let before = conf.entries("");
    let o = conf.run(&["passwd"], "first-pw\nfirst-pw\n");
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "Elasticsearch keystore password changed successfully.\n"
    );
    assert!(conf.has_password());
    assert_eq!(conf.version(), 4);
    assert_eq!(conf.entries("first-pw"), before);
    assert_no_secret(&o, &["first-pw"]);

    let o = conf.run(&["passwd"], "first-pw\nsecond-pw\nsecond-pw\n");
    assert_code(&o, 0);
    assert_eq!(conf.entries("second-pw"), before);

    let o = conf.run(&["passwd"], "second-pw\nthird-pw\nwrong-pw\n");
    assert_error_line(&o, "Passwords are not equal, exiting.", 65);
    assert_no_secret(&o, &["second-pw", "third-pw", "wrong-pw"]);
    assert_eq!(conf.entries("second-pw"), before);

    let o = conf.run(&["passwd"], "second-pw\n\n\n");
    assert_code(&o, 0);
    assert!(!conf.has_password());
    assert_eq!(conf.entries(""), before);
}

// ---------------------------------------------------------------- has-passwd

#[test]
fn has_passwd_exit_codes_and_silent() {
    let missing = Conf::empty();
    let plain = Conf::fixture("v4_no_password");
    let protected = Conf::fixture("v4_password");
    for (conf, exit, out, err) in [
        (&missing, 1, "", "ERROR: Elasticsearch keystore not found\n"),
        (&plain, 1, "", "ERROR: Keystore is not password-protected\n"),
        (&protected, 0, "Keystore is password-protected\n", ""),
    ] {
        let o = conf.run(&["has-passwd"], "");
        assert_code(&o, exit);
        assert_eq!(stdout(&o), out);
        assert_eq!(stderr(&o), err);
        let o = conf.run(&["has-passwd", "--silent"], "");
        assert_code(&o, exit);
        assert_eq!(stdout(&o), "");
        assert_eq!(stderr(&o), "");
    }
}

// ---------------------------------------------------------------- files, owners, locking

/// A save that fails half-way (here: the temp file's name is taken by a directory the tool
/// cannot remove) leaves the original keystore byte-identical.
#[test]
fn a_failed_save_leaves_the_original_byte_identical() {
    let conf = Conf::fixture("v4_no_password");
    let before = conf.bytes();
    let blocker = conf.dir.join("elasticsearch.keystore.tmp");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("keep"), b"x").unwrap();
    let o = conf.run(&["add", "-f", "a.b"], "v\n");
    assert_code(&o, 74);
    assert!(stderr(&o).contains("ERROR: "), "{}", stderr(&o));
    assert_eq!(conf.bytes(), before);
    assert!(blocker.join("keep").exists());
}

#[test]
fn refuses_to_change_the_keystore_owner() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: changing a file's owner needs root");
        return;
    }
    let conf = Conf::fixture("v4_no_password");
    std::os::unix::fs::chown(conf.keystore(), Some(4321), Some(4321)).unwrap();
    let before = conf.bytes();
    let o = conf.run(&["add", "-f", "a.b"], "v\n");
    assert_code(&o, 78);
    assert!(
        stderr(&o).contains("changing the file owner"),
        "{}",
        stderr(&o)
    );
    assert_eq!(conf.bytes(), before);
    assert_eq!(std::fs::metadata(conf.keystore()).unwrap().uid(), 4321);
    let leftovers: Vec<_> = std::fs::read_dir(&conf.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A read-only config directory: the keystore cannot be replaced. Exit 78 (Elasticsearch's
/// CONFIG code for "write permissions required"), the file untouched.
#[test]
fn read_only_config_dir_is_a_config_error_and_changes_nothing() {
    use std::os::unix::process::CommandExt;
    let conf = Conf::fixture("v4_no_password");
    let is_root = unsafe { libc::geteuid() } == 0;
    const NOBODY: u32 = 65534;
    if is_root {
        // Root ignores directory permissions: run the tool as an unprivileged owner instead.
        let top = conf.dir.parent().unwrap();
        std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&conf.dir, Some(NOBODY), Some(NOBODY)).unwrap();
        std::os::unix::fs::chown(conf.keystore(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    std::fs::set_permissions(conf.keystore(), std::fs::Permissions::from_mode(0o660)).unwrap();
    std::fs::set_permissions(&conf.dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = conf.bytes();
    let (exe, _copy) = other_user::executable_for_others(Path::new(BIN));
    let mut c = conf.cmd_with(&exe, &["add", "-f", "a.b"]);
    if is_root {
        c.uid(NOBODY).gid(NOBODY);
    }
    let o = run_cmd(c, b"v\n");
    std::fs::set_permissions(&conf.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_code(&o, 78);
    assert!(
        stderr(&o).contains(conf.dir.to_str().unwrap()),
        "{}",
        stderr(&o)
    );
    assert_eq!(conf.bytes(), before);
}

#[test]
fn concurrent_adds_lose_no_update() {
    let conf = Conf::fixture("v4_no_password");
    let children: Vec<_> = (0..6)
        .map(|i| {
            let mut c = conf.cmd(&["add", "-f", &format!("parallel.s{i}")]);
            c.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().expect("spawn");
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("value-{i}\n").as_bytes())
                .unwrap();
            child
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert_code(&o, 0);
    }
    for i in 0..6 {
        assert_eq!(
            conf.value("", &format!("parallel.s{i}")).unwrap(),
            format!("value-{i}").as_bytes()
        );
    }
    assert_eq!(conf.version(), 4);
}

#[test]
fn every_fixture_value_survives_an_add_round_trip() {
    // Add to each v4/v5 fixture and check the old entries are byte-identical afterwards.
    for (case, pw) in [
        ("v4_no_password", ""),
        ("v4_password", V4_PW),
        ("v5_no_password", ""),
        ("v5_password", V5_PW),
    ] {
        let conf = Conf::fixture(case);
        let before = conf.entries(pw);
        let stdin = if pw.is_empty() {
            "added\n".to_owned()
        } else {
            format!("{pw}\nadded\n")
        };
        let o = conf.run(&["add", "round.trip"], &stdin);
        assert_code(&o, 0);
        let mut after = conf.entries(pw);
        after.retain(|(n, _)| n != "round.trip");
        assert_eq!(after, before, "{case}");
        assert_eq!(conf.value(pw, "round.trip").unwrap(), b"added");
        assert_no_secret(&o, &["added"]);
        if !pw.is_empty() {
            assert_no_secret(&o, &[pw]);
        }
    }
}

// ---------------------------------------------------------------- every shared fixture

/// `list` of every fixture Elasticsearch wrote gives exactly the names in the manifest, with
/// the password piped as the first stdin line (non-ASCII included); `show` of every entry of
/// the 10,000-round formats gives exactly the manifest's bytes.
#[test]
fn every_fixture_lists_and_shows_what_the_manifest_says() {
    use base64::Engine;
    let manifest_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keystores/manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest_path).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 12);
    for case in cases {
        let folder = case["folder"].as_str().unwrap();
        let password = case["password"].as_str().unwrap();
        let stdin = if password.is_empty() {
            String::new()
        } else {
            format!("{password}\n")
        };
        let entries = case["entries"].as_object().unwrap();
        let conf = Conf::fixture(folder);

        let o = conf.run(&["list"], &stdin);
        assert_code(&o, 0);
        let mut names: Vec<&str> = entries.keys().map(String::as_str).collect();
        names.sort_unstable();
        let expected: String = names.iter().map(|n| format!("{n}\n")).collect();
        assert_eq!(stdout(&o), expected, "{folder}");
        if !password.is_empty() {
            assert_no_secret(&o, &[password]);
        }

        // Format 6 needs 210,000 rounds per run: one `show` of a format-6 case is enough.
        let to_show: Vec<(&String, &serde_json::Value)> = if case["format_version"] != 6 {
            entries.iter().collect()
        } else if folder == "v6_nonascii_password_value" {
            entries
                .iter()
                .filter(|(n, _)| n.ends_with("secure_bind_password"))
                .collect()
        } else {
            Vec::new()
        };
        for (name, value) in to_show {
            let expected = match (value.get("string"), value.get("base64")) {
                (Some(s), _) => s.as_str().unwrap().as_bytes().to_vec(),
                (None, Some(b)) => base64::engine::general_purpose::STANDARD
                    .decode(b.as_str().unwrap())
                    .unwrap(),
                _ => panic!("{folder} {name}: unexpected manifest entry {value}"),
            };
            let o = conf.run(&["show", name], &stdin);
            assert_code(&o, 0);
            assert_eq!(o.stdout, expected, "{folder} {name}");
        }
    }
}

//! Secrets never leak from the keystore side:
//!
//! - every `keystore` subcommand, run at the highest verbosity (`-vvv`, `RUST_LOG=trace`), on
//!   success and on failure, with the password from stdin, `KEYSTORE_PASSWORD` and
//!   `--password-file`: neither stdout nor stderr holds a password or a setting value, except
//!   `show`'s stdout, which is the value asked for;
//! - `Debug` of the public keystore types shows names, never values or passwords;
//! - the temp file of a save is 0600 until its contents are complete and `show -o FILE` is
//!   0600 from the moment it exists, whatever the umask (observed at the fail points);
//! - no command line argument of any command takes a secret as its value (so no secret can be
//!   in a process's argv), and no secret-looking argument shows its environment value in help.
//!
//! Tests here run one at a time (`SERIAL`): one of them changes the process umask.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clap::CommandFactory;
use fail::FailScenario;
use msgraph_keystore::cli::Cli;
use msgraph_keystore::fsutil::{self, fail_points};
use msgraph_keystore::keystore::{self, FormatVersion, Keystore};
use msgraph_keystore::secret::SecretString;

const PASSWORD: &str = "Ks-Passw0rd-LEAKCHECK-1";
const NEW_PASSWORD: &str = "Ks-NewPass-LEAKCHECK-2";
const WRONG_PASSWORD: &str = "Wrong-Pass-LEAKCHECK-3";
const VALUE_A: &str = "value-A-LEAKCHECK-4";
const VALUE_B: &str = "value-B-LEAKCHECK-5";
const FILE_VALUE: &str = "file-value-LEAKCHECK-6";
const ANSWER: &str = "misaligned-answer-LEAKCHECK-7";
const SECRETS: [&str; 7] = [
    PASSWORD,
    NEW_PASSWORD,
    WRONG_PASSWORD,
    VALUE_A,
    VALUE_B,
    FILE_VALUE,
    ANSWER,
];
const TEMP: &str = "elasticsearch.keystore.tmp";

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `msgraph-keystore -vvv keystore <args> --config <dir>` at trace level, clean environment.
fn traced(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"));
    cmd.arg("-vvv")
        .arg("keystore")
        .args(args)
        .arg("--config")
        .arg(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1");
    cmd
}

fn run(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{cmd:?} hangs");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.wait_with_output().unwrap()
}

/// One run's outcome, checked: the expected exit code, and no secret in its output (`show`
/// may print `allowed_on_stdout` there, and only there).
#[track_caller]
fn check(what: &str, out: &Output, code: i32, allowed_on_stdout: Option<&str>) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    for secret in SECRETS {
        assert!(
            !stderr.contains(secret),
            "{what}: stderr leaks {secret}:\n{stderr}"
        );
        if Some(secret) != allowed_on_stdout {
            assert!(
                !stdout.contains(secret),
                "{what}: stdout leaks {secret}:\n{stdout}"
            );
        }
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn write_file(path: &Path, contents: &str, mode: u32) {
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn every_keystore_command_at_trace_level_keeps_passwords_and_values_out_of_its_output() {
    let _serial = serial();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("config");
    fs::create_dir(&dir).unwrap();
    let pw_file = root.path().join("password");
    write_file(&pw_file, &format!("{PASSWORD}\n"), 0o600);
    let new_pw_file = root.path().join("new-password");
    write_file(&new_pw_file, &format!("{NEW_PASSWORD}\n"), 0o600);
    let value_file = root.path().join("value");
    write_file(&value_file, FILE_VALUE, 0o600);
    let shown = root.path().join("shown");
    let p = |path: &PathBuf| path.to_str().unwrap().to_owned();
    let (pw_file, new_pw_file, value_file, shown) =
        (p(&pw_file), p(&new_pw_file), p(&value_file), p(&shown));
    let lines = |l: &[&str]| l.iter().map(|s| format!("{s}\n")).collect::<String>();

    let out = run(
        traced(&dir, &["create", "-p"]),
        &lines(&[PASSWORD, PASSWORD]),
    );
    check("create -p", &out, 0, None);
    let out = run(
        traced(&dir, &["add", "-x", "s.one", "s.two"]),
        &lines(&[PASSWORD, VALUE_A, VALUE_B]),
    );
    check("add (password on stdin)", &out, 0, None);
    let out = run(
        traced(
            &dir,
            &[
                "add-file",
                "s.file",
                &value_file,
                "--password-file",
                &pw_file,
            ],
        ),
        "",
    );
    check("add-file --password-file", &out, 0, None);

    let mut list = traced(&dir, &["list"]);
    list.env("KEYSTORE_PASSWORD", PASSWORD);
    let out = run(list, "");
    check("list (KEYSTORE_PASSWORD)", &out, 0, None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("s.file"));
    let mut list = traced(&dir, &["list"]);
    list.env("KEYSTORE_PASSWORD_FILE", &pw_file);
    check("list (KEYSTORE_PASSWORD_FILE)", &run(list, ""), 0, None);

    let out = run(traced(&dir, &["show", "s.one"]), &lines(&[PASSWORD]));
    check("show", &out, 0, Some(VALUE_A));
    assert_eq!(
        out.stdout,
        VALUE_A.as_bytes(),
        "show prints exactly the value"
    );
    let out = run(
        traced(
            &dir,
            &["show", "s.file", "-o", &shown, "--password-file", &pw_file],
        ),
        "",
    );
    check("show -o", &out, 0, None);
    assert_eq!(fs::read(&shown).unwrap(), FILE_VALUE.as_bytes());
    assert_eq!(mode(Path::new(&shown)), 0o600);

    let out = run(traced(&dir, &["remove", "s.two"]), &lines(&[PASSWORD]));
    check("remove", &out, 0, None);
    let out = run(
        traced(&dir, &["upgrade", "--format-version", "5"]),
        &lines(&[PASSWORD]),
    );
    check("upgrade", &out, 0, None);
    check(
        "has-passwd",
        &run(traced(&dir, &["has-passwd"]), ""),
        0,
        None,
    );

    // Failures: a wrong password, a password mismatch, a misaligned answer to a question,
    // too few value lines, a password file others may read.
    let out = run(traced(&dir, &["list"]), &lines(&[WRONG_PASSWORD]));
    check("list with a wrong password", &out, 65, None);
    let out = run(
        traced(&dir, &["passwd"]),
        &lines(&[PASSWORD, NEW_PASSWORD, WRONG_PASSWORD]),
    );
    check("passwd with a mismatch", &out, 65, None);
    let out = run(
        traced(&dir, &["add", "-x", "s.one"]),
        &lines(&[PASSWORD, ANSWER]),
    );
    assert_ne!(out.status.code(), Some(0));
    check(
        "add answering a question with a secret",
        &out,
        out.status.code().unwrap(),
        None,
    );
    let out = run(
        traced(&dir, &["add", "-x", "-f", "s.x", "s.y"]),
        &lines(&[PASSWORD, VALUE_A]),
    );
    assert_ne!(out.status.code(), Some(0));
    check(
        "add with too few lines",
        &out,
        out.status.code().unwrap(),
        None,
    );
    let loose = root.path().join("loose-password");
    write_file(&loose, &format!("{PASSWORD}\n"), 0o644);
    let mut list = traced(&dir, &["list"]);
    list.env("KEYSTORE_PASSWORD_FILE", &loose);
    check(
        "list with a 0644 KEYSTORE_PASSWORD_FILE",
        &run(list, ""),
        78,
        None,
    );

    let out = run(
        traced(&dir, &["passwd", "--new-password-file", &new_pw_file]),
        &lines(&[PASSWORD]),
    );
    check("passwd", &out, 0, None);
    let ks = keystore::load_read_only(&dir, &SecretString::from(NEW_PASSWORD.to_owned())).unwrap();
    assert_eq!(ks.get_bytes("s.one"), Some(VALUE_A.as_bytes()));
    assert!(!ks.contains("s.two"));
}

#[test]
fn debug_output_of_the_public_keystore_types_shows_no_value_or_password() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    ks.set_password(SecretString::from(PASSWORD.to_owned()));
    ks.set_string("s.one", VALUE_A).unwrap();
    ks.set_bytes("s.bin", &[0xff, 0xfe]).unwrap();
    keystore::save(dir.path(), &ks).unwrap();
    let bytes = fs::read(keystore::keystore_path(dir.path())).unwrap();

    let mut shown = vec![
        format!("{ks:?}"),
        format!("{:?}", ks.clone()),
        format!("{:?}", Keystore::parse_header(&bytes).unwrap()),
        format!("{:?}", ks.get_string("s.one").unwrap()),
        format!("{:?}", SecretString::from(PASSWORD.to_owned())),
        format!("{:?}", keystore::lock(dir.path()).unwrap()),
        format!("{:?}", keystore::prepare_save(dir.path(), &ks).unwrap()),
    ];
    // Errors a user can provoke with the secrets in hand.
    let errors = [
        keystore::load(dir.path(), &SecretString::from(WRONG_PASSWORD.to_owned())).unwrap_err(),
        ks.get_string("s.bin").unwrap_err(),
        Keystore::decrypt(
            &bytes[..bytes.len() - 1],
            &SecretString::from(PASSWORD.to_owned()),
        )
        .unwrap_err(),
    ];
    for e in errors {
        shown.push(format!("{e:?}"));
        shown.push(e.to_string());
    }
    // Parsed command lines: no argument carries a secret, so their Debug cannot either.
    for argv in [
        vec!["msgraph-keystore", "keystore", "add", "-x", "-f", "s.one"],
        vec![
            "msgraph-keystore",
            "keystore",
            "list",
            "--password-file",
            "/pw",
        ],
    ] {
        shown.push(format!(
            "{:?}",
            <Cli as clap::Parser>::try_parse_from(argv).unwrap()
        ));
    }
    for text in &shown {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{text} shows {secret}");
        }
    }
    assert!(
        shown[0].contains("s.one"),
        "Debug still names the settings: {}",
        shown[0]
    );
}

#[test]
fn temp_and_output_files_are_0600_until_complete_whatever_the_umask() {
    let _serial = serial();
    let _scenario = FailScenario::setup();
    // Under umask 0 a carelessly created file would be world-readable; the modes must not
    // depend on it. SAFETY: umask has no preconditions; the old mask is restored below, and
    // no other test of this binary runs meanwhile (SERIAL).
    let old_umask = unsafe { libc::umask(0) };
    let dir = tempfile::tempdir().unwrap();
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    ks.set_string("s.one", VALUE_A).unwrap();
    let seen: Arc<Mutex<Vec<(&str, u32)>>> = Arc::default();
    let watched = [
        fail_points::TEMP_CREATED,
        fail_points::TEMP_WRITTEN,
        fail_points::TEMP_MODE_SET,
        fail_points::TEMP_SYNCED,
        fail_points::BEFORE_RENAME,
    ];
    for point in watched {
        let temp = dir.path().join(TEMP);
        let seen = Arc::clone(&seen);
        fail::cfg_callback(point, move || {
            seen.lock().unwrap().push((point, mode(&temp)));
        })
        .unwrap();
    }
    keystore::save(dir.path(), &ks).unwrap();
    let secret_file = dir.path().join("shown-value");
    {
        let path = secret_file.clone();
        let seen = Arc::clone(&seen);
        fail::cfg_callback(fail_points::SECRET_FILE_CREATED, move || {
            seen.lock()
                .unwrap()
                .push((fail_points::SECRET_FILE_CREATED, mode(&path)));
        })
        .unwrap();
    }
    fsutil::write_new_secret_file(&secret_file, VALUE_A.as_bytes()).unwrap();
    // SAFETY: as above.
    unsafe { libc::umask(old_umask) };

    // Group-readable (0660, Elasticsearch's mode) only once the contents are complete.
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (fail_points::TEMP_CREATED, 0o600),
            (fail_points::TEMP_WRITTEN, 0o600),
            (fail_points::TEMP_MODE_SET, 0o660),
            (fail_points::TEMP_SYNCED, 0o660),
            (fail_points::BEFORE_RENAME, 0o660),
            (fail_points::SECRET_FILE_CREATED, 0o600),
        ]
    );
    assert_eq!(mode(&secret_file), 0o600);
    assert_eq!(mode(&keystore::keystore_path(dir.path())), 0o660);
}

/// Whether an argument's name says its value is a secret: its last word is one of these
/// (`--client-secret`, `--access-token`, `--password`), not a qualifier of something else
/// (`--secret-lifetime`, `--access-token-host`) and not a path (`--password-file`).
fn secret_like(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let last = name.rsplit(['-', '_']).next().unwrap_or_default();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "passphrase",
        "credential",
        "credentials",
    ]
    .contains(&last)
}

/// Whether an argument's name says it holds the path of a file with a secret.
fn secret_file(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    match name
        .strip_suffix("-file")
        .or_else(|| name.strip_suffix("_file"))
    {
        Some(stem) => secret_like(stem),
        None => false,
    }
}

/// Every argument of every command, with the command path, recursively.
fn all_args(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
    for arg in cmd.get_arguments() {
        out.push((path.to_owned(), arg.clone()));
    }
    for sub in cmd.get_subcommands() {
        all_args(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

#[test]
fn no_argument_of_any_command_takes_a_secret_as_its_value() {
    let _serial = serial();
    let mut args = Vec::new();
    all_args(&Cli::command(), "msgraph-keystore", &mut args);
    assert!(
        args.len() > 50,
        "the walk found only {} arguments",
        args.len()
    );
    // The classification itself.
    assert!(secret_like("client-secret") && secret_like("access_token") && secret_like("password"));
    assert!(!secret_like("secret-lifetime") && !secret_like("access-token-host"));
    assert!(secret_file("password-file") && secret_file("new_password_file"));
    assert!(!secret_file("output-file") && !secret_like("password-file"));
    let mut offenders = Vec::new();
    let mut file_args = 0;
    for (path, arg) in &args {
        let names: Vec<String> = std::iter::once(arg.get_id().to_string())
            .chain(arg.get_long().map(str::to_owned))
            .collect();
        if names.iter().any(|n| secret_file(n)) {
            // A path to a file holding the secret: the secret itself is not in argv.
            file_args += 1;
            continue;
        }
        if !names.iter().any(|n| secret_like(n)) {
            continue;
        }
        if arg.get_action().takes_values() {
            offenders.push(format!("{path} --{}", names.last().unwrap()));
        }
        // An argument read from the environment must not print that value in --help.
        if arg.get_env().is_some() && !arg.is_hide_env_values_set() {
            offenders.push(format!(
                "{path} --{} shows its env value",
                names.last().unwrap()
            ));
        }
    }
    assert!(
        offenders.is_empty(),
        "arguments that take a secret: {offenders:?}"
    );
    assert!(file_args > 0, "the walk saw no --*password-file arguments");
    // The keystore commands' only password arguments are paths.
    let keystore_add = Cli::command()
        .find_subcommand("keystore")
        .and_then(|k| k.find_subcommand("add").cloned())
        .unwrap();
    let value_args: Vec<_> = keystore_add
        .get_arguments()
        .filter(|a| a.get_action().takes_values())
        .map(|a| a.get_id().to_string())
        .collect();
    assert!(
        value_args.iter().all(|id| id == "names"
            || id.ends_with("file")
            || id == "config"
            || id == "es_settings"),
        "{value_args:?}"
    );
}

//! Crash safety of a keystore save: a failure or a crash after every step of the replacement
//! (temp created, written, mode set, fsynced, renamed, directory fsynced) leaves a keystore that
//! loads and holds exactly the old or exactly the new contents, and a later save removes any
//! stale temp file.
//!
//! The steps are the fail points of `msgraph_keystore::fsutil::fail_points`. Fail points are
//! process-global, so every test here holds `fail::FailScenario` (a global mutex) for its
//! whole run: they never overlap, and no other test binary sees these configurations.
//! Crashes are real: the test re-runs itself as a child process that SIGKILLs itself at the
//! fail point, so no destructor, unwinding or buffered write gets a chance to tidy up.
//! (The temp file's mode at each point, whatever the umask, is checked in
//! `tests/leak_keystore.rs`.)

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::{Command, Stdio};

use fail::FailScenario;
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::fsutil::fail_points;
use msgraph_keystore::keystore::{self, FormatVersion, Keystore, KeystoreError};
use msgraph_keystore::secret::SecretString;

const TEMP: &str = "elasticsearch.keystore.tmp";
const PASSWORD: &str = "crash-test-Passw0rd";

fn pw() -> SecretString {
    SecretString::from(PASSWORD.to_owned())
}

/// Every entry except the random seed, as the test compares them.
type Contents = BTreeMap<String, Vec<u8>>;

fn contents(ks: &Keystore) -> Contents {
    ks.names()
        .into_iter()
        .filter(|n| *n != keystore::SEED_SETTING)
        .map(|n| (n.to_owned(), ks.get_bytes(n).unwrap_or_default().to_vec()))
        .collect()
}

fn old_contents() -> Contents {
    [
        ("a.kept", "1"),
        ("b.changed", "before"),
        ("c.removed", "gone"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
    .collect()
}

fn new_contents() -> Contents {
    [("a.kept", "1"), ("b.changed", "after"), ("d.added", "new")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
        .collect()
}

/// A config directory holding a password-protected v4 keystore with [`old_contents`] (format
/// 4: 10,000 PBKDF2 iterations keeps the many saves here fast).
fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    ks.set_password(pw());
    for (k, v) in old_contents() {
        ks.set_bytes(&k, &v).unwrap();
    }
    keystore::save(dir.path(), &ks).unwrap();
    dir
}

/// The old keystore, loaded and changed to [`new_contents`], not saved.
fn changed(dir: &Path) -> Keystore {
    let mut ks = keystore::load(dir, &pw()).unwrap();
    ks.remove("c.removed");
    for (k, v) in new_contents() {
        ks.set_bytes(&k, &v).unwrap();
    }
    ks
}

#[derive(Debug, PartialEq, Eq)]
enum Found {
    Old,
    New,
}

/// Load the keystore and say which of the two states it holds; anything else fails the test.
fn state(dir: &Path) -> Found {
    let ks = keystore::load_read_only(dir, &pw())
        .unwrap_or_else(|e| panic!("the keystore does not load after the failure: {e}"));
    let found = contents(&ks);
    if found == old_contents() {
        Found::Old
    } else if found == new_contents() {
        Found::New
    } else {
        panic!("the keystore holds a mix of old and new contents: {found:?}")
    }
}

/// Points at which the rename has not happened yet.
fn before_rename(point: &str) -> bool {
    let renamed_at = fail_points::REPLACE
        .iter()
        .position(|p| *p == fail_points::RENAMED)
        .unwrap();
    fail_points::REPLACE
        .iter()
        .position(|p| *p == point)
        .unwrap()
        < renamed_at
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A later, undisturbed save works, removes any stale temp file and is what loads.
fn assert_next_save_cleans_up(dir: &Path) {
    let mut ks = keystore::load(dir, &pw()).unwrap();
    ks.set_string("e.after.recovery", "ok").unwrap();
    keystore::save(dir, &ks).unwrap();
    assert!(
        !dir.join(TEMP).exists(),
        "the stale temp file survived a save"
    );
    let back = keystore::load_read_only(dir, &pw()).unwrap();
    assert!(back.contains("e.after.recovery"));
}

#[test]
fn fail_points_are_compiled_into_test_builds_and_fire() {
    let _scenario = FailScenario::setup();
    assert!(
        fail::has_failpoints(),
        "the dev-dependency must enable the `failpoints` feature"
    );
    let dir = config_dir();
    let original = fs::read(keystore::keystore_path(dir.path())).unwrap();
    fail::cfg(fail_points::TEMP_WRITTEN, "return").unwrap();
    let err = keystore::save(dir.path(), &changed(dir.path())).unwrap_err();
    assert!(
        err.to_string()
            .contains("failure injected at fail point fsutil::replace::temp_written"),
        "{err}"
    );
    assert_eq!(
        fs::read(keystore::keystore_path(dir.path())).unwrap(),
        original
    );
}

#[test]
fn a_save_failing_after_any_step_leaves_old_or_new_contents_and_no_temp_file() {
    let _scenario = FailScenario::setup();
    for point in fail_points::REPLACE {
        for action in ["return", "panic"] {
            let dir = config_dir();
            let path = keystore::keystore_path(dir.path());
            let original = fs::read(&path).unwrap();
            let ks = changed(dir.path());
            fail::cfg(point, action).unwrap();
            let outcome = catch_unwind(AssertUnwindSafe(|| keystore::save(dir.path(), &ks)));
            fail::remove(point);
            let what = format!("{action} at {point}");
            match (action, outcome) {
                ("return", Ok(Err(err))) => {
                    // What a real failure of the next step reports: an I/O error naming the
                    // keystore.
                    assert!(matches!(err, KeystoreError::Io { .. }), "{what}: {err:?}");
                    assert_eq!(err.exit_code(), ExitCode::IoError, "{what}");
                    assert!(
                        err.to_string().contains(&path.display().to_string()),
                        "{what}: {err}"
                    );
                }
                ("panic", Err(_)) => {}
                (_, other) => panic!("{what}: unexpected outcome {other:?}"),
            }
            if before_rename(point) {
                assert_eq!(
                    fs::read(&path).unwrap(),
                    original,
                    "{what}: keystore changed"
                );
                assert_eq!(state(dir.path()), Found::Old, "{what}");
            } else {
                assert_eq!(state(dir.path()), Found::New, "{what}");
            }
            // An error or a panic unwinds through the prepared file, which removes its temp.
            assert!(!dir.path().join(TEMP).exists(), "{what}: temp file left");
            assert_eq!(mode(&path), 0o660, "{what}");
            assert_next_save_cleans_up(dir.path());
        }
    }
}

/// Environment of the child process that crashes: the fail point, and the directory.
const CHILD_POINT: &str = "CRASH_KEYSTORE_CHILD_POINT";
const CHILD_DIR: &str = "CRASH_KEYSTORE_CHILD_DIR";

/// In the child: save [`new_contents`] and die by SIGKILL at `point`, after writing the temp
/// file's mode at that moment (`-` once it is renamed) next to the config dir: the parent
/// cannot look at it then.
fn crash_at(point: &str, dir: &Path) -> ! {
    let _scenario = FailScenario::setup();
    let temp = dir.join(TEMP);
    let mode_file = dir.with_extension("temp-mode");
    fail::cfg_callback(point, move || {
        let seen = match fs::symlink_metadata(&temp) {
            Ok(meta) => format!("{:o}", meta.permissions().mode() & 0o7777),
            Err(_) => "-".to_owned(),
        };
        let _ = fs::write(&mode_file, seen);
        // SAFETY: kill and getpid have no preconditions; SIGKILL ends the process here.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    })
    .unwrap();
    let result = keystore::save(dir, &changed(dir));
    panic!("the child survived its crash point {point}: {result:?}");
}

#[test]
fn a_crash_after_any_step_leaves_a_loadable_keystore_and_the_next_save_removes_the_temp() {
    if let (Ok(point), Ok(dir)) = (std::env::var(CHILD_POINT), std::env::var(CHILD_DIR)) {
        crash_at(&point, Path::new(&dir));
    }
    let _scenario = FailScenario::setup();
    let exe = std::env::current_exe().unwrap();
    for point in fail_points::REPLACE {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("config");
        fs::create_dir(&dir).unwrap();
        let made = config_dir();
        fs::copy(
            keystore::keystore_path(made.path()),
            keystore::keystore_path(&dir),
        )
        .unwrap();
        let original = fs::read(keystore::keystore_path(&dir)).unwrap();

        let status = Command::new(&exe)
            .args([
                "--exact",
                "a_crash_after_any_step_leaves_a_loadable_keystore_and_the_next_save_removes_the_temp",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_POINT, point)
            .env(CHILD_DIR, &dir)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "{point}: child {status}"
        );

        let temp = dir.join(TEMP);
        let temp_mode = fs::read_to_string(dir.with_extension("temp-mode"))
            .unwrap_or_else(|e| panic!("{point}: the child did not reach the point: {e}"));
        if before_rename(point) {
            assert_eq!(
                fs::read(keystore::keystore_path(&dir)).unwrap(),
                original,
                "{point}"
            );
            assert_eq!(state(&dir), Found::Old, "{point}");
            assert!(
                temp.is_file(),
                "{point}: a crash cannot remove the temp file"
            );
            // Never readable by the group before it is complete.
            let expected = match point {
                p if p == fail_points::TEMP_CREATED || p == fail_points::TEMP_WRITTEN => 0o600,
                _ => 0o660,
            };
            assert_eq!(temp_mode, format!("{expected:o}"), "{point}");
        } else {
            assert_eq!(state(&dir), Found::New, "{point}");
            assert!(!temp.exists(), "{point}");
            assert_eq!(temp_mode, "-", "{point}: the temp file was renamed");
        }
        assert_eq!(mode(&keystore::keystore_path(&dir)), 0o660, "{point}");
        assert_next_save_cleans_up(&dir);
    }
}

/// A fail point left configured by a failed test must not leak into the next one: the
/// scenario clears them all. (Guards the assumption every test above relies on.)
#[test]
fn a_new_scenario_starts_with_every_fail_point_off() {
    {
        let _scenario = FailScenario::setup();
        fail::cfg(fail_points::TEMP_CREATED, "return").unwrap();
    }
    let _scenario = FailScenario::setup();
    let dir = config_dir();
    keystore::save(dir.path(), &changed(dir.path())).unwrap();
    assert_eq!(state(dir.path()), Found::New);
}

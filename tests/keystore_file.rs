//! Saving a config directory's keystore: mode, atomicity, failures that leave the old file
//! byte-identical with no temp file, the owner rule, and the lock that serializes writers.
//!
//! The owner and group tests need root (as in CI containers); run as another user they
//! check what they can and say what they skipped.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::keystore::{self, FormatVersion, Keystore, KeystoreError};
use msgraph_keystore::secret::{ExposeSecret, SecretString};

const TEMP: &str = "elasticsearch.keystore.tmp";

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

mod other_user;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A config directory holding a password-less v4 keystore with one setting.
fn config_with_keystore() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    ks.set_string("existing.setting", "old").unwrap();
    keystore::save(dir.path(), &ks).unwrap();
    let bytes = fs::read(keystore::keystore_path(dir.path())).unwrap();
    (dir, bytes)
}

fn modified(dir: &Path) -> Keystore {
    let mut ks = keystore::load(dir, &pw("")).unwrap();
    ks.set_string("new.setting", "new").unwrap();
    ks
}

fn assert_untouched(dir: &Path, original: &[u8]) {
    assert_eq!(
        fs::read(keystore::keystore_path(dir)).unwrap(),
        original,
        "keystore changed"
    );
    let temp = dir.join(TEMP);
    assert!(!temp.is_file(), "temp file left behind");
}

#[test]
fn save_creates_a_0660_keystore_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::new(FormatVersion::V6).unwrap();
    keystore::save(dir.path(), &ks).unwrap();
    let meta = fs::metadata(keystore::keystore_path(dir.path())).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    assert!(!dir.path().join(TEMP).exists());
    let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only the keystore is in the directory");

    // Replacing keeps 0660 even if someone loosened or tightened the old file's mode.
    fs::set_permissions(
        keystore::keystore_path(dir.path()),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    keystore::save(dir.path(), &modified(dir.path())).unwrap();
    let meta = fs::metadata(keystore::keystore_path(dir.path())).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
}

#[test]
fn a_directory_squatting_on_the_temp_name_fails_the_save_and_changes_nothing() {
    let (dir, original) = config_with_keystore();
    fs::create_dir(dir.path().join(TEMP)).unwrap();
    fs::write(dir.path().join(TEMP).join("inside"), b"x").unwrap();
    let err = keystore::save(dir.path(), &modified(dir.path())).unwrap_err();
    assert!(matches!(err, KeystoreError::Io { .. }), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::IoError);
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    assert_untouched(dir.path(), &original);
    assert!(
        dir.path().join(TEMP).join("inside").exists(),
        "the squatting directory was not ours to remove"
    );
}

#[test]
fn a_failed_rename_removes_the_temp_file() {
    // The keystore path is a non-empty directory: the temp file is written, the rename fails.
    let dir = tempfile::tempdir().unwrap();
    let target = keystore::keystore_path(dir.path());
    fs::create_dir(&target).unwrap();
    fs::write(target.join("file"), b"x").unwrap();
    let err = keystore::save(dir.path(), &Keystore::new(FormatVersion::V5).unwrap()).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::IoError, "{err}");
    assert!(!dir.path().join(TEMP).exists());
    assert!(target.join("file").exists());
    // And reading it is an I/O error naming the path, not a panic.
    let err = keystore::load(dir.path(), &pw("")).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::IoError, "{err}");
    assert!(err.to_string().contains(&target.display().to_string()));
}

/// Run as an unprivileged user (root ignores directory permissions): as root the test
/// re-runs itself as `nobody` in a config directory that user owns.
#[test]
fn a_read_only_config_directory_is_a_config_error_with_the_es_message() {
    const CHILD_DIR: &str = "KEYSTORE_TEST_READ_ONLY_DIR";
    const NOBODY: u32 = 65534;
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        read_only_directory_check(Path::new(&dir));
        return;
    }
    if !is_root() {
        let dir = tempfile::tempdir().unwrap();
        read_only_directory_check(dir.path());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let (exe, _copy) = other_user::executable_for_others(&std::env::current_exe().unwrap());
    let child = std::process::Command::new(&exe)
        .args([
            "--exact",
            "a_read_only_config_directory_is_a_config_error_with_the_es_message",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir.path())
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "the unprivileged run failed: {}\n{}{}",
        child.status,
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    // The child really ran the check: it left its keystore behind.
    assert!(keystore::keystore_path(dir.path()).is_file());
}

fn read_only_directory_check(dir: &Path) {
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    ks.set_string("existing.setting", "old").unwrap();
    keystore::save(dir, &ks).unwrap();
    let original = fs::read(keystore::keystore_path(dir)).unwrap();
    let ks = modified(dir);
    fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).unwrap();
    let err = keystore::save(dir, &ks).unwrap_err();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(matches!(err, KeystoreError::NotWritable { .. }), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(
        err.to_string().starts_with(&format!(
            "unable to create temporary keystore at [{}], write permissions required for [{}]",
            dir.join(TEMP).display(),
            dir.display()
        )),
        "{err}"
    );
    assert_untouched(dir, &original);
}

#[test]
fn replacing_a_keystore_owned_by_another_user_is_refused() {
    if !is_root() {
        eprintln!("skipped: changing a file's owner needs root");
        return;
    }
    let (dir, original) = config_with_keystore();
    let path = keystore::keystore_path(dir.path());
    std::os::unix::fs::chown(&path, Some(12345), None).unwrap();
    let err = keystore::save(dir.path(), &modified(dir.path())).unwrap_err();
    assert!(
        matches!(
            err,
            KeystoreError::OwnerChange {
                owner_uid: 12345,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(
        err.to_string().starts_with(&format!(
            "will not overwrite keystore at [{}], because this incurs changing the file owner",
            path.display()
        )),
        "{err}"
    );
    assert_untouched(dir.path(), &original);
    assert_eq!(fs::metadata(&path).unwrap().uid(), 12345);
}

#[test]
fn replacing_keeps_the_group_of_the_old_file() {
    if !is_root() {
        eprintln!("skipped: giving a file an arbitrary group needs root");
        return;
    }
    let (dir, _) = config_with_keystore();
    let path = keystore::keystore_path(dir.path());
    std::os::unix::fs::chown(&path, None, Some(54321)).unwrap();
    keystore::save(dir.path(), &modified(dir.path())).unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.gid(), 54321);
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
}

#[test]
fn a_stale_temp_file_from_a_crashed_run_is_replaced() {
    let (dir, _) = config_with_keystore();
    fs::write(dir.path().join(TEMP), b"half-written garbage").unwrap();
    keystore::save(dir.path(), &modified(dir.path())).unwrap();
    assert!(!dir.path().join(TEMP).exists());
    let back = keystore::load(dir.path(), &pw("")).unwrap();
    assert_eq!(
        back.get_string("new.setting")
            .unwrap()
            .unwrap()
            .expose_secret(),
        "new"
    );
}

#[test]
fn prepared_saves_change_nothing_until_committed() {
    let (first, first_original) = config_with_keystore();
    let (second, second_original) = config_with_keystore();
    let ks = modified(first.path());

    // All-or-none: prepare both, then abandon them.
    let a = keystore::prepare_save(first.path(), &ks).unwrap();
    let b = keystore::prepare_save(second.path(), &ks).unwrap();
    assert!(first.path().join(TEMP).is_file());
    assert_eq!(
        fs::metadata(first.path().join(TEMP))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o660
    );
    assert_eq!(
        fs::read(keystore::keystore_path(first.path())).unwrap(),
        first_original
    );
    drop((a, b));
    assert_untouched(first.path(), &first_original);
    assert_untouched(second.path(), &second_original);

    // Prepare both, commit both.
    let prepared = [first.path(), second.path()].map(|d| keystore::prepare_save(d, &ks).unwrap());
    for p in prepared {
        keystore::commit_save(p).unwrap();
    }
    for d in [first.path(), second.path()] {
        assert!(!d.join(TEMP).exists());
        assert!(keystore::load(d, &pw("")).unwrap().contains("new.setting"));
    }
}

#[test]
fn the_lock_excludes_a_second_holder_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let held = keystore::lock(dir.path()).unwrap();
    let err = keystore::lock_with_timeout(dir.path(), Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, KeystoreError::Locked { .. }), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::TempFail);
    drop(held);
    keystore::lock_with_timeout(dir.path(), Duration::from_millis(100)).unwrap();
    // The lock leaves nothing behind in the config directory.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn locking_a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = keystore::lock(&dir.path().join("missing")).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::IoError, "{err}");
}

#[test]
fn concurrent_locked_updates_lose_nothing() {
    const WRITERS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    keystore::save(dir.path(), &Keystore::new(FormatVersion::V4).unwrap()).unwrap();
    let start = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|i| {
            let dir = dir.path().to_path_buf();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                let _lock = keystore::lock(&dir).unwrap();
                let mut ks = keystore::load(&dir, &pw("")).unwrap();
                ks.set_string(&format!("writer.{i}"), &format!("value {i}"))
                    .unwrap();
                keystore::save(&dir, &ks).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let ks = keystore::load(dir.path(), &pw("")).unwrap();
    for i in 0..WRITERS {
        let value = ks.get_string(&format!("writer.{i}")).unwrap();
        assert_eq!(value.unwrap().expose_secret(), format!("value {i}"));
    }
    assert!(!dir.path().join(TEMP).exists());
}

#[test]
fn a_keystore_file_that_is_too_large_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = fs::File::create(keystore::keystore_path(dir.path())).unwrap();
    // Sparse: 3 GiB claimed, no blocks used.
    file.set_len(3 << 30).unwrap();
    let err = keystore::read_header(dir.path()).unwrap_err();
    assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err:?}");
}

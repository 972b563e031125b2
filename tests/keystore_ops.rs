//! The keystore commands' decisions, tested at the library layer (`keystore_ops`) without a
//! terminal or a process: where the config dir is, which names are refused, whether a
//! password is needed, the create-if-missing policy, and what each verb changes. The CLI
//! tests (`cli_keystore.rs`) pin the same messages and exit codes end to end.

use std::error::Error as _;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::keystore::{self, FormatVersion, KeystoreError};
use msgraph_keystore::keystore_ops::{self as ops, AddTarget, Change, KeystoreOpsError, Upgrade};
use msgraph_keystore::secret::{secret_string, SecretString};
use msgraph_keystore::secret_file::SecretOutputError;

fn empty() -> SecretString {
    secret_string("")
}

/// A config dir holding a copy of one Elasticsearch-written fixture.
fn fixture(case: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keystores")
        .join(case)
        .join(keystore::KEYSTORE_FILENAME);
    std::fs::copy(src, keystore::keystore_path(dir.path())).unwrap();
    dir
}

fn file_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(keystore::keystore_path(dir)).unwrap()
}

#[test]
fn config_dir_prefers_the_flag_then_es_path_conf_and_makes_it_absolute() {
    let flag = ops::config_dir(Some(Path::new("/etc/es")), Some(OsString::from("/other"))).unwrap();
    assert_eq!(flag, PathBuf::from("/etc/es"));
    let env = ops::config_dir(None, Some(OsString::from("/from/env"))).unwrap();
    assert_eq!(env, PathBuf::from("/from/env"));
    let relative = ops::config_dir(Some(Path::new("conf")), None).unwrap();
    assert!(relative.is_absolute(), "{}", relative.display());
    assert!(relative.ends_with("conf"));

    // An empty ES_PATH_CONF is unset, as Elasticsearch's launcher treats it.
    let err = ops::config_dir(None, Some(OsString::new())).unwrap_err();
    assert!(matches!(err, KeystoreOpsError::NoConfigDir), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert_eq!(
        err.to_string(),
        "no Elasticsearch config directory given: pass --config DIR or set ES_PATH_CONF"
    );
    let err = ops::config_dir(Some(Path::new("")), None).unwrap_err();
    assert!(matches!(err, KeystoreOpsError::EmptyConfigDir), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::Usage);
}

#[test]
fn a_missing_config_dir_is_a_config_error_and_a_missing_keystore_is_not_found() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = ops::require_dir(&missing).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    // Every opening path checks the directory first.
    assert_eq!(
        ops::find(&missing).unwrap_err().exit_code(),
        ExitCode::Config
    );
    assert_eq!(
        ops::lock_existing(&missing).unwrap_err().exit_code(),
        ExitCode::Config
    );
    assert_eq!(
        ops::lock_for_add(&missing).unwrap_err().exit_code(),
        ExitCode::Config
    );
    assert_eq!(
        ops::lock_for_create(&missing).unwrap_err().exit_code(),
        ExitCode::Config
    );

    for err in [
        ops::find(tmp.path()).unwrap_err(),
        ops::lock_existing(tmp.path()).unwrap_err(),
    ] {
        assert_eq!(err.exit_code(), ExitCode::DataError);
        assert!(
            matches!(
                err,
                KeystoreOpsError::Keystore(KeystoreError::NotFound { .. })
            ),
            "{err:?}"
        );
    }
    // Nothing was created by looking.
    assert!(!keystore::keystore_path(tmp.path()).exists());
}

#[test]
fn non_secure_realm_settings_are_refused_and_secure_ones_pass() {
    for key in msgraph_keystore::esconfig::NON_SECURE_REALM_SETTINGS {
        let name = format!("xpack.security.authc.realms.microsoft_graph.graph1.{key}");
        let err = ops::check_names([name.as_str()]).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::DataError);
        assert_eq!(
            err.to_string(),
            format!("Setting [{name}] is a non-secure setting and belongs in elasticsearch.yml, not in the keystore: Elasticsearch would refuse to start with it in the keystore; nothing was saved")
        );
    }
    for ok in [
        "xpack.security.authc.realms.microsoft_graph.graph1.client_secret",
        "xpack.security.authc.realms.microsoft_graph.client_id",
        "xpack.security.authc.realms.microsoft_graph..client_id",
        "xpack.security.authc.realms.oidc.oidc1.client_id",
        "xpack.security.authc.realms.microsoft_graph.graph1.client_id.extra",
        "bootstrap.password",
    ] {
        assert!(ops::check_names([ok]).is_ok(), "{ok}");
    }
    // The name pattern is checked too, and a later bad name fails the whole list.
    let err = ops::check_names(["ok.name", "bad name"]).unwrap_err();
    assert!(
        matches!(
            err,
            KeystoreOpsError::Keystore(KeystoreError::InvalidSettingName { .. })
        ),
        "{err:?}"
    );
    let err = ops::setting_name(OsStr::from_bytes(b"bad\xff")).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::DataError);
    assert!(err.to_string().contains("bad\u{fffd}"), "{err}");
    assert_eq!(ops::setting_name(OsStr::new("a.b")).unwrap(), "a.b");
}

#[test]
fn format_3_is_readable_but_never_a_write_target() {
    let err = ops::requested_version(Some("3"), None).unwrap_err();
    assert!(
        matches!(err, KeystoreOpsError::FormatNotWritable { .. }),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(
        err.to_string().starts_with("invalid --format-version [3]"),
        "{err}"
    );
    assert_eq!(
        ops::requested_version(Some("4"), None).unwrap(),
        Some(FormatVersion::V4)
    );
    assert_eq!(
        ops::requested_version(None, Some("8.12")).unwrap(),
        Some(FormatVersion::V5)
    );
    assert_eq!(ops::requested_version(None, None).unwrap(), None);
    assert_eq!(
        ops::requested_version(Some("7"), None)
            .unwrap_err()
            .exit_code(),
        ExitCode::Usage
    );
}

#[test]
fn a_password_is_needed_only_for_a_protected_keystore() {
    let protected = fixture("v4_password");
    let sealed = ops::find(protected.path()).unwrap();
    assert!(sealed.needs_password());
    let ks = sealed.read(&secret_string("v4-Passw0rd")).unwrap();
    assert!(ks.contains("cloud.auth.example"));
    let wrong = ops::find(protected.path())
        .unwrap()
        .read(&empty())
        .unwrap_err();
    assert_eq!(wrong.exit_code(), ExitCode::DataError);

    let open = fixture("v4_no_password");
    let sealed = ops::find(open.path()).unwrap();
    assert!(!sealed.needs_password());
    // A stray password for a password-less keystore is not used.
    assert!(sealed.read(&secret_string("anything")).is_ok());

    assert_eq!(
        ops::password_state(protected.path()).unwrap(),
        ops::PasswordState::Protected
    );
    assert_eq!(
        ops::password_state(open.path()).unwrap(),
        ops::PasswordState::NoPassword
    );
    let none = tempfile::tempdir().unwrap();
    assert_eq!(
        ops::password_state(none.path()).unwrap(),
        ops::PasswordState::NoKeystore
    );
}

#[test]
fn a_format_3_keystore_is_not_changed_but_can_be_upgraded() {
    let dir = fixture("v3_no_password");
    let before = file_bytes(dir.path());
    let err = ops::lock_existing(dir.path())
        .unwrap()
        .open_to_change(&empty())
        .unwrap_err();
    assert!(
        matches!(err, KeystoreOpsError::KeptInOldFormat { .. }),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(err.to_string().contains("format version 3"), "{err}");
    assert_eq!(file_bytes(dir.path()), before);
    // `add` to it takes the same refusal.
    let AddTarget::Existing(sealed) = ops::lock_for_add(dir.path()).unwrap() else {
        panic!("the fixture keystore exists");
    };
    assert!(sealed.open_to_change(&empty()).is_err());

    let upgraded = ops::lock_existing(dir.path())
        .unwrap()
        .open_to_upgrade(&empty())
        .unwrap()
        .upgrade(FormatVersion::V4)
        .unwrap();
    assert_eq!(upgraded, Upgrade::Rewritten);
    assert_eq!(
        keystore::read_header(dir.path()).unwrap().unwrap().version,
        FormatVersion::V4
    );
}

#[test]
fn an_up_to_date_keystore_is_not_rewritten_by_upgrade() {
    let dir = fixture("v4_no_password");
    // The fixture has a seed; asking for its own version changes nothing on disk.
    let before = file_bytes(dir.path());
    let outcome = ops::lock_existing(dir.path())
        .unwrap()
        .open_to_upgrade(&empty())
        .unwrap()
        .upgrade(FormatVersion::V4)
        .unwrap();
    assert_eq!(outcome, Upgrade::Unchanged);
    assert_eq!(file_bytes(dir.path()), before);
}

#[test]
fn add_to_a_missing_keystore_creates_it_once_with_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let AddTarget::Missing(new) = ops::lock_for_add(dir.path()).unwrap() else {
        panic!("there is no keystore yet");
    };
    let mut edit = new.create().unwrap();
    // Nothing on disk before the save: a failure on the way leaves no half-made keystore.
    assert!(!keystore::keystore_path(dir.path()).exists());
    assert_eq!(
        edit.set_string("a.b", &secret_string("one")).unwrap(),
        Change::Added
    );
    assert!(edit.contains("a.b"));
    assert_eq!(edit.set_bytes("a.b", b"two").unwrap(), Change::Replaced);
    edit.save().unwrap();
    let ks = keystore::load_read_only(dir.path(), &empty()).unwrap();
    assert_eq!(ks.get_bytes("a.b").unwrap(), b"two");
    assert_eq!(ks.version(), FormatVersion::LATEST);
    assert!(ks.contains(keystore::SEED_SETTING));

    // Now it exists, and add goes to it rather than creating another.
    assert!(matches!(
        ops::lock_for_add(dir.path()).unwrap(),
        AddTarget::Existing(_)
    ));
}

#[test]
fn remove_of_a_missing_setting_saves_nothing_and_removing_the_seed_omits_it() {
    let dir = fixture("v4_no_password");
    let before = file_bytes(dir.path());
    let mut edit = ops::lock_existing(dir.path())
        .unwrap()
        .open_to_change(&empty())
        .unwrap();
    let err = edit.remove(["no.such.setting"]).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert_eq!(
        err.to_string(),
        "Setting [no.such.setting] does not exist in the keystore."
    );
    drop(edit);
    assert_eq!(file_bytes(dir.path()), before);

    let mut edit = ops::lock_existing(dir.path())
        .unwrap()
        .open_to_change(&empty())
        .unwrap();
    edit.remove([keystore::SEED_SETTING]).unwrap();
    edit.save().unwrap();
    let ks = keystore::load_read_only(dir.path(), &empty()).unwrap();
    assert!(!ks.contains(keystore::SEED_SETTING));
}

#[test]
fn passwd_sets_the_new_password() {
    let dir = fixture("v4_no_password");
    ops::lock_existing(dir.path())
        .unwrap()
        .open_to_change(&empty())
        .unwrap()
        .change_password(secret_string("new-pw"))
        .unwrap();
    assert!(ops::find(dir.path()).unwrap().needs_password());
    assert!(keystore::load_read_only(dir.path(), &secret_string("new-pw")).is_ok());
}

#[test]
fn create_reports_what_it_would_replace_and_writes_the_version_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let target = ops::lock_for_create(dir.path()).unwrap();
    assert!(!target.replaces_existing());
    let path = target.create(FormatVersion::V4, empty()).unwrap();
    assert_eq!(path, keystore::keystore_path(dir.path()));
    let header = keystore::read_header(dir.path()).unwrap().unwrap();
    assert_eq!(header.version, FormatVersion::V4);
    assert!(!header.has_password, "an empty password means none");
    assert!(ops::lock_for_create(dir.path())
        .unwrap()
        .replaces_existing());

    // A dangling symlink at the keystore's path counts as something to replace.
    let other = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        other.path().join("nowhere"),
        keystore::keystore_path(other.path()),
    )
    .unwrap();
    assert!(ops::lock_for_create(other.path())
        .unwrap()
        .replaces_existing());
}

#[test]
fn value_files_and_output_files_name_the_path_and_keep_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = ops::read_value_file(&missing).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::IoError);
    assert_eq!(
        err.to_string(),
        format!("File [{}] does not exist", missing.display())
    );
    assert!(
        err.source().is_some(),
        "the io::Error is kept as the source"
    );
    // A directory is not a value file: the cause is in the message and in source().
    let err = ops::read_value_file(dir.path()).unwrap_err();
    assert!(
        matches!(err, KeystoreOpsError::ValueFileUnreadable { .. }),
        "{err:?}"
    );
    assert!(err.source().is_some());

    let value = dir.path().join("value");
    std::fs::write(&value, b"\x00bytes").unwrap();
    assert_eq!(
        ops::read_value_file(&value).unwrap().as_slice(),
        b"\x00bytes"
    );

    let err = ops::refuse_existing_output(&value).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(err
        .to_string()
        .starts_with(&format!("-o {} already exists", value.display())));
    let err = ops::write_value("a.b", &value, b"x").unwrap_err();
    assert!(
        matches!(
            err,
            KeystoreOpsError::Output(SecretOutputError::Exists { .. })
        ),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read(&value).unwrap(),
        b"\x00bytes",
        "never overwritten"
    );

    let out = dir.path().join("out");
    ops::refuse_existing_output(&out).unwrap();
    ops::write_value("a.b", &out, b"secret").unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let err = ops::write_value("a.b", &dir.path().join("no/dir/out"), b"x").unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::IoError);
    assert!(
        err.to_string()
            .starts_with("cannot write the value of [a.b] to ["),
        "{err}"
    );
    assert!(err.source().is_some());
}

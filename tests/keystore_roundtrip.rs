//! Whatever is written reads back identically, in every writable format, with every kind of
//! password and value; file sizes follow the format's fixed overhead.

mod seed_support;

use std::fs;
use std::path::Path;

use msgraph_keystore::keystore::{self, FormatVersion, Keystore, KeystoreError, SEED_SETTING};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use proptest::prelude::*;

const OVERHEAD: usize = 156;
const WRITABLE: [FormatVersion; 3] = [FormatVersion::V4, FormatVersion::V5, FormatVersion::V6];
const PASSWORDS: [&str; 3] = ["", "Passw0rd-ascii", "pässwörd-ß-日本-🔑"];

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Plaintext length computed from the documented payload layout, independently of the code.
fn plaintext_len(ks: &Keystore) -> usize {
    4 + ks
        .names()
        .iter()
        .map(|n| 2 + n.len() + 4 + ks.get_bytes(n).unwrap().len())
        .sum::<usize>()
}

fn assert_same_entries(a: &Keystore, b: &Keystore) {
    assert_eq!(a.names(), b.names());
    for name in a.names() {
        assert_eq!(a.get_bytes(name), b.get_bytes(name), "{name}");
    }
}

fn binary_value() -> Vec<u8> {
    (0..=255u8).chain([0, 0xff, 0xfe, 0xc0, 0x80]).collect()
}

fn mib_value() -> Vec<u8> {
    (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn every_version_and_password_round_trips_every_kind_of_value() {
    let big = mib_value();
    for version in WRITABLE {
        for password in PASSWORDS {
            let mut ks = Keystore::new(version).unwrap();
            ks.set_password(pw(password));
            ks.set_string("empty.value", "").unwrap();
            ks.set_string("non.ascii", "Grüße – ½ € ✓ 日本語 🔑")
                .unwrap();
            ks.set_bytes("binary.value", &binary_value()).unwrap();
            ks.set_bytes("one.mebibyte", &big).unwrap();

            let bytes = ks.encrypt().unwrap();
            assert_eq!(
                bytes.len(),
                OVERHEAD + plaintext_len(&ks),
                "{version:?}/{password}"
            );
            let header = Keystore::parse_header(&bytes).unwrap();
            assert_eq!(header.version, version);
            assert_eq!(header.has_password, !password.is_empty());

            let back = Keystore::decrypt(&bytes, &pw(password)).unwrap();
            assert_eq!(back.version(), version);
            assert_eq!(back.has_password(), !password.is_empty());
            assert_same_entries(&ks, &back);
            assert_eq!(
                back.get_string("non.ascii")
                    .unwrap()
                    .unwrap()
                    .expose_secret(),
                "Grüße – ½ € ✓ 日本語 🔑"
            );
            assert_eq!(
                back.get_string("empty.value")
                    .unwrap()
                    .unwrap()
                    .expose_secret(),
                ""
            );
            assert!(matches!(
                back.get_string("binary.value"),
                Err(KeystoreError::NotUtf8 { .. })
            ));
            if !password.is_empty() {
                assert!(matches!(
                    Keystore::decrypt_read_only(&bytes, &pw("")),
                    Err(KeystoreError::WrongPasswordOrTampered { .. })
                ));
            }
        }
    }
}

#[test]
fn a_thousand_entries_round_trip_through_the_file_layer() {
    for version in WRITABLE {
        let dir = tempfile::tempdir().unwrap();
        let mut ks = Keystore::new(version).unwrap();
        ks.set_password(pw("thousand"));
        for i in 0..1000 {
            ks.set_string(
                &format!("setting.number_{i:04}"),
                &format!("value-{i}-{}", "x".repeat(i % 17)),
            )
            .unwrap();
        }
        keystore::save(dir.path(), &ks).unwrap();
        let path = keystore::keystore_path(dir.path());
        assert_eq!(
            fs::metadata(&path).unwrap().len() as usize,
            OVERHEAD + plaintext_len(&ks)
        );
        let back = keystore::load(dir.path(), &pw("thousand")).unwrap();
        assert_eq!(back.names().len(), 1001);
        assert_same_entries(&ks, &back);
        // Names come back sorted.
        let names = back.names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }
}

#[test]
fn every_save_uses_a_fresh_salt_and_iv() {
    let ks = Keystore::new(FormatVersion::V5).unwrap();
    let a = ks.encrypt().unwrap();
    let b = ks.encrypt().unwrap();
    // Salt at 40..104, IV at 108..120 (after the header, flag and three length fields).
    assert_ne!(a[40..104], b[40..104]);
    assert_ne!(a[108..120], b[108..120]);
    assert_same_entries(
        &Keystore::decrypt(&a, &pw("")).unwrap(),
        &Keystore::decrypt(&b, &pw("")).unwrap(),
    );
}

#[test]
fn password_and_version_changes_take_effect_on_the_next_save() {
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    ks.set_string("a", "1").unwrap();
    let v4 = ks.encrypt().unwrap();
    let mut back = Keystore::decrypt(&v4, &pw("")).unwrap();
    back.set_password(pw("new-password"));
    back.set_version(FormatVersion::V6).unwrap();
    let v6 = back.encrypt().unwrap();
    let header = Keystore::parse_header(&v6).unwrap();
    assert_eq!(header.version, FormatVersion::V6);
    assert!(header.has_password);
    assert!(Keystore::decrypt(&v6, &pw("")).is_err());
    let again = Keystore::decrypt(&v6, &pw("new-password")).unwrap();
    assert_same_entries(&ks, &again);
    // And back to no password.
    let mut again = again;
    again.set_password(pw(""));
    let plain = again.encrypt().unwrap();
    assert!(!Keystore::parse_header(&plain).unwrap().has_password);
    assert_same_entries(&ks, &Keystore::decrypt(&plain, &pw("")).unwrap());
}

fn fixture_dir(folder: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keystores")
        .join(folder)
}

#[test]
fn format_3_fixtures_are_read_and_re_saved_as_a_writable_version_with_the_same_contents() {
    for (folder, password) in [("v3_no_password", ""), ("v3_password", "v3-Passw0rd")] {
        let ks = keystore::load(&fixture_dir(folder), &pw(password)).unwrap();
        assert_eq!(ks.version(), FormatVersion::V3);
        // Never rewritten as format 3, and never silently upgraded either.
        assert!(matches!(
            ks.encrypt(),
            Err(KeystoreError::NotWritableVersion { .. })
        ));
        for target in WRITABLE {
            let mut upgraded = ks.clone();
            upgraded.set_version(target).unwrap();
            let bytes = upgraded.encrypt().unwrap();
            assert_eq!(Keystore::parse_header(&bytes).unwrap().version, target);
            let back = Keystore::decrypt(&bytes, &pw(password)).unwrap();
            assert_eq!(back.has_password(), !password.is_empty());
            assert_same_entries(&ks, &back);
        }
    }
}

#[test]
fn saving_adds_a_missing_seed_without_changing_the_keystore_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut ks = Keystore::new(FormatVersion::V6).unwrap();
    assert!(ks.remove(SEED_SETTING));
    ks.set_string("only", "value").unwrap();
    keystore::save(dir.path(), &ks).unwrap();
    assert!(!ks.contains(SEED_SETTING));
    let back = keystore::load(dir.path(), &pw("")).unwrap();
    assert_eq!(back.names(), vec![SEED_SETTING, "only"]);
}

#[test]
fn invalid_names_are_refused_and_change_nothing() {
    let mut ks = Keystore::new(FormatVersion::V6).unwrap();
    for bad in [
        "",
        "has space",
        "slash/name",
        "ümlaut",
        "semi;colon",
        "new\nline",
    ] {
        let err = ks.set_string(bad, "v").unwrap_err();
        assert!(
            matches!(err, KeystoreError::InvalidSettingName { .. }),
            "{bad:?}"
        );
        assert!(err
            .to_string()
            .contains("does not match the allowed setting name pattern"));
    }
    assert_eq!(ks.names(), vec![SEED_SETTING]);
}

#[test]
fn setting_values_never_appear_in_errors_or_debug_output() {
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    ks.set_string("secret.one", "TOP-SECRET-VALUE").unwrap();
    ks.set_password(pw("PASSWORD-SECRET"));
    let bytes = ks.encrypt().unwrap();
    let shown = format!("{ks:?}");
    assert!(!shown.contains("TOP-SECRET-VALUE") && !shown.contains("PASSWORD-SECRET"));
    let err = Keystore::decrypt(&bytes, &pw("PASSWORD-WRONG")).unwrap_err();
    assert!(!err.to_string().contains("PASSWORD"));
    assert!(!format!("{err:?}").contains("PASSWORD-WRONG"));
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,48}"
}

proptest! {
    // Format 4 uses 10,000 iterations, so each case costs a few milliseconds.
    #![proptest_config(seed_support::proptest_config("keystore_roundtrip", 24))]

    #[test]
    fn arbitrary_valid_names_and_values_round_trip(
        entries in proptest::collection::btree_map(name_strategy(), proptest::collection::vec(any::<u8>(), 0..300), 0..12),
        password in "\\PC{0,20}",
        version in prop::sample::select(vec![FormatVersion::V4, FormatVersion::V5]),
    ) {
        let mut ks = Keystore::new(version).unwrap();
        ks.set_password(pw(&password));
        for (name, value) in &entries {
            ks.set_bytes(name, value).unwrap();
        }
        let bytes = ks.encrypt().unwrap();
        prop_assert_eq!(bytes.len(), OVERHEAD + plaintext_len(&ks));
        let back = Keystore::decrypt(&bytes, &pw(&password)).unwrap();
        prop_assert_eq!(back.names(), ks.names());
        for (name, value) in &entries {
            prop_assert_eq!(back.get_bytes(name), Some(value.as_slice()));
        }
    }

    #[test]
    fn names_outside_the_pattern_are_always_refused(
        prefix in "[A-Za-z0-9_.-]{0,8}",
        bad in "[^A-Za-z0-9_.-]",
        suffix in "[A-Za-z0-9_.-]{0,8}",
    ) {
        let name = format!("{prefix}{bad}{suffix}");
        let refused = matches!(
            keystore::validate_setting_name(&name),
            Err(KeystoreError::InvalidSettingName { .. })
        );
        prop_assert!(refused);
    }

    #[test]
    fn string_values_come_back_as_the_same_text(value in "\\PC{0,64}") {
        let mut ks = Keystore::new(FormatVersion::V4).unwrap();
        ks.set_string("text", &value).unwrap();
        let got = ks.get_string("text").unwrap().unwrap();
        prop_assert_eq!(got.expose_secret(), value.as_str());
    }
}

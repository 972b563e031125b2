//! Every keystore written by Elasticsearch itself (`fixtures/keystores/manifest.json`, and
//! one file from a real ES 7 package install) reads back exactly.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use msgraph_keystore::keystore::{
    self, FormatVersion, Keystore, KeystoreError, SEED_CHARS, SEED_SETTING,
};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn manifest() -> Value {
    let text = fs::read_to_string(fixtures().join("keystores/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The expected bytes of one manifest entry, under its documented conventions.
fn expected_value(case_dir: &Path, name: &str, spec: &Value) -> ExpectedValue {
    if let Some(s) = spec.get("string").and_then(Value::as_str) {
        return ExpectedValue::Bytes(s.as_bytes().to_vec());
    }
    if let Some(b) = spec.get("base64").and_then(Value::as_str) {
        return ExpectedValue::Bytes(base64::engine::general_purpose::STANDARD.decode(b).unwrap());
    }
    if let Some(file) = spec.get("sidecar_file").and_then(Value::as_str) {
        let len = spec["length"].as_u64().unwrap() as usize;
        let sha = spec["sha256"].as_str().unwrap().to_owned();
        // The value's bytes may also be stored next to the keystore; when present they must match.
        let sidecar = fs::read(case_dir.join(file)).ok();
        return ExpectedValue::Digest {
            len,
            sha256: sha,
            sidecar,
        };
    }
    panic!("entry {name}: unknown value convention {spec}");
}

enum ExpectedValue {
    Bytes(Vec<u8>),
    Digest {
        len: usize,
        sha256: String,
        sidecar: Option<Vec<u8>>,
    },
}

#[test]
fn every_manifest_case_reads_back_exactly() {
    let manifest = manifest();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 12, "manifest lists {} cases", cases.len());
    for case in cases {
        let folder = case["folder"].as_str().unwrap();
        let case_dir = fixtures().join("keystores").join(folder);
        let bytes = fs::read(case_dir.join("elasticsearch.keystore")).unwrap();

        // The fixture itself is what the manifest describes, byte for byte.
        assert_eq!(
            bytes.len() as u64,
            case["file_size"].as_u64().unwrap(),
            "{folder}: size"
        );
        assert_eq!(
            hex(&Sha256::digest(&bytes)),
            case["file_sha256"].as_str().unwrap(),
            "{folder}: sha256"
        );

        let version =
            FormatVersion::from_number(case["format_version"].as_i64().unwrap() as i32).unwrap();
        let has_password = case["has_password"].as_bool().unwrap();
        let header = Keystore::parse_header(&bytes).unwrap();
        assert_eq!(header.version, version, "{folder}");
        assert_eq!(header.has_password, has_password, "{folder}");

        // Through the file layer, as the commands read it.
        let password = pw(case["password"].as_str().unwrap());
        let ks = keystore::load(&case_dir, &password).unwrap_or_else(|e| panic!("{folder}: {e}"));
        assert_eq!(ks.version(), version, "{folder}");
        assert_eq!(
            ks.version().iterations() as u64,
            case["kdf_iterations"].as_u64().unwrap()
        );
        assert_eq!(ks.has_password(), has_password, "{folder}");

        let entries = case["entries"].as_object().unwrap();
        assert_eq!(
            entries.len() as u64,
            case["entry_count"].as_u64().unwrap(),
            "{folder}"
        );
        let mut expected_names: Vec<&str> = entries.keys().map(String::as_str).collect();
        expected_names.sort_unstable();
        assert_eq!(ks.names(), expected_names, "{folder}: names");

        for (name, spec) in entries {
            let actual = ks.get_bytes(name).unwrap();
            match expected_value(&case_dir, name, spec) {
                ExpectedValue::Bytes(b) => assert_eq!(actual, b.as_slice(), "{folder}: {name}"),
                ExpectedValue::Digest {
                    len,
                    sha256,
                    sidecar,
                } => {
                    assert_eq!(actual.len(), len, "{folder}: {name}");
                    if let Some(bytes) = sidecar {
                        assert_eq!(actual, bytes.as_slice(), "{folder}: {name} sidecar");
                    }
                    assert_eq!(hex(&Sha256::digest(actual)), sha256, "{folder}: {name}");
                }
            }
            if let Some(s) = spec.get("string").and_then(Value::as_str) {
                let got = ks.get_string(name).unwrap().unwrap();
                assert_eq!(got.expose_secret(), s, "{folder}: {name}");
            }
        }
    }
}

#[test]
fn binary_values_are_not_strings() {
    let dir = fixtures().join("keystores/v6_file_entry_and_empty_value");
    let ks = keystore::load_read_only(&dir, &pw("")).unwrap();
    let err = ks
        .get_string("gcs.client.default.credentials_file")
        .unwrap_err();
    assert!(matches!(err, KeystoreError::NotUtf8 { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("gcs.client.default.credentials_file"));
    assert_eq!(
        ks.get_string("empty.value")
            .unwrap()
            .unwrap()
            .expose_secret(),
        ""
    );
    assert!(ks.get_string("absent").unwrap().is_none());
}

#[test]
fn a_real_es7_package_keystore_reads_back() {
    let dir = fixtures().join("keystores-external/es7_package_asdf");
    let header = keystore::read_header(&dir).unwrap().unwrap();
    assert_eq!(header.version, FormatVersion::V4);
    assert!(!header.has_password);
    let ks = keystore::load(&dir, &pw("")).unwrap();
    assert_eq!(ks.names(), vec!["asdf", SEED_SETTING]);
    assert_eq!(
        ks.get_string("asdf").unwrap().unwrap().expose_secret(),
        "zxcv"
    );
    let seed = ks.get_string(SEED_SETTING).unwrap().unwrap();
    assert_eq!(seed.expose_secret().len(), 20);
    assert!(seed
        .expose_secret()
        .bytes()
        .all(|b| SEED_CHARS.contains(&b)));
}

#[test]
fn a_wrong_password_is_reported_as_such_for_every_protected_fixture() {
    let manifest = manifest();
    let mut checked = 0;
    for case in manifest["cases"].as_array().unwrap() {
        if !case["has_password"].as_bool().unwrap() {
            continue;
        }
        let dir = fixtures()
            .join("keystores")
            .join(case["folder"].as_str().unwrap());
        let err = keystore::load_read_only(&dir, &pw("not-the-password")).unwrap_err();
        assert!(
            matches!(err, KeystoreError::WrongPasswordOrTampered { .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with("Provided keystore password was incorrect"),
            "{msg}"
        );
        assert!(
            msg.contains(&dir.join("elasticsearch.keystore").display().to_string()),
            "{msg}"
        );
        assert!(!msg.contains("not-the-password"));
        // A password-protected file read with the empty password fails the same way.
        assert!(matches!(
            keystore::load_read_only(&dir, &pw("")),
            Err(KeystoreError::WrongPasswordOrTampered { .. })
        ));
        checked += 1;
    }
    assert!(checked >= 5);
}

#[test]
fn a_missing_keystore_is_not_found_and_has_no_header() {
    let dir = tempfile::tempdir().unwrap();
    assert!(keystore::read_header(dir.path()).unwrap().is_none());
    let err = keystore::load(dir.path(), &pw("")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, KeystoreError::NotFound { .. }));
    assert_eq!(
        msg,
        format!(
            "Elasticsearch keystore not found at [{}]. Use 'create' command to create one.",
            dir.path().join("elasticsearch.keystore").display()
        )
    );
}

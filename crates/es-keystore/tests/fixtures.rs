//! The keystores Elasticsearch itself wrote (`../../fixtures/keystores`, read in place and
//! never copied) decrypt to exactly the entries its manifest lists: once through the public
//! API ([`Keystore::decrypt_read_only`], the detected kernel), and once per PBKDF2 kernel
//! this CPU has, so the Elasticsearch-written files pass through the SIMD code too.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use es_keystore::kdf::{self, Kernel};
use es_keystore::secret::SecretString;
use es_keystore::{crypto, format, Keystore};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/keystores")
}

fn cases() -> Vec<Value> {
    let text = fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let cases = manifest["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 10, "manifest lists {} cases", cases.len());
    cases
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Check one decrypted entry against its manifest description.
fn check_value(case: &str, name: &str, spec: &Value, value: &[u8]) {
    if let Some(s) = spec.get("string").and_then(Value::as_str) {
        assert_eq!(value, s.as_bytes(), "{case}: {name}");
    } else if let Some(b) = spec.get("base64").and_then(Value::as_str) {
        let want = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
        assert_eq!(value, want, "{case}: {name}");
    } else if spec.get("sidecar_file").is_some() {
        assert_eq!(
            value.len() as u64,
            spec["length"].as_u64().unwrap(),
            "{case}: {name}"
        );
        assert_eq!(
            hex(&Sha256::digest(value)),
            spec["sha256"].as_str().unwrap(),
            "{case}: {name}"
        );
    } else {
        panic!("{case}: entry {name}: unknown value convention {spec}");
    }
}

/// The entries of `bytes` decrypted with a key derived on `kernel`.
fn decrypt_with(kernel: Kernel, bytes: &[u8], password: &str) -> Vec<format::Entry> {
    let container = format::parse_container(bytes).unwrap();
    let version = container.header.version;
    let mut key = [0u8; crypto::KEY_LEN];
    kdf::pbkdf2_with(
        kernel,
        password.as_bytes(),
        container.salt,
        version.iterations(),
        &mut key,
    )
    .unwrap();
    let plaintext = crypto::open(&key, &container).unwrap();
    format::parse_entries(version, &plaintext).unwrap()
}

#[test]
fn every_fixture_decrypts_to_its_manifest_entries_on_every_kernel() {
    let mut ran = Vec::new();
    for kernel in Kernel::ALL.iter().copied() {
        if !kernel.is_supported() {
            println!("skipped: CPU lacks the features of the {kernel:?} kernel");
            continue;
        }
        for case in cases() {
            let folder = case["folder"].as_str().unwrap();
            let bytes = fs::read(fixtures().join(folder).join("elasticsearch.keystore")).unwrap();
            let password = case["password"].as_str().unwrap();
            let container = format::parse_container(&bytes).unwrap();
            assert_eq!(
                u64::from(container.header.version.iterations()),
                case["kdf_iterations"].as_u64().unwrap(),
                "{folder}"
            );
            let entries = decrypt_with(kernel, &bytes, password);
            let want = case["entries"].as_object().unwrap();
            assert_eq!(entries.len(), want.len(), "{folder} on {kernel:?}");
            for (name, value) in &entries {
                let spec = want
                    .get(name)
                    .unwrap_or_else(|| panic!("{folder}: extra {name}"));
                check_value(folder, name, spec, value);
            }
        }
        ran.push(kernel);
    }
    println!("fixtures decrypted on {ran:?}");
    assert!(ran.contains(&Kernel::detect()));
}

#[test]
fn every_fixture_reads_back_through_the_public_api() {
    for case in cases() {
        let folder = case["folder"].as_str().unwrap();
        let bytes = fs::read(fixtures().join(folder).join("elasticsearch.keystore")).unwrap();
        let password = SecretString::from(case["password"].as_str().unwrap().to_owned());
        let header = Keystore::parse_header(&bytes).unwrap();
        assert_eq!(
            i64::from(header.version.number()),
            case["format_version"].as_i64().unwrap(),
            "{folder}"
        );
        assert_eq!(
            header.has_password,
            case["has_password"].as_bool().unwrap(),
            "{folder}"
        );
        let ks = Keystore::decrypt_read_only(&bytes, &password).unwrap();
        let want = case["entries"].as_object().unwrap();
        assert_eq!(ks.len(), want.len(), "{folder}");
        for (name, spec) in want {
            let value = ks
                .get_bytes(name)
                .unwrap_or_else(|| panic!("{folder}: {name} missing"));
            check_value(folder, name, spec, value);
        }
    }
}

#[test]
fn a_wrong_password_is_refused_on_every_kernel() {
    let case = cases()
        .into_iter()
        .find(|c| c["has_password"].as_bool() == Some(true))
        .unwrap();
    let folder = case["folder"].as_str().unwrap();
    let bytes = fs::read(fixtures().join(folder).join("elasticsearch.keystore")).unwrap();
    let container = format::parse_container(&bytes).unwrap();
    for kernel in Kernel::ALL.iter().copied().filter(|k| k.is_supported()) {
        let mut key = [0u8; crypto::KEY_LEN];
        let iterations = container.header.version.iterations();
        kdf::pbkdf2_with(
            kernel,
            b"not the password",
            container.salt,
            iterations,
            &mut key,
        )
        .unwrap();
        assert!(crypto::open(&key, &container).is_err(), "{kernel:?}");
    }
}

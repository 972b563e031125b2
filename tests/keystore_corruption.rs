//! Damaged, truncated and hostile keystore files: every one gives a typed error (never a
//! panic), classified by where the damage is, and no length field makes the parser allocate
//! more than the input's size.
//!
//! The exhaustive runs use the format-4/5 fixtures (10,000 PBKDF2 iterations): structure and
//! CRC are checked before any key derivation, so most mutations cost nothing, and the ones
//! that reach decryption (CRC recomputed) cost a few milliseconds each.

mod seed_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};

use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::keystore::crypto::SaveKey;
use msgraph_keystore::keystore::format::{self, FormatVersion, Header};
use msgraph_keystore::keystore::{self, Keystore, KeystoreError};
use msgraph_keystore::secret::SecretString;
use proptest::prelude::*;
use zeroize::Zeroizing;

/// Records the largest single allocation made by the current thread, so a test can prove a
/// length field claiming gigabytes was not believed.
struct TrackingAllocator;

thread_local! {
    static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST_ALLOCATION.try_with(|m| m.set(m.get().max(layout.size())));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST_ALLOCATION.try_with(|m| m.set(m.get().max(new_size)));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator;

fn largest_allocation_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST_ALLOCATION.with(|m| m.set(0));
    let out = f();
    (out, LARGEST_ALLOCATION.with(Cell::get))
}

#[test]
fn the_allocation_tracker_sees_large_allocations() {
    // Guards the allocation assertions below against a tracker that records nothing.
    let (v, largest) = largest_allocation_during(|| vec![1u8; 1 << 20]);
    assert_eq!(v.len(), 1 << 20);
    assert!(largest >= 1 << 20, "{largest}");
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn fixture(folder: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/keystores")
            .join(folder)
            .join("elasticsearch.keystore"),
    )
    .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    NotAKeystore,
    TooOld,
    TooNew,
    Checksum,
    Corrupt,
    WrongPassword,
}

fn class(result: Result<Keystore, KeystoreError>) -> Class {
    match result {
        Ok(_) => panic!("damaged keystore was accepted"),
        Err(e) => {
            assert_eq!(e.exit_code(), ExitCode::DataError, "{e}");
            match e {
                KeystoreError::NotAKeystore { .. } => Class::NotAKeystore,
                KeystoreError::VersionTooOld { .. } => Class::TooOld,
                KeystoreError::VersionTooNew { .. } => Class::TooNew,
                KeystoreError::ChecksumMismatch { .. } => Class::Checksum,
                KeystoreError::Corrupt { .. } => Class::Corrupt,
                KeystoreError::WrongPasswordOrTampered { .. } => Class::WrongPassword,
                other => panic!("unexpected error kind: {other:?}"),
            }
        }
    }
}

/// Which part of a keystore file a byte offset belongs to (salt 64 and IV 12 bytes, as every
/// fixture has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    CodecMagic,
    CodecName,
    Version,
    HasPassword,
    LengthField,
    EncryptedMaterial,
    FooterMagic,
    FooterAlgorithm,
    ChecksumHigh,
    ChecksumLow,
}

fn region(offset: usize, len: usize) -> Region {
    match offset {
        0..=3 => Region::CodecMagic,
        4..=26 => Region::CodecName,
        27..=30 => Region::Version,
        31 => Region::HasPassword,
        32..=39 | 104..=107 | 120..=123 => Region::LengthField,
        o if o >= len - 16 => match o - (len - 16) {
            0..=3 => Region::FooterMagic,
            4..=7 => Region::FooterAlgorithm,
            8..=11 => Region::ChecksumHigh,
            _ => Region::ChecksumLow,
        },
        _ => Region::EncryptedMaterial,
    }
}

/// Rewrite the footer CRC so a mutation reaches the later checks.
fn fix_crc(bytes: &mut [u8]) {
    let n = bytes.len();
    let crc = crc32fast::hash(&bytes[..n - 8]);
    bytes[n - 8..].copy_from_slice(&u64::from(crc).to_be_bytes());
}

fn version_class(bytes: &[u8]) -> Option<Class> {
    let v = i32::from_be_bytes(bytes[27..31].try_into().unwrap());
    if v < 3 {
        Some(Class::TooOld)
    } else if v > 6 {
        Some(Class::TooNew)
    } else {
        None
    }
}

#[test]
fn truncation_at_every_offset_is_a_clean_typed_error() {
    for (folder, password) in [
        ("v4_no_password", ""),
        ("v5_password", "v5-Passw0rd"),
        ("v6_seed_only", ""),
    ] {
        let bytes = fixture(folder);
        for cut in 0..bytes.len() {
            let got = class(Keystore::decrypt(&bytes[..cut], &pw(password)));
            let expected = if cut < format::HEADER_LEN {
                Class::NotAKeystore
            } else {
                Class::Corrupt
            };
            assert_eq!(got, expected, "{folder} cut at {cut}");
            assert!(Keystore::parse_header(&bytes[..cut]).is_err());
        }
        // Extra bytes after the footer are corruption too.
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            class(Keystore::decrypt(&longer, &pw(password))),
            Class::Corrupt,
            "{folder}"
        );
    }
}

#[test]
fn every_single_bit_flip_is_caught_before_decryption_and_classified_by_region() {
    for (folder, password) in [
        ("v4_no_password", ""),
        ("v5_password", "v5-Passw0rd"),
        ("v4_password", "v4-Passw0rd"),
    ] {
        let bytes = fixture(folder);
        let len = bytes.len();
        for offset in 0..len {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[offset] ^= 1 << bit;
                let got = class(Keystore::decrypt(&damaged, &pw(password)));
                let expected: Vec<Class> = match region(offset, len) {
                    Region::CodecMagic | Region::CodecName => vec![Class::NotAKeystore],
                    // A flip into another readable version (e.g. 4 → 5 swaps the byte
                    // order of every length) fails on structure or on the checksum.
                    Region::Version => match version_class(&damaged) {
                        Some(c) => vec![c],
                        None => vec![Class::Corrupt, Class::Checksum],
                    },
                    // 0 ↔ 1 is still a valid flag; anything else is not.
                    Region::HasPassword if damaged[offset] <= 1 => vec![Class::Checksum],
                    Region::HasPassword => vec![Class::Corrupt],
                    Region::LengthField => vec![Class::Corrupt],
                    Region::EncryptedMaterial | Region::ChecksumLow => vec![Class::Checksum],
                    Region::FooterMagic | Region::FooterAlgorithm | Region::ChecksumHigh => {
                        vec![Class::Corrupt]
                    }
                };
                assert!(
                    expected.contains(&got),
                    "{folder}: flip of bit {bit} at offset {offset} ({:?}) gave {got:?}, expected {expected:?}",
                    region(offset, len)
                );
            }
        }
    }
}

#[test]
fn with_the_checksum_recomputed_tampering_is_caught_by_structure_or_the_gcm_tag() {
    for (folder, password) in [("v4_no_password", ""), ("v5_password", "v5-Passw0rd")] {
        let bytes = fixture(folder);
        let len = bytes.len();
        for offset in 0..len - 8 {
            let mut damaged = bytes.clone();
            damaged[offset] ^= 0xff;
            fix_crc(&mut damaged);
            let got = class(Keystore::decrypt_read_only(&damaged, &pw(password)));
            let expected: Vec<Class> = match region(offset, len) {
                Region::CodecMagic | Region::CodecName => vec![Class::NotAKeystore],
                Region::Version => version_class(&damaged).into_iter().collect(),
                Region::HasPassword | Region::LengthField => vec![Class::Corrupt],
                Region::FooterMagic | Region::FooterAlgorithm => vec![Class::Corrupt],
                Region::EncryptedMaterial => vec![Class::WrongPassword],
                Region::ChecksumHigh | Region::ChecksumLow => unreachable!(),
            };
            assert!(
                expected.contains(&got),
                "{folder}: 0xff flip at offset {offset} ({:?}) gave {got:?}, expected {expected:?}",
                region(offset, len)
            );
        }
    }
}

#[test]
fn the_password_flag_only_says_whether_to_ask_for_a_password() {
    // Elasticsearch uses the flag to decide whether to prompt; the key still comes from the
    // password given. A flipped flag with a valid checksum therefore still opens with the
    // right password (and reports the password it was opened with).
    let mut bytes = fixture("v4_no_password");
    bytes[31] = 1;
    fix_crc(&mut bytes);
    assert!(Keystore::parse_header(&bytes).unwrap().has_password);
    let ks = Keystore::decrypt_read_only(&bytes, &pw("")).unwrap();
    assert!(!ks.has_password());
}

#[test]
fn length_fields_claiming_two_gibibytes_are_rejected_without_allocating() {
    let bytes = fixture("v5_no_password");
    // data_len, salt_len, iv_len, enc_len (little-endian in format 5).
    for offset in [32, 36, 104, 120] {
        for claim in [i32::MAX, i32::MAX - 200, -1, i32::MIN] {
            let mut damaged = bytes.clone();
            damaged[offset..offset + 4].copy_from_slice(&claim.to_le_bytes());
            fix_crc(&mut damaged);
            let (result, largest) =
                largest_allocation_during(|| Keystore::decrypt_read_only(&damaged, &pw("")));
            assert_eq!(
                class(result),
                Class::Corrupt,
                "offset {offset} claim {claim}"
            );
            assert!(
                largest < 64 * 1024,
                "offset {offset} claim {claim}: allocated {largest} bytes"
            );
        }
    }
}

/// A correctly encrypted keystore around an arbitrary (possibly malformed) plaintext.
fn seal_plaintext(version: FormatVersion, plaintext: &[u8]) -> Vec<u8> {
    let key = SaveKey::derive(&pw(""), version.iterations()).unwrap();
    let salt = *key.salt();
    let mut payload = Zeroizing::new(Vec::with_capacity(plaintext.len() + format::TAG_LEN));
    payload.extend_from_slice(plaintext);
    let (iv, ciphertext) = key.seal(payload).unwrap();
    format::write_container(
        Header {
            version,
            has_password: false,
        },
        &salt,
        &iv,
        &ciphertext,
    )
    .unwrap()
}

fn entry(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = (name.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(name);
    out.extend_from_slice(&(value.len() as i32).to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn payload(count: i32, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = count.to_be_bytes().to_vec();
    for e in entries {
        out.extend_from_slice(e);
    }
    out
}

#[test]
fn malformed_payloads_inside_valid_encryption_are_corrupt() {
    let good = entry(b"a.setting", b"value");
    let mut two_gib_value = (9u16).to_be_bytes().to_vec();
    two_gib_value.extend_from_slice(b"a.setting");
    two_gib_value.extend_from_slice(&i32::MAX.to_be_bytes());
    let mut negative_value = two_gib_value.clone();
    negative_value[11..15].copy_from_slice(&(-5i32).to_be_bytes());
    let mut long_name = (60_000u16).to_be_bytes().to_vec();
    long_name.extend_from_slice(b"short");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty plaintext", vec![]),
        ("count cut short", vec![0, 0]),
        ("negative count", payload(-1, &[])),
        (
            "count larger than entries",
            payload(2, std::slice::from_ref(&good)),
        ),
        (
            "count i32::MAX",
            payload(i32::MAX, std::slice::from_ref(&good)),
        ),
        (
            "trailing bytes",
            [payload(1, std::slice::from_ref(&good)), vec![0]].concat(),
        ),
        ("value length 2 GiB", payload(1, &[two_gib_value])),
        ("negative value length", payload(1, &[negative_value])),
        ("name longer than the data", payload(1, &[long_name])),
        ("name not UTF-8", payload(1, &[entry(&[0xff, 0xfe], b"v")])),
    ];
    for (what, plaintext) in cases {
        let bytes = seal_plaintext(FormatVersion::V4, &plaintext);
        let (result, largest) =
            largest_allocation_during(|| Keystore::decrypt_read_only(&bytes, &pw("")));
        assert_eq!(class(result), Class::Corrupt, "{what}");
        assert!(largest < 64 * 1024, "{what}: allocated {largest} bytes");
    }

    // Format 3 entries carry a type string; without it the payload is short.
    let bytes = seal_plaintext(FormatVersion::V3, &payload(1, &[entry(b"a", b"v")]));
    assert_eq!(
        class(Keystore::decrypt_read_only(&bytes, &pw(""))),
        Class::Corrupt
    );

    // The same well-formed payload is accepted, so the cases above fail for their defect.
    let bytes = seal_plaintext(FormatVersion::V4, &payload(1, &[good]));
    let ks = Keystore::decrypt_read_only(&bytes, &pw("")).unwrap();
    assert_eq!(ks.get_bytes("a.setting"), Some(&b"value"[..]));
}

#[test]
fn files_that_are_not_keystores_are_named_as_such() {
    let java_keystore = [0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2];
    let mut wrong_codec = fixture("v4_no_password");
    wrong_codec[10] = b'X';
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("text", b"xpack.security.enabled: true\n".to_vec()),
        ("java keystore", java_keystore.to_vec()),
        ("other Lucene codec", wrong_codec),
    ] {
        assert_eq!(
            class(Keystore::decrypt(&bytes, &pw(""))),
            Class::NotAKeystore,
            "{what}"
        );
    }
}

#[test]
fn version_errors_use_elasticsearch_wording_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("elasticsearch.keystore");
    let mut bytes = fixture("v6_seed_only");
    bytes[27..31].copy_from_slice(&7i32.to_be_bytes());
    fs::write(&path, &bytes).unwrap();
    let err = keystore::load(dir.path(), &pw("")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, KeystoreError::VersionTooNew { found: 7, .. }));
    assert!(msg.starts_with(&format!(
        "The Elasticsearch keystore [{}] format is too new. Are you trying to downgrade?",
        path.display()
    )));
    assert!(keystore::read_header(dir.path()).is_err());

    bytes[27..31].copy_from_slice(&2i32.to_be_bytes());
    fs::write(&path, &bytes).unwrap();
    let msg = keystore::load(dir.path(), &pw("")).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "The Elasticsearch keystore [{}] format is too old.",
            path.display()
        )),
        "{msg}"
    );

    let mut bytes = fixture("v6_seed_only");
    bytes[100] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let msg = keystore::read_header(dir.path()).unwrap_err().to_string();
    assert!(
        msg.starts_with("checksum failed (hardware problem?)"),
        "{msg}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");

    let mut bytes = fixture("v6_seed_only");
    bytes[40] ^= 1;
    fix_crc(&mut bytes);
    fs::write(&path, &bytes).unwrap();
    let msg = keystore::load(dir.path(), &pw("")).unwrap_err().to_string();
    assert!(
        msg.starts_with("Provided keystore password was incorrect"),
        "{msg}"
    );

    let mut bytes = fixture("v6_seed_only");
    bytes[31] = 7;
    fix_crc(&mut bytes);
    fs::write(&path, &bytes).unwrap();
    let msg = keystore::read_header(dir.path()).unwrap_err().to_string();
    assert!(
        msg.starts_with("Keystore has been corrupted or tampered with"),
        "{msg}"
    );
    assert!(msg.contains("hasPassword boolean is corrupt: 07"), "{msg}");
}

proptest! {
    #![proptest_config(seed_support::proptest_config("keystore_corruption", 512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Keystore::parse_header(&bytes);
        let _ = Keystore::decrypt_read_only(&bytes, &pw(""));
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut bytes = fixture("v5_no_password")[..format::HEADER_LEN].to_vec();
        bytes.extend_from_slice(&tail);
        if bytes.len() > format::HEADER_LEN + 8 {
            fix_crc(&mut bytes);
        }
        let _ = Keystore::decrypt_read_only(&bytes, &pw(""));
    }

    #[test]
    fn arbitrary_plaintexts_never_panic(plaintext in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = format::parse_entries(FormatVersion::V3, &plaintext);
        let _ = format::parse_entries(FormatVersion::V6, &plaintext);
    }
}

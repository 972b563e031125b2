//! A CI-sized, deterministic fuzz-like run (proptest; failures shrink and persist their seed
//! in `proptest-regressions/`): Elasticsearch-written keystores mutated several bytes at a
//! time (overwrites, bit flips, inserted and deleted runs, 32-bit fields set to extreme
//! values in either byte order), usually with the CRC recomputed so the mutation reaches the
//! structure checks, the key derivation and the GCM tag; and well-formed payloads, mutated,
//! then correctly encrypted so the damage reaches the entry parser behind the tag.
//!
//! Properties: never a panic; every failure is a data error (exit 65); a file that still opens
//! holds exactly the original contents unless its version label changed; and no single
//! allocation is larger than the input plus a small constant, whatever a length field claims.
//! `tests/keystore_corruption.rs` covers single-byte damage exhaustively; this covers
//! combinations. The long coverage-guided campaign is the cargo-fuzz target under `fuzz/`.

mod seed_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;

use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::keystore::crypto::SaveKey;
use msgraph_keystore::keystore::format::{self, FormatVersion, Header};
use msgraph_keystore::keystore::{Keystore, KeystoreError};
use msgraph_keystore::secret::SecretString;
use proptest::prelude::*;
use proptest::sample::Index;
use zeroize::Zeroizing;

/// Records the largest single allocation made by the current thread.
struct TrackingAllocator;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(layout.size())));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(new_size)));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator;

fn largest_allocation_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|m| m.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

/// Allocation headroom independent of the input (key schedules, messages, small buffers).
const SLACK: usize = 64 * 1024;

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Fixtures with 10,000-iteration key derivation (formats 3 to 5), and their passwords.
const FIXTURES: [(&str, &str); 4] = [
    ("v3_no_password", ""),
    ("v4_no_password", ""),
    ("v5_no_password", ""),
    ("v5_password", "v5-Passw0rd"),
];

fn fixture(folder: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/keystores")
            .join(folder)
            .join("elasticsearch.keystore"),
    )
    .unwrap()
}

fn contents(ks: &Keystore) -> BTreeMap<String, Vec<u8>> {
    ks.names()
        .into_iter()
        .map(|n| (n.to_owned(), ks.get_bytes(n).unwrap_or_default().to_vec()))
        .collect()
}

/// Values a hostile 32-bit length or count field likes to hold.
fn extreme_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(-1),
        Just(i32::MAX),
        Just(i32::MIN),
        Just(i32::MAX - 16),
        Just(0x0001_0000),
        any::<i32>(),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Overwrite(Index, u8),
    FlipBits(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    SetI32(Index, i32, bool),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
        (any::<Index>(), 1u8..).prop_map(|(i, m)| Mutation::FlipBits(i, m)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..24))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<Index>(), 1usize..24).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), extreme_i32(), any::<bool>())
            .prop_map(|(i, v, le)| Mutation::SetI32(i, v, le)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        if let Mutation::Insert(_, v) = m {
            bytes.extend_from_slice(v);
        }
        return;
    }
    match m {
        Mutation::Overwrite(i, b) => {
            let at = i.index(bytes.len());
            bytes[at] = *b;
        }
        Mutation::FlipBits(i, mask) => {
            let at = i.index(bytes.len());
            bytes[at] ^= *mask;
        }
        Mutation::Insert(i, v) => {
            let at = i.index(bytes.len() + 1);
            bytes.splice(at..at, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let at = i.index(bytes.len());
            let end = (at + n).min(bytes.len());
            bytes.drain(at..end);
        }
        Mutation::SetI32(i, v, le) => {
            if bytes.len() >= 4 {
                let at = i.index(bytes.len() - 3);
                let raw = if *le {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                bytes[at..at + 4].copy_from_slice(&raw);
            }
        }
        Mutation::Truncate(i) => {
            let at = i.index(bytes.len());
            bytes.truncate(at);
        }
    }
}

/// Rewrite the footer CRC so the mutation reaches the checks behind it.
fn fix_crc(bytes: &mut [u8]) {
    let n = bytes.len();
    if n >= 8 {
        let crc = crc32fast::hash(&bytes[..n - 8]);
        bytes[n - 8..].copy_from_slice(&u64::from(crc).to_be_bytes());
    }
}

fn assert_data_error(e: &KeystoreError) {
    assert_eq!(e.exit_code(), ExitCode::DataError, "{e}");
    let text = e.to_string();
    assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
}

/// A well-formed format-4+ payload holding `entries`.
fn payload(entries: &BTreeMap<String, Vec<u8>>) -> Zeroizing<Vec<u8>> {
    format::write_entries(entries.iter().map(|(n, v)| (n.as_str(), v.as_slice())), 0).unwrap()
}

/// A correctly encrypted password-less keystore around `plaintext`, well-formed or not.
fn seal(version: FormatVersion, plaintext: &[u8]) -> Vec<u8> {
    let key = SaveKey::derive(&pw(""), version.iterations()).unwrap();
    let salt = *key.salt();
    let mut data = Zeroizing::new(Vec::with_capacity(plaintext.len() + format::TAG_LEN));
    data.extend_from_slice(plaintext);
    let (iv, ciphertext) = key.seal(data).unwrap();
    let header = Header {
        version,
        has_password: false,
    };
    format::write_container(header, &salt, &iv, &ciphertext).unwrap()
}

fn entries() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    prop::collection::btree_map(
        "[A-Za-z0-9_.-]{1,24}",
        prop::collection::vec(any::<u8>(), 0..48),
        0..6,
    )
}

#[test]
fn an_entry_count_claiming_billions_reserves_no_more_than_the_payload_size() {
    // count = i32::MAX, one real entry with a 1 MiB value, then a truncated second entry.
    let mut plaintext = i32::MAX.to_be_bytes().to_vec();
    plaintext.extend_from_slice(&7u16.to_be_bytes());
    plaintext.extend_from_slice(b"a.value");
    plaintext.extend_from_slice(&(1i32 << 20).to_be_bytes());
    plaintext.resize(plaintext.len() + (1 << 20), b'x');
    plaintext.extend_from_slice(&[0, 9, b'b']);
    let (result, largest) =
        largest_allocation_during(|| format::parse_entries(FormatVersion::V6, &plaintext));
    assert_data_error(&result.unwrap_err());
    assert!(
        largest <= plaintext.len() + SLACK,
        "allocated {largest} bytes for a {}-byte payload",
        plaintext.len()
    );
}

proptest! {
    #![proptest_config(seed_support::proptest_config("hostile_mutations", 256))]

    #[test]
    fn mutated_fixtures_are_refused_cleanly_or_open_unchanged(
        which in 0..FIXTURES.len(),
        mutations in prop::collection::vec(mutation(), 1..5),
        recompute_crc in prop::bool::weighted(0.85),
    ) {
        let (folder, password) = FIXTURES[which];
        let original = fixture(folder);
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if recompute_crc {
            fix_crc(&mut bytes);
        }
        let (result, largest) = largest_allocation_during(|| {
            let _ = Keystore::parse_header(&bytes);
            Keystore::decrypt_read_only(&bytes, &pw(password))
        });
        prop_assert!(
            largest <= bytes.len() + SLACK,
            "allocated {} bytes for a {}-byte file", largest, bytes.len()
        );
        match result {
            Err(e) => assert_data_error(&e),
            Ok(ks) => {
                let before = Keystore::decrypt_read_only(&original, &pw(password)).unwrap();
                let relabelled = Keystore::parse_header(&bytes).ok().map(|h| h.version)
                    != Keystore::parse_header(&original).ok().map(|h| h.version);
                prop_assert!(
                    contents(&ks) == contents(&before) || relabelled,
                    "a damaged file opened with different contents"
                );
            }
        }
    }

    #[test]
    fn mutated_payloads_never_panic_or_over_allocate_in_the_entry_parser(
        entries in entries(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let mut plaintext = payload(&entries).to_vec();
        for m in &mutations {
            apply(&mut plaintext, m);
        }
        for version in [FormatVersion::V3, FormatVersion::V4, FormatVersion::V6] {
            let (result, largest) =
                largest_allocation_during(|| format::parse_entries(version, &plaintext));
            prop_assert!(largest <= plaintext.len() + SLACK);
            match result {
                Err(e) => assert_data_error(&e),
                Ok(parsed) => {
                    // Whatever parsed used the bytes that were there.
                    let used: usize = parsed.iter().map(|(n, v)| n.len() + v.len()).sum();
                    prop_assert!(used <= plaintext.len());
                }
            }
        }
    }
}

proptest! {
    // Each case derives two keys (10,000 iterations each): fewer cases.
    #![proptest_config(seed_support::proptest_config("hostile_mutations", 48))]

    #[test]
    fn mutated_payloads_behind_a_valid_tag_are_corrupt_or_open(
        entries in entries(),
        mutations in prop::collection::vec(mutation(), 0..4),
        v5 in any::<bool>(),
    ) {
        let version = if v5 { FormatVersion::V5 } else { FormatVersion::V4 };
        let mut plaintext = payload(&entries).to_vec();
        for m in &mutations {
            apply(&mut plaintext, m);
        }
        let bytes = seal(version, &plaintext);
        let (result, largest) =
            largest_allocation_during(|| Keystore::decrypt_read_only(&bytes, &pw("")));
        prop_assert!(largest <= bytes.len() + SLACK);
        match result {
            Err(e) => {
                prop_assert!(matches!(e, KeystoreError::Corrupt { .. }), "{}", e);
                assert_data_error(&e);
            }
            Ok(ks) => {
                if mutations.is_empty() {
                    prop_assert_eq!(contents(&ks), entries);
                }
            }
        }
    }
}

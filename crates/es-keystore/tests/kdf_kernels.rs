//! Every PBKDF2 kernel this crate ships, run against the RustCrypto `pbkdf2` crate.
//!
//! The workspace root builds this crate with `opt-level = 3` in the dev/test profile, so these
//! are the SIMD kernels as users run them. One test per kernel: a kernel the CPU lacks prints
//! "skipped: …" instead of passing without having run.

use es_keystore::kdf::{self, Kernel};
use proptest::prelude::*;

/// Lengths around every boundary of the construction: empty; the 128-byte HMAC key block
/// (longer passwords are hashed first); salt + 4-byte block index filling the first SHA-512
/// block exactly or spilling into a second (107/108, and 111/112 for the whole message
/// tail); the 64-byte digest; and a few well past them, up to 300.
const LENGTHS: &[usize] = &[
    0, 1, 2, 63, 64, 65, 107, 108, 111, 112, 113, 127, 128, 129, 200, 255, 256, 257, 300,
];

fn reference(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations.max(1), &mut out);
    out
}

fn ours(kernel: Kernel, password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    kdf::pbkdf2_with(kernel, password, salt, iterations, &mut out)
        .unwrap_or_else(|e| panic!("{kernel:?}: {e}"));
    out
}

/// Distinct, non-repeating bytes so a kernel mixing up positions cannot match by accident.
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Whether to run `kernel`; prints why not when the CPU lacks it.
fn available(kernel: Kernel, needs: &str) -> bool {
    if kernel.is_supported() {
        println!("running the {kernel:?} kernel");
        true
    } else {
        println!("skipped: CPU lacks {needs} (the {kernel:?} kernel was not tested)");
        false
    }
}

/// The boundary grid: every password length against every salt length, iteration counts
/// and key lengths varying along the grid so all of 1..=64 and counts up to 4,096 occur.
fn grid(kernel: Kernel) {
    let iteration_counts = [1u32, 2, 3, 17, 64, 129, 1000, 4096];
    let mut n = 0usize;
    for (pi, &pw_len) in LENGTHS.iter().enumerate() {
        for (si, &salt_len) in LENGTHS.iter().enumerate() {
            let pw = bytes(pw_len, 0x11);
            let salt = bytes(salt_len, 0x77);
            // Large counts only on a diagonal, to keep the test under a few seconds.
            let it = if (pi + si) % 7 == 0 {
                iteration_counts[(pi + si) % iteration_counts.len()].max(1000)
            } else {
                iteration_counts[(pi * 3 + si) % 6]
            };
            let len = 1 + (pi * LENGTHS.len() + si) % 64;
            assert_eq!(
                ours(kernel, &pw, &salt, it, len),
                reference(&pw, &salt, it, len),
                "{kernel:?} password {pw_len} B, salt {salt_len} B, {it} iterations, {len}-byte key"
            );
            n += 1;
        }
    }
    for len in 1..=64 {
        assert_eq!(
            ours(kernel, b"password", b"salt", 2, len),
            reference(b"password", b"salt", 2, len),
            "{kernel:?} {len}-byte key"
        );
    }
    for it in [0u32, 1, 2, 3, 4, 127, 128, 2048, 4095, 4096] {
        assert_eq!(
            ours(kernel, b"password", b"salt", it, 64),
            reference(b"password", b"salt", it, 64),
            "{kernel:?} {it} iterations"
        );
    }
    println!("{kernel:?}: {n} grid cases, 64 key lengths and 10 iteration counts match");
}

/// Random cases: password and salt 0–300 bytes, 1–3,000 iterations, keys of 1–64 bytes.
fn random(kernel: Kernel) {
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        pw in proptest::collection::vec(any::<u8>(), 0..=300),
        salt in proptest::collection::vec(any::<u8>(), 0..=300),
        it in 1u32..=3000,
        len in 1usize..=64,
    )| {
        prop_assert_eq!(ours(kernel, &pw, &salt, it, len), reference(&pw, &salt, it, len));
    });
}

fn kernel_test(kernel: Kernel, needs: &str) {
    if available(kernel, needs) {
        grid(kernel);
        random(kernel);
    }
}

#[test]
fn portable_kernel_matches_rustcrypto() {
    kernel_test(Kernel::Portable, "nothing");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_kernel_matches_rustcrypto() {
    kernel_test(Kernel::Avx2, "avx2/bmi1/bmi2");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_kernel_matches_rustcrypto() {
    kernel_test(Kernel::Avx512, "avx512f/avx512vl (or avx2/bmi1/bmi2)");
}

#[test]
fn every_compiled_kernel_has_a_test_above() {
    // A kernel added to `Kernel::ALL` without a test here would ship untested.
    let tested: &[Kernel] = &[
        Kernel::Portable,
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2,
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512,
    ];
    assert_eq!(Kernel::ALL, tested);
}

#[test]
fn the_build_under_test_is_optimized() {
    // The kernels users run are optimized builds (their intrinsics must be inlined); a test
    // of an unoptimized build would prove less. The workspace root sets the override for the
    // dev/test profile; this catches its removal.
    let level = env!("ES_KEYSTORE_OPT_LEVEL");
    let start = std::time::Instant::now();
    std::hint::black_box(kdf::pbkdf2_hmac_sha512::<16>(b"", &[0x5a; 64], 210_000));
    println!(
        "opt-level {level}; 210,000 iterations on {:?}: {:?}",
        Kernel::detect(),
        start.elapsed()
    );
    assert_eq!(
        level, "3",
        "es-keystore is built at opt-level {level}: keep `[profile.dev.package.es-keystore] \
         opt-level = 3` in the workspace Cargo.toml so the tests run the kernels users run"
    );
}

//! The keystore's key derivation alone: one format-6 derivation (PBKDF2-HMAC-SHA512,
//! 210,000 iterations, 16-byte key, 64-byte salt, empty password) on each kernel this CPU
//! has, on the kernel `detect` picks, and on the RustCrypto `pbkdf2` crate for comparison.
//! The whole-command figures are `cargo bench --bench keystore` at the workspace root; see
//! docs/performance.md.
//!
//! `cargo bench -p es-keystore --bench kdf` (builds only this crate, in the bench profile).

use std::time::{Duration, Instant};

use es_keystore::kdf::{self, Kernel};

const ITERATIONS: u32 = 210_000;
const RUNS: usize = 15;

fn time_runs(mut f: impl FnMut()) -> (Duration, Duration) {
    f(); // warm-up
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[0], times[RUNS / 2])
}

fn report(name: &str, (min, median): (Duration, Duration)) {
    println!(
        "{name:<44} min {:>7.1} ms   median {:>7.1} ms",
        min.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3
    );
}

fn main() {
    let salt = [0x5au8; 64];
    println!("{RUNS} runs each of PBKDF2-HMAC-SHA512, {ITERATIONS} iterations, 16-byte key");
    for kernel in Kernel::ALL.iter().copied() {
        if !kernel.is_supported() {
            println!("pbkdf2 kernel {kernel:?}: skipped, this CPU lacks its features");
            continue;
        }
        report(
            &format!("kernel {kernel:?}"),
            time_runs(|| {
                let mut out = [0u8; 16];
                kdf::pbkdf2_with(kernel, b"", &salt, ITERATIONS, &mut out)
                    .expect("a supported kernel and a 16-byte key");
                std::hint::black_box(out);
            }),
        );
    }
    report(
        &format!("pbkdf2_hmac_sha512::<16> (detects {:?})", Kernel::detect()),
        time_runs(|| {
            std::hint::black_box(kdf::pbkdf2_hmac_sha512::<16>(b"", &salt, ITERATIONS));
        }),
    );
    report(
        "RustCrypto pbkdf2_hmac::<Sha512>",
        time_runs(|| {
            let mut out = [0u8; 16];
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(b"", &salt, ITERATIONS, &mut out);
            std::hint::black_box(out);
        }),
    );
}

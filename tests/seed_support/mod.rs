//! One seed and one "long run" switch for every randomized test, so CI is deterministic and a
//! failure anywhere replays with the same two variables (see CONTRIBUTING.md):
//!
//! * `MSGRAPH_KEYSTORE_TEST_SEED=<u64>` — the seed of every seeded generator (the soak's
//!   plans, the SIGKILL delays, every proptest run). Unset, CI's fixed [`CI_SEED`] is used.
//!   Set it to explore other sequences; each test prints the seed it used.
//! * `MSGRAPH_KEYSTORE_LONG_TESTS=1` — the long variants: more soak runs, more kills, ten
//!   times the proptest cases. Unset, every randomized test runs its CI size.
//!
//! A value that does not parse stops the test with a message naming the variable, rather than
//! silently running some other seed.

#![allow(dead_code)]

use proptest::test_runner::{Config as ProptestConfig, RngSeed};

/// The variable that replaces the fixed seed.
pub const SEED_VAR: &str = "MSGRAPH_KEYSTORE_TEST_SEED";
/// The variable that selects the long variants (any value but empty or `0`).
pub const LONG_VAR: &str = "MSGRAPH_KEYSTORE_LONG_TESTS";
/// The seed CI runs when [`SEED_VAR`] is unset.
pub const CI_SEED: u64 = 20261126;

/// The seed for this run, printed with `test`'s name so a failure's output says how to replay.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var(SEED_VAR) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            panic!("{SEED_VAR}={v:?} is not a whole number (0 to 2^64-1); unset it for CI's seed")
        }),
        Err(_) => CI_SEED,
    };
    eprintln!(
        "{test}: {SEED_VAR}={seed}{}",
        if long() { " (long run)" } else { "" }
    );
    seed
}

/// Whether the long variants were asked for.
pub fn long() -> bool {
    std::env::var(LONG_VAR).is_ok_and(|v| !v.trim().is_empty() && v.trim() != "0")
}

/// `ci` normally, `long` when the long variants were asked for.
pub fn size<T>(ci: T, long_size: T) -> T {
    if long() {
        long_size
    } else {
        ci
    }
}

/// A proptest configuration with `cases` cases (ten times as many in a long run) drawn from
/// the shared seed. Failures still shrink and persist in `proptest-regressions/`, which run
/// first whatever the seed.
pub fn proptest_config(test: &str, cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: size(cases, cases.saturating_mul(10)),
        rng_seed: RngSeed::Fixed(seed(test)),
        ..ProptestConfig::default()
    }
}

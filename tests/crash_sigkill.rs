//! The real binary, SIGKILLed at random moments: `keystore add -f -x counter payload` runs
//! again and again on one keystore, each run killed after a random delay drawn over the time
//! a whole run takes. After every kill the keystore loads and holds exactly the old or exactly
//! the new contents (the counter and a payload derived from it always agree), and every run
//! that completes leaves no temp file behind, whatever an earlier killed run left.
//!
//! Seeded like every randomized test (`tests/seed_support`): CI's fixed seed unless
//! `MSGRAPH_KEYSTORE_TEST_SEED` says otherwise, printed at the start and in every failure.
//! CI size: 50 kills; `MSGRAPH_KEYSTORE_LONG_TESTS=1` makes it 1,000, and `CRASH_KILLS=N` sets
//! any other number (the runs that finish before their kill come on top). The seed fixes the
//! delays, not the machine's speed: where in a save a given delay lands still depends on load,
//! which is why the checks hold for any landing point. Format-4 keystores (10,000 PBKDF2
//! iterations) keep a run to a few tens of milliseconds.

use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use msgraph_keystore::keystore::{self, FormatVersion, Keystore};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod seed_support;

const TEMP: &str = "elasticsearch.keystore.tmp";
/// No run may take longer than this, killed or not.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// The payload stored with counter `n`: long enough that a torn write would have to span it.
fn payload(n: u64) -> String {
    format!("payload-{n}-").repeat(200)
}

fn spawn_add(dir: &Path, n: u64) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"))
        .args([
            "keystore", "add", "-f", "-x", "counter", "payload", "--config",
        ])
        .arg(dir)
        .env_remove("KEYSTORE_PASSWORD")
        .env_remove("KEYSTORE_PASSWORD_FILE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A child killed before it reads its stdin makes this write fail; that is expected.
    let _ = stdin.write_all(format!("{n}\n{}\n", payload(n)).as_bytes());
    drop(stdin);
    child
}

/// The counter the keystore holds, after checking that its payload matches (a mix of two
/// saves, or a keystore that does not load, fails the test).
fn counter(dir: &Path, context: &str) -> u64 {
    let ks = keystore::load_read_only(dir, &SecretString::from(String::new()))
        .unwrap_or_else(|e| panic!("{context}: the keystore does not load: {e}"));
    let n: u64 = ks
        .get_string("counter")
        .unwrap()
        .unwrap()
        .expose_secret()
        .parse()
        .unwrap();
    let stored = ks.get_string("payload").unwrap().unwrap();
    assert!(
        stored.expose_secret() == payload(n),
        "{context}: the payload does not belong to counter {n}"
    );
    n
}

fn wait_bounded(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < RUN_LIMIT,
            "a run took longer than {RUN_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_mixed_or_unreadable_keystore() {
    let seed = seed_support::seed("crash_sigkill");
    let kills: u64 = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| seed_support::size(50, 1000));
    eprintln!("crash_sigkill: CRASH_KILLS={kills}");
    let mut rng = StdRng::seed_from_u64(seed);

    let config = tempfile::tempdir().unwrap();
    let dir = config.path();
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    ks.set_string("counter", "0").unwrap();
    ks.set_string("payload", &payload(0)).unwrap();
    keystore::save(dir, &ks).unwrap();

    // How long one undisturbed run takes here, so kills land anywhere in a run. The machine's
    // load changes while the suite runs, so the estimate follows the runs that completed.
    let mut durations = std::collections::VecDeque::new();
    for n in 1..=3 {
        let start = Instant::now();
        let mut child = spawn_add(dir, n);
        assert!(wait_bounded(&mut child).success());
        durations.push_back(start.elapsed());
        assert_eq!(counter(dir, "calibration"), n);
    }
    let typical = |durations: &std::collections::VecDeque<Duration>| {
        let mut sorted: Vec<Duration> = durations.iter().copied().collect();
        sorted.sort();
        sorted[sorted.len() / 2]
    };

    // Delays are drawn over `stretch` times a typical run. The estimate comes from completed
    // runs only, and where a delay lands depends on the machine's speed at that moment (a
    // cold cache, other work): a fixed window can put every kill before the rename, or let
    // most runs complete. So the window steers itself towards a mix: each kill that saved
    // nothing widens it a little, each completed run narrows it more, which settles at
    // roughly one completed run in four (they prove a completed save cleans up after killed
    // ones) whatever the machine does. The seed fixes the draws.
    let mut stretch: f64 = 1.0;
    let started = Instant::now();
    let mut current = 3;
    let (mut killed_old, mut killed_new, mut completed, mut stale_temps) = (0, 0, 0, 0);
    let mut run = 0;
    while killed_old + killed_new < kills {
        run += 1;
        assert!(
            run <= kills * 4,
            "{} {seed}: fewer than a quarter of the runs were killed",
            seed_support::SEED_VAR
        );
        let next = current + 1;
        let context = format!("{} {seed}, run {run}", seed_support::SEED_VAR);
        let typical_us = typical(&durations).as_micros() as f64;
        let window_us = (typical_us * stretch) as u64;
        let spawned = Instant::now();
        let mut child = spawn_add(dir, next);
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..=window_us)));
        // SIGKILL; an error only means the run already ended by itself.
        let _ = child.kill();
        let status = wait_bounded(&mut child);
        let found = counter(dir, &context);
        if status.signal() == Some(libc::SIGKILL) {
            assert!(
                found == current || found == next,
                "{context}: counter {found}, expected {current} or {next}"
            );
            if found == next {
                killed_new += 1;
            } else {
                killed_old += 1;
            }
            if dir.join(TEMP).exists() {
                stale_temps += 1;
            }
        } else {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
            }
            assert!(status.success(), "{context}: {status}: {stderr}");
            assert_eq!(found, next, "{context}");
            assert!(
                !dir.join(TEMP).exists(),
                "{context}: a completed save left a temp file"
            );
            completed += 1;
            durations.push_back(spawned.elapsed());
            if durations.len() > 9 {
                durations.pop_front();
            }
        }
        if status.signal() != Some(libc::SIGKILL) {
            stretch = (stretch / 1.15).max(0.25);
        } else if found == current {
            stretch = (stretch * 1.05).min(4.0);
        }
        current = found;
    }
    eprintln!(
        "crash_sigkill: {run} runs in {:?} (a run takes ~{:?}, window at the end {stretch:.2}x): killed before the rename {killed_old}, \
         killed after it {killed_new}, completed {completed}, stale temp files left by a kill {stale_temps}",
        started.elapsed(),
        typical(&durations)
    );
    assert!(
        killed_old + killed_new > 0,
        "no run was killed: the window is wrong"
    );
    assert!(
        current > 3,
        "no run saved anything: the window is too short to test anything"
    );

    // Whatever the last kill left, the next save cleans up.
    let mut child = spawn_add(dir, current + 1);
    assert!(wait_bounded(&mut child).success());
    assert_eq!(counter(dir, "final run"), current + 1);
    let names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["elasticsearch.keystore"]);
}

//! `cargo bench --bench keystore`: keystore `add` and `list` against one OpenSSL
//! PBKDF2-HMAC-SHA512 derivation of 210,000 iterations (the cost of opening a format-6
//! keystore once), in one run.
//!
//! - OpenSSL baseline: `python3` + `hashlib.pbkdf2_hmac('sha512', …, 210000, 16)`, timed
//!   inside Python so interpreter start-up is excluded.
//! - `add`: in process, on an existing password-less v6 keystore: `keystore::load` +
//!   `set_string` + `keystore::save` (what `keystore add -f` does after parsing arguments).
//! - `list`: in process, `keystore::load_read_only` + `names()`.
//! - The PBKDF2 kernels alone, and the RustCrypto `pbkdf2` crate for comparison.
//!
//! The keystore lives on tmpfs (`/dev/shm`) when available so file I/O does not show in the
//! figures. Each figure is the minimum and the median of several runs (the minimum is the
//! least disturbed by other load on the machine). Goals: add ≤ 0.85×, list ≤ 0.8× OpenSSL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use msgraph_keystore::keystore::kdf::{self, Kernel};
use msgraph_keystore::keystore::{self, FormatVersion, Keystore};
use msgraph_keystore::secret::SecretString;

const RUNS: usize = 15;
const ITERATIONS: u32 = 210_000;

const OPENSSL_SCRIPT: &str = r#"
import hashlib, os, sys, time
salt = os.urandom(64)
for _ in range(int(sys.argv[1])):
    start = time.perf_counter()
    hashlib.pbkdf2_hmac("sha512", b"", salt, 210000, 16)
    print(time.perf_counter() - start)
"#;

#[derive(Clone, Copy)]
struct Stats {
    min: Duration,
    median: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Stats {
        samples.sort_unstable();
        Stats {
            min: samples[0],
            median: samples[samples.len() / 2],
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn time_runs(mut f: impl FnMut()) -> Stats {
    f(); // warm-up: page faults, CPU frequency ramp, lazy feature detection
    Stats::of(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn openssl_baseline() -> Result<(Stats, String), String> {
    let version = Command::new("python3")
        .args(["-c", "import ssl; print(ssl.OPENSSL_VERSION)"])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    let out = Command::new("python3")
        .args(["-c", OPENSSL_SCRIPT, &RUNS.to_string()])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let samples = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse::<f64>().map(Duration::from_secs_f64))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("unexpected python3 output: {e}"))?;
    if samples.is_empty() {
        return Err("python3 printed no timings".into());
    }
    Ok((
        Stats::of(samples),
        String::from_utf8_lossy(&version.stdout).trim().to_owned(),
    ))
}

fn bench_dir() -> (tempfile::TempDir, &'static str) {
    let shm = Path::new("/dev/shm");
    if let Ok(dir) = tempfile::tempdir_in(shm) {
        return (dir, "tmpfs (/dev/shm)");
    }
    (
        tempfile::tempdir().expect("temp dir"),
        "the default temp directory",
    )
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let empty = SecretString::from(String::new());
    let (dir, where_) = bench_dir();
    let config: PathBuf = dir.path().to_path_buf();

    let mut ks = Keystore::new(FormatVersion::V6).expect("new keystore");
    ks.set_string(
        "xpack.security.authc.realms.microsoft_graph.graph1.client_secret",
        "Rw48Q~fT3.kLp9_Zx2-Nv7~Qa5bHj8cUe1DmG4sYo6iK",
    )
    .expect("set");
    keystore::save(&config, &ks).expect("save");

    println!("keystore benchmark: {RUNS} runs each, min / median, keystore on {where_}");
    println!(
        "cpu: {} ({} logical CPUs available)",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("pbkdf2 kernel selected: {:?}", Kernel::detect());
    println!();

    let openssl_before = openssl_baseline();

    let mut counter = 0u64;
    let add = time_runs(|| {
        counter += 1;
        let mut ks = keystore::load(&config, &empty).expect("load");
        ks.set_string("bench.setting", &format!("value-{counter}"))
            .expect("set");
        keystore::save(&config, &ks).expect("save");
    });
    let list = time_runs(|| {
        let ks = keystore::load_read_only(&config, &empty).expect("load");
        assert!(ks.names().len() >= 2);
    });
    let list_with_save_key = time_runs(|| {
        let ks = keystore::load(&config, &empty).expect("load");
        assert!(ks.names().len() >= 2);
    });

    let salt = [0x5au8; 64];
    for k in Kernel::ALL.iter().filter(|k| !k.is_supported()) {
        println!("pbkdf2 kernel {k:?}: skipped, this CPU lacks its features");
    }
    let kernel_stats: Vec<(String, Stats)> = Kernel::ALL
        .iter()
        .copied()
        .filter(|k| k.is_supported())
        .map(|k| {
            let s = time_runs(|| {
                let mut out = [0u8; 16];
                kdf::pbkdf2_with(k, b"", &salt, ITERATIONS, &mut out)
                    .expect("a supported kernel and a 16-byte key");
                std::hint::black_box(out);
            });
            (format!("pbkdf2 kernel {k:?}"), s)
        })
        .collect();
    let rustcrypto = time_runs(|| {
        let mut out = [0u8; 16];
        pbkdf2::pbkdf2_hmac::<sha2::Sha512>(b"", &salt, ITERATIONS, &mut out);
        std::hint::black_box(out);
    });

    let openssl_after = openssl_baseline();

    let baseline = match (&openssl_before, &openssl_after) {
        (Ok((a, version)), Ok((b, _))) => {
            // Both passes, pooled: the smaller minimum and the mean of the medians.
            let stats = Stats {
                min: a.min.min(b.min),
                median: (a.median + b.median) / 2,
            };
            println!(
                "{:<44} {:>8.1} / {:>6.1} ms   (before {:.1}, after {:.1}; {version})",
                "OpenSSL PBKDF2-SHA512 210k (python3 hashlib)",
                ms(stats.min),
                ms(stats.median),
                ms(a.min),
                ms(b.min)
            );
            Some(stats)
        }
        (Err(e), _) | (_, Err(e)) => {
            println!("OpenSSL baseline unavailable: {e}; ratios are not computed");
            None
        }
    };

    let mut rows = vec![
        (
            "keystore add (load + set_string + save)".to_owned(),
            add,
            Some(0.85),
        ),
        (
            "keystore list (load_read_only + names)".to_owned(),
            list,
            Some(0.80),
        ),
        (
            "list via load (pre-derives a save key)".to_owned(),
            list_with_save_key,
            None,
        ),
    ];
    rows.extend(kernel_stats.into_iter().map(|(n, s)| (n, s, None)));
    rows.push((
        "RustCrypto pbkdf2::pbkdf2_hmac<Sha512>".to_owned(),
        rustcrypto,
        None,
    ));

    for (name, stats, goal) in rows {
        let ratio = baseline
            .map(|b| {
                format!(
                    "  ratio {:.2}x (median {:.2}x){}",
                    ms(stats.min) / ms(b.min),
                    ms(stats.median) / ms(b.median),
                    goal.map(|g| format!("  goal <= {g:.2}x"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        println!(
            "{:<44} {:>8.1} / {:>6.1} ms{ratio}",
            name,
            ms(stats.min),
            ms(stats.median)
        );
    }
}

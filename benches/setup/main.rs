//! `cargo bench --bench setup`: the provisioning and setup figures of issue 5 item 7, in one
//! run, against the in-process fake tenant (never the network).
//!
//! 1. `setup` into an empty config dir and then again, with 50 ms added to every answer of
//!    the fake tenant (token endpoint and Graph): sequential round trips (the dependency
//!    depth of the request timeline, seen by the recording proxy in `trace_proxy.rs`),
//!    requests, and wall time against depth × 50 ms. The same runs without latency show
//!    what is local work (process start, key derivation, file writes).
//! 2. `setup` into 100 config dirs at once, against 100 × one PBKDF2-SHA512-210k derivation
//!    / cores (each new keystore is encrypted under its own salt); and, in process, the
//!    100 keystore encryptions one after the other versus spread over the cores.
//! 3. Peak memory (`ru_maxrss` of the child, from `wait4`) of `keystore list` on a
//!    1,000-entry and on a 1 MiB-entry keystore, against the same binary's `--version`.
//!
//! Every command is the release binary, run as a user would run it. Figures are the
//! minimum and the median of several runs (the minimum is the least disturbed by other
//! load on the machine).

mod trace_proxy;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_tenant::{FakeTenant, FakeTenantConfig, Faults};
use msgraph_keystore::fsutil::PreparedFile;
use msgraph_keystore::keystore::{self, kdf, FormatVersion, Keystore};
use msgraph_keystore::secret::ExposeSecret;
use trace_proxy::{sequential_depth, TraceProxy};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const BIN: &str = env!("CARGO_BIN_EXE_msgraph-keystore");
const LATENCY: Duration = Duration::from_millis(50);
const ROUND_TRIP_RUNS: usize = 5;
const MANY_DIRS: usize = 100;
const MANY_DIR_RUNS: usize = 3;
const MEMORY_RUNS: usize = 3;
const REALM: &str = "microsoft_graph1";

/// Set (to anything) when this benchmark re-runs itself as the small parent of a measured
/// command; see [`max_rss_of`].
const PROBE_ENV: &str = "MSGRAPH_KEYSTORE_BENCH_RSS_PROBE";

fn main() {
    if std::env::var_os(PROBE_ENV).is_some() {
        std::process::exit(match probe() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("rss probe: {e}");
                1
            }
        });
    }
    // `cargo bench` passes `--bench` (and maybe a filter): accepted and ignored.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("setup benchmark failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Res<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("setup benchmark: release binary {BIN}");
    println!("cpu: {} ({cores} logical CPUs available)", cpu_model());
    println!("load average before: {}", load_average());
    println!();
    round_trips().await?;
    many_dirs(cores).await?;
    memory()?;
    println!("load average after: {}", load_average());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 1. Sequential round trips at 50 ms per answer

struct SetupRun {
    wall: Duration,
    depth: usize,
    requests: usize,
}

async fn round_trips() -> Res<()> {
    println!(
        "1. setup, fake tenant answering after {} ms (token endpoint and Graph); {ROUND_TRIP_RUNS} runs each",
        LATENCY.as_millis()
    );
    let mut table: Vec<(String, Duration, Vec<SetupRun>)> = Vec::new();
    for latency in [LATENCY, Duration::ZERO] {
        let (mut first, mut again) = (Vec::new(), Vec::new());
        for _ in 0..ROUND_TRIP_RUNS {
            let tenant = start_tenant(latency).await?;
            let proxy = TraceProxy::start(&tenant.access_token_host()).await?;
            let scratch = scratch_dir()?;
            let dir = scratch.path().join("config");
            std::fs::create_dir(&dir)?;
            first.push(setup_through(&tenant, &proxy, std::slice::from_ref(&dir)).await?);
            again.push(setup_through(&tenant, &proxy, &[dir]).await?);
        }
        let label = format!("{} ms", latency.as_millis());
        table.push((format!("first setup, {label}"), latency, first));
        table.push((format!("re-run, {label}"), latency, again));
    }
    for (name, latency, runs) in &table {
        let requests = runs.iter().map(|r| r.requests).max().unwrap_or(0);
        let wall = Stats::of(runs.iter().map(|r| r.wall).collect());
        // Without latency, answers come too fast for the timeline to show what waited.
        let depth = match latency.is_zero() {
            true => "  -".to_string(),
            false => format!("{:>3}", runs.iter().map(|r| r.depth).max().unwrap_or(0)),
        };
        println!(
            "   {name:<22} {depth} sequential round trips, {requests:>2} requests, wall {:>6.0} / {:>6.0} ms",
            ms(wall.min),
            ms(wall.median)
        );
    }
    // Network share: the difference to the same run without latency, in units of 50 ms.
    for (i, what) in [(0, "first setup"), (1, "re-run")] {
        let (with, without) = (&table[i].2, &table[i + 2].2);
        let depth = with.iter().map(|r| r.depth).max().unwrap_or(0);
        let wall = Stats::of(with.iter().map(|r| r.wall).collect());
        let local = Stats::of(without.iter().map(|r| r.wall).collect());
        let budget = LATENCY * depth as u32;
        println!(
            "   {what:<22} wall / (depth × 50 ms) = {:.2}x (median {:.2}x); (wall − wall at 0 ms) / 50 ms = {:.1} round trips (goal ≤ 8)",
            ms(wall.min) / ms(budget),
            ms(wall.median) / ms(budget),
            (ms(wall.median) - ms(local.median)) / ms(LATENCY)
        );
    }
    println!();
    Ok(())
}

async fn start_tenant(latency: Duration) -> Res<FakeTenant> {
    Ok(FakeTenant::start(FakeTenantConfig {
        faults: Faults {
            latency,
            ..Faults::default()
        },
        tenant_id: None,
    })
    .await?)
}

/// Run `setup --config DIR…` as the tenant's admin, through `proxy`.
async fn setup_through(tenant: &FakeTenant, proxy: &TraceProxy, dirs: &[PathBuf]) -> Res<SetupRun> {
    let admin = tenant.admin();
    let mut cmd = Command::new(BIN);
    cmd.arg("setup");
    for dir in dirs {
        cmd.arg("--config").arg(dir);
    }
    cmd.args([
        "--realm",
        REALM,
        "--auth",
        "client-secret",
        "--access-token-host",
        proxy.origin(),
        "--graph-host",
        &format!("{}/v1.0", proxy.origin()),
    ])
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("NO_COLOR", "1")
    .env("AZURE_TENANT_ID", &admin.tenant_id)
    .env("AZURE_CLIENT_ID", &admin.client_id)
    .env("AZURE_CLIENT_SECRET", admin.client_secret.expose_secret())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    let wall = started.elapsed();
    if !out.status.success() {
        return Err(format!(
            "setup failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let spans = proxy.take();
    Ok(SetupRun {
        wall,
        depth: sequential_depth(&spans),
        requests: spans.len(),
    })
}

// ---------------------------------------------------------------------------------------
// 2. 100 config dirs at once

async fn many_dirs(cores: usize) -> Res<()> {
    println!("2. setup into {MANY_DIRS} empty config dirs at once (no injected latency); {MANY_DIR_RUNS} runs");
    let derivation = time_runs(7, || {
        std::hint::black_box(kdf::pbkdf2_hmac_sha512::<16>(b"", &[0x5a; 64], 210_000));
    });
    // How much of the cores this run actually gets (other work on the machine shows here):
    // `cores` derivations on `cores` threads against one alone.
    let together = time_runs(3, || {
        std::thread::scope(|scope| {
            for _ in 0..cores {
                scope.spawn(|| {
                    std::hint::black_box(kdf::pbkdf2_hmac_sha512::<16>(b"", &[0x5a; 64], 210_000));
                });
            }
        })
    });
    let usable_cores = cores as f64 * ms(derivation.min) / ms(together.min);
    let mut walls = Vec::new();
    let mut one_dir = Vec::new();
    for _ in 0..MANY_DIR_RUNS {
        let tenant = start_tenant(Duration::ZERO).await?;
        let proxy = TraceProxy::start(&tenant.access_token_host()).await?;
        let scratch = scratch_dir()?;
        let dirs = make_dirs(scratch.path(), MANY_DIRS)?;
        walls.push(setup_through(&tenant, &proxy, &dirs).await?.wall);
        let single = make_dirs(&scratch.path().join("single"), 1)?;
        let tenant = start_tenant(Duration::ZERO).await?;
        let proxy = TraceProxy::start(&tenant.access_token_host()).await?;
        one_dir.push(setup_through(&tenant, &proxy, &single).await?.wall);
    }
    let wall = Stats::of(walls);
    let single = Stats::of(one_dir);
    let ideal = derivation.min * MANY_DIRS as u32 / cores as u32;
    println!(
        "   one PBKDF2-SHA512-210k derivation        {:>8.1} / {:>6.1} ms",
        ms(derivation.min),
        ms(derivation.median)
    );
    println!(
        "   {cores} derivations on {cores} threads              {:>8.1} / {:>6.1} ms   = {usable_cores:.2} cores' worth of work at once",
        ms(together.min),
        ms(together.median)
    );
    println!(
        "   setup, 1 dir                             {:>8.0} / {:>6.0} ms",
        ms(single.min),
        ms(single.median)
    );
    println!(
        "   setup, {MANY_DIRS} dirs                           {:>8.0} / {:>6.0} ms   = {:.2}x (median {:.2}x) of {MANY_DIRS} derivations / {cores} cores ({:.0} ms)",
        ms(wall.min),
        ms(wall.median),
        ms(wall.min) / ms(ideal),
        ms(wall.median) / ms(ideal),
        ms(ideal)
    );

    // In process: what the all-or-none commit spends encrypting the keystores, serially as
    // `commit_all` does now, and spread over the cores.
    let scratch = scratch_dir()?;
    let dirs = make_dirs(scratch.path(), MANY_DIRS)?;
    let serial = time_runs(MANY_DIR_RUNS, || {
        let prepared: Vec<_> = dirs.iter().map(|d| prepare_new_keystore(d)).collect();
        std::hint::black_box(prepared);
    });
    let parallel = time_runs(MANY_DIR_RUNS, || {
        let prepared = std::thread::scope(|scope| {
            let chunk = dirs.len().div_ceil(cores);
            let workers: Vec<_> = dirs
                .chunks(chunk.max(1))
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|d| prepare_new_keystore(d))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .filter_map(|w| w.join().ok())
                .flatten()
                .collect::<Vec<_>>()
        });
        std::hint::black_box(prepared);
    });
    println!(
        "   {MANY_DIRS} keystore encryptions, serially          {:>8.0} / {:>6.0} ms   = {:.2}x of {MANY_DIRS} derivations / {cores} cores",
        ms(serial.min),
        ms(serial.median),
        ms(serial.min) / ms(ideal)
    );
    println!(
        "   {MANY_DIRS} keystore encryptions, {cores} threads        {:>8.0} / {:>6.0} ms   = {:.2}x of {MANY_DIRS} derivations / {cores} cores",
        ms(parallel.min),
        ms(parallel.median),
        ms(parallel.min) / ms(ideal)
    );
    println!();
    Ok(())
}

/// A new keystore holding a realm secret, encrypted and written to its temp file (removed
/// again when the result is dropped), as `setup`'s commit prepares it.
fn prepare_new_keystore(dir: &Path) -> Option<PreparedFile> {
    let mut ks = Keystore::new(FormatVersion::V6).ok()?;
    ks.set_string(
        "xpack.security.authc.realms.microsoft_graph.microsoft_graph1.client_secret",
        "Rw48Q~fT3.kLp9_Zx2-Nv7~Qa5bHj8cUe1DmG4sYo6iK",
    )
    .ok()?;
    keystore::prepare_save(dir, &ks).ok()
}

fn make_dirs(parent: &Path, n: usize) -> Res<Vec<PathBuf>> {
    (0..n)
        .map(|i| {
            let dir = parent.join(format!("node{i:03}"));
            std::fs::create_dir_all(&dir)?;
            Ok(dir)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 3. Peak memory of `keystore list`

fn memory() -> Res<()> {
    println!("3. peak memory (max RSS of the child) of `keystore list`; max of {MEMORY_RUNS} runs");
    let scratch = scratch_dir()?;
    let (baseline, floor) = max_rss_of(&["--version"], None)?;
    println!(
        "   msgraph-keystore --version               {:>8.1} MiB   (the measuring parent itself: {:.1} MiB)",
        mib(baseline),
        mib(floor)
    );

    let many = scratch.path().join("entries-1000");
    std::fs::create_dir(&many)?;
    let mut ks = Keystore::new(FormatVersion::V6)?;
    for i in 0..1000 {
        ks.set_string(
            &format!("bench.setting.number_{i:04}"),
            &format!("value-{i:04}-Rw48Q~fT3.kLp9_Zx2-Nv7~Qa5bHj8cUe1DmG4sYo6iK"),
        )?;
    }
    keystore::save(&many, &ks)?;

    let seed_only = scratch.path().join("seed-only");
    std::fs::create_dir(&seed_only)?;
    keystore::save(&seed_only, &Keystore::new(FormatVersion::V6)?)?;

    let big = scratch.path().join("entry-1mib");
    std::fs::create_dir(&big)?;
    let mut ks = Keystore::new(FormatVersion::V6)?;
    let value: String = (0..1024 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    ks.set_string("bench.large_value", &value)?;
    keystore::save(&big, &ks)?;

    for (name, dir, entries) in [
        ("keystore.seed only", &seed_only, 1),
        ("1,000 entries", &many, 1001),
        ("one 1 MiB entry", &big, 2),
    ] {
        let size = std::fs::metadata(keystore::keystore_path(dir))?.len();
        let (peak, _) = max_rss_of(&["keystore", "list", "--config"], Some((dir, entries)))?;
        let goal = 2 * size + 10 * 1024 * 1024;
        let above = peak.saturating_sub(baseline);
        let verdict = |v: u64| if v < goal { "met" } else { "NOT met" };
        println!(
            "   keystore list, {name:<18} file {:>7.3} MiB   peak {:>5.1} MiB ({:+.1} over --version)   goal < 2 × file + 10 MiB = {:.1} MiB: peak {}, peak over --version {}",
            mib(size),
            mib(peak),
            mib(above),
            mib(goal),
            verdict(peak),
            verdict(above)
        );
    }
    println!();
    Ok(())
}

/// The largest peak RSS (bytes) of `BIN args [dir]` over the runs; with `list`, checks that
/// it printed `entries` names.
///
/// Linux carries a process's peak RSS across `execve` (`ru_maxrss` keeps the old address
/// space's high-water mark), and a child started with `posix_spawn`/`vfork` execs from its
/// parent's address space: measured straight from this benchmark, every command would
/// weigh at least as much as the benchmark itself. So the benchmark starts a fresh copy of
/// itself ([`PROBE_ENV`]), a few MiB before it does anything, which starts the command and
/// reports its `ru_maxrss` from `wait4`, and its own `VmHWM` as the floor of what can be
/// told.
fn max_rss_of(args: &[&str], list: Option<(&PathBuf, usize)>) -> Res<(u64, u64)> {
    let (mut peak, mut floor) = (0u64, 0u64);
    for _ in 0..MEMORY_RUNS {
        let out_dir = scratch_dir()?;
        let out_path = out_dir.path().join("stdout");
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(PROBE_ENV, "1")
            .arg(&out_path)
            .arg(BIN)
            .args(args);
        if let Some((dir, _)) = list {
            cmd.arg(dir);
        }
        let out = cmd.output()?;
        let report = String::from_utf8_lossy(&out.stdout);
        let numbers: Vec<u64> = report
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        let [status, rss, probe_rss] = numbers[..] else {
            return Err(format!(
                "rss probe for `{}` failed: {report} {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        };
        if status != 0 {
            return Err(format!("`{}` exited with {status}", args.join(" ")).into());
        }
        if let Some((_, entries)) = list {
            let printed = std::fs::read_to_string(&out_path)?.lines().count();
            if printed != entries {
                return Err(format!("list printed {printed} names, expected {entries}").into());
            }
        }
        peak = peak.max(rss);
        floor = floor.max(probe_rss);
    }
    Ok((peak, floor))
}

/// Probe mode: `<this> STDOUT_FILE COMMAND ARGS…` runs the command with its output in
/// STDOUT_FILE and prints `exit-status child-peak-rss own-vmhwm` (bytes).
fn probe() -> Res<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(out_path), Some(program)) = (args.next(), args.next()) else {
        return Err("usage: STDOUT_FILE COMMAND [ARGS…]".into());
    };
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(out_path)?)
        .stderr(Stdio::null())
        .spawn()?;
    let (status, rss) = wait_with_rusage(child.id())?;
    // The probe's own address space at its peak (`VmHWM`: unlike `ru_maxrss`, not inherited
    // across exec), the most the command can have started with.
    let status_file = std::fs::read_to_string("/proc/self/status")?;
    let own_kib: u64 = status_file
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    println!("{status} {rss} {}", own_kib * 1024);
    Ok(())
}

/// Reap `pid` and return its exit status and peak RSS in bytes.
fn wait_with_rusage(pid: u32) -> Res<(i32, u64)> {
    let pid = libc::pid_t::try_from(pid)?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child; both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped != pid {
        return Err(std::io::Error::last_os_error().into());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // Linux reports ru_maxrss in KiB.
    Ok((code, u64::try_from(usage.ru_maxrss)? * 1024))
}

// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Stats {
    min: Duration,
    median: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Stats {
        samples.sort_unstable();
        Stats {
            min: samples.first().copied().unwrap_or_default(),
            median: samples.get(samples.len() / 2).copied().unwrap_or_default(),
        }
    }
}

fn time_runs(runs: usize, mut f: impl FnMut()) -> Stats {
    f(); // warm-up
    Stats::of(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A scratch directory on tmpfs when there is one, so disk I/O does not show.
fn scratch_dir() -> Res<tempfile::TempDir> {
    match tempfile::tempdir_in("/dev/shm") {
        Ok(d) => Ok(d),
        Err(_) => Ok(tempfile::tempdir()?),
    }
}

/// `/proc/loadavg`'s 1-, 5- and 15-minute figures: other work on the machine shows in
/// every timing, most in the multi-core ones.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
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

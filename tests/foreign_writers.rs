//! Writers that do not take our lock lose nothing (issue 8, item 2).
//!
//! Elasticsearch's `elasticsearch-keystore`, Ansible and people change the keystore and
//! `elasticsearch.yml` without this tool's lock. Here a foreign writer changes one of them at
//! a random moment of a `setup` (slowed by fake-tenant latency) or of a `keystore add`:
//!
//! - `KeystoreRename`: adds a setting to the keystore the way Elasticsearch does (decrypt,
//!   encrypt, temp file, rename);
//! - `YmlRename`: adds a line to `elasticsearch.yml` and renames a temp file over it
//!   (Ansible's `lineinfile`, most editors);
//! - `YmlAppend`: appends a line in place (`echo … >> elasticsearch.yml`).
//!
//! Every race must end with the foreign setting in the file (0 foreign settings lost) and,
//! when the command exits 0, with the command's own settings there too (0 own settings lost);
//! the only other accepted outcome is a clean error (exit 75, one line naming the file).
//!
//! The foreign writer checks, just before its rename, that the file is still what it read
//! (and starts over if not), and swaps its file in with `RENAME_EXCHANGE` so it learns what it
//! displaced: a race in which the foreign writer itself wrote over this tool's file (its own
//! check-then-rename window) is reported apart, because it measures the foreign writer, not
//! this tool.
//!
//! A rename writer prepares its new bytes first (a slow tool reads and encrypts before it
//! writes), then lands them at a random moment drawn over the measured length of a run.
//!
//! CI size: 40 `setup` races and 60 `keystore add` races, with a fixed seed printed at the
//! start (`FOREIGN_WRITER_SEED` changes it); `FOREIGN_WRITER_RACES=N` runs N of each (the
//! long run in docs/reliability.md).

mod setup_support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_tenant::Faults;
use msgraph_keystore::keystore::{self, FormatVersion, Keystore};
use msgraph_keystore::secret::SecretString;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use setup_support::*;

const YML: &str = "elasticsearch.yml";
/// CI size: 40 `setup` races and 60 `keystore add` races.
const DEFAULT_SETUP_RACES: usize = 40;
const DEFAULT_ADD_RACES: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    KeystoreRename,
    YmlRename,
    YmlAppend,
}

/// `FOREIGN_WRITER_RACES` races per command when set, else `default`.
fn races(default: usize) -> usize {
    std::env::var("FOREIGN_WRITER_RACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rng(test: &str) -> StdRng {
    let seed = std::env::var("FOREIGN_WRITER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_0008_u64);
    eprintln!("{test}: FOREIGN_WRITER_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

fn empty() -> SecretString {
    SecretString::from(String::new())
}

/// The foreign setting of race `n`, as the writer adds it.
fn foreign_key(writer: Writer, n: usize) -> String {
    match writer {
        Writer::KeystoreRename => format!("s3.client.race{n}.access_key"),
        Writer::YmlRename | Writer::YmlAppend => format!("foreign.race{n}"),
    }
}

/// The new bytes of a file for the foreign change of race `n`, from its current bytes.
fn changed_bytes(writer: Writer, n: usize, old: &[u8]) -> Vec<u8> {
    let key = foreign_key(writer, n);
    match writer {
        Writer::KeystoreRename => {
            let mut ks = Keystore::decrypt_read_only(old, &empty()).unwrap();
            ks.set_string(&key, "AKIA-foreign").unwrap();
            ks.encrypt().unwrap()
        }
        Writer::YmlRename | Writer::YmlAppend => {
            let mut text = old.to_vec();
            text.extend_from_slice(format!("{key}: by-rename\n").as_bytes());
            text
        }
    }
}

fn target(dir: &Path, writer: Writer) -> PathBuf {
    match writer {
        Writer::KeystoreRename => keystore::keystore_path(dir),
        Writer::YmlRename | Writer::YmlAppend => dir.join(YML),
    }
}

/// A foreign rename prepared in advance from the file as it was then (as a slow tool reads
/// and encrypts first), so that it can land at any moment, also inside this tool's short
/// read-to-rename window.
struct ForeignRename {
    path: PathBuf,
    before: Vec<u8>,
    after: Vec<u8>,
}

fn prepare_foreign(dir: &Path, writer: Writer, n: usize) -> Option<ForeignRename> {
    if writer == Writer::YmlAppend {
        return None;
    }
    let path = target(dir, writer);
    let before = fs::read(&path).unwrap();
    let after = changed_bytes(writer, n, &before);
    Some(ForeignRename {
        path,
        before,
        after,
    })
}

/// Make the foreign change of race `n` in `dir` now. A rename writer behaves like a careful
/// tool: if the file is no longer what it read, it reads it again and starts over. Returns
/// whether the foreign writer itself wrote over a change it had not seen (its own
/// check-then-rename window): it swaps its file in with `RENAME_EXCHANGE`, so it learns what
/// it displaced. Such a race says nothing about this tool and is counted apart.
fn foreign_write(dir: &Path, writer: Writer, n: usize, prepared: Option<ForeignRename>) -> bool {
    let Some(mut p) = prepared else {
        // One write(2) with O_APPEND: the line lands whole at the end of the file.
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(dir.join(YML))
            .unwrap();
        f.write_all(format!("{}: appended\n", foreign_key(writer, n)).as_bytes())
            .unwrap();
        return false;
    };
    let temp = dir.join("foreign-writer.tmp");
    loop {
        fs::write(&temp, &p.after).unwrap();
        if fs::read(&p.path).unwrap() == p.before {
            exchange(&temp, &p.path);
            let displaced = fs::read(&temp).unwrap();
            fs::remove_file(&temp).unwrap();
            return displaced != p.before;
        }
        p.before = fs::read(&p.path).unwrap();
        p.after = changed_bytes(writer, n, &p.before);
    }
}

/// `renameat2(a, b, RENAME_EXCHANGE)`: atomically swap two names.
fn exchange(a: &Path, b: &Path) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes()).unwrap();
    let b = CString::new(b.as_os_str().as_bytes()).unwrap();
    // SAFETY: both are valid NUL-terminated paths for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
}

/// Whether the foreign setting of race `n` is in `dir`.
fn foreign_kept(dir: &Path, writer: Writer, n: usize) -> bool {
    let key = foreign_key(writer, n);
    match writer {
        Writer::KeystoreRename => keystore::load_read_only(dir, &empty())
            .unwrap()
            .contains(&key),
        Writer::YmlRename | Writer::YmlAppend => msgraph_keystore::esconfig::EsYml::load(dir)
            .unwrap()
            .get(&key)
            .is_some(),
    }
}

/// A config dir as a package install leaves it, with a keystore and a yml.
fn config_dir(root: &Path, name: &str, version: FormatVersion) -> PathBuf {
    let dir = root.join(name);
    fs::create_dir_all(&dir).unwrap();
    let mut ks = Keystore::new(version).unwrap();
    ks.set_string("bootstrap.password", "kept").unwrap();
    keystore::save(&dir, &ks).unwrap();
    fs::write(dir.join(YML), "cluster.name: race\n").unwrap();
    dir
}

/// What the races found.
#[derive(Debug, Default)]
struct Tally {
    races: usize,
    ok: usize,
    clean_errors: usize,
    /// Runs that saw the foreign change only at commit time and made their change again.
    reapplied: usize,
    foreign_lost: usize,
    own_lost: usize,
    /// Races in which the foreign writer wrote over a change it had not seen (its own window).
    foreign_window: usize,
}

impl Tally {
    fn report(&self, what: &str, started: Instant) {
        eprintln!(
            "{what}: {} races in {:.1} s: {} ok, {} clean errors, {} re-applied on top of a foreign change, {} foreign settings lost, {} own settings lost, {} in which the foreign writer overwrote a change it had not seen (not counted)",
            self.races,
            started.elapsed().as_secs_f64(),
            self.ok,
            self.clean_errors,
            self.reapplied,
            self.foreign_lost,
            self.own_lost,
            self.foreign_window
        );
        assert_eq!(
            self.foreign_lost, 0,
            "{what}: foreign settings lost: {self:?}"
        );
        assert_eq!(self.own_lost, 0, "{what}: own settings lost: {self:?}");
        assert_eq!(self.ok + self.clean_errors, self.races, "{self:?}");
    }
}

const WRITERS: [Writer; 3] = [Writer::KeystoreRename, Writer::YmlRename, Writer::YmlAppend];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_keeps_every_foreign_change_made_while_it_waits_on_graph() {
    let mut rng = rng("setup_keeps_every_foreign_change");
    let faults = Faults {
        latency: Duration::from_millis(8),
        ..Faults::default()
    };
    // How long one run takes here, to spread the foreign writes over all of it.
    let calibrate = Harness::with_faults(faults.clone()).await;
    let dir = config_dir(calibrate.scratch.path(), "calibrate", FormatVersion::V4);
    let t0 = Instant::now();
    calibrate.setup(&[&dir], &["--no-verify"]).await.assert_ok();
    let span = t0.elapsed();
    eprintln!("one setup takes {} ms", span.as_millis());

    let started = Instant::now();
    let mut tally = Tally::default();
    for n in 0..races(DEFAULT_SETUP_RACES) {
        let writer = WRITERS[n % WRITERS.len()];
        let delay = span.mul_f64(rng.gen_range(0.0..1.1));
        let h = Harness::with_faults(faults.clone()).await;
        let dir = config_dir(h.scratch.path(), "config", FormatVersion::V4);
        let prepared = prepare_foreign(&dir, writer, n);
        let foreign_dir = dir.clone();
        let foreign = tokio::task::spawn_blocking(move || {
            std::thread::sleep(delay);
            foreign_write(&foreign_dir, writer, n, prepared)
        });
        let out = h.setup(&[&dir], &["-v", "--no-verify"]).await;
        let clobbered = foreign.await.unwrap();
        if clobbered {
            tally.foreign_window += 1;
        }
        tally.races += 1;
        if out.stderr.contains("changed by another program") {
            tally.reapplied += 1;
        }
        if !foreign_kept(&dir, writer, n) {
            eprintln!(
                "race {n} ({writer:?}, after {delay:?}): the foreign setting is gone\n{}",
                out.all()
            );
            tally.foreign_lost += 1;
        }
        match out.code {
            0 => {
                tally.ok += 1;
                let app = h.the_app();
                let ks = keystore::load_read_only(&dir, &empty()).unwrap();
                let own = yml_value(&dir, REALM, "client_id").as_deref() == Some(&app.app_id)
                    && ks.contains(&secret_key(REALM))
                    && ks.contains("bootstrap.password")
                    && app.password_credentials.len() == 1;
                if !own && !clobbered {
                    eprintln!(
                        "race {n} ({writer:?}, after {delay:?}): own settings lost\n{}",
                        out.all()
                    );
                    tally.own_lost += 1;
                }
            }
            75 => {
                assert!(out.stderr.contains(YML) || out.stderr.contains("elasticsearch.keystore"));
                tally.clean_errors += 1;
            }
            code => panic!("race {n} ({writer:?}): exit {code}\n{}", out.all()),
        }
    }
    tally.report("setup", started);
}

fn keystore_add(dir: &Path, name: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"))
        .args(["-v", "keystore", "add", "-x", "-f", name, "--config"])
        .arg(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"own-value\n")
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn keystore_add_keeps_every_foreign_keystore_change() {
    let mut rng = rng("keystore_add_keeps_every_foreign_keystore_change");
    let root = tempfile::tempdir().unwrap();
    let dir = config_dir(root.path(), "calibrate", FormatVersion::V4);
    let t0 = Instant::now();
    assert!(keystore_add(&dir, "calibrate").status.success());
    let span = t0.elapsed();
    eprintln!("one keystore add takes {} ms", span.as_millis());

    let started = Instant::now();
    let mut tally = Tally::default();
    for n in 0..races(DEFAULT_ADD_RACES) {
        let dir = config_dir(root.path(), &format!("add{n}"), FormatVersion::V4);
        let delay = span.mul_f64(rng.gen_range(0.0..1.1));
        let prepared = prepare_foreign(&dir, Writer::KeystoreRename, n);
        let foreign_dir = dir.clone();
        let foreign = std::thread::spawn(move || {
            std::thread::sleep(delay);
            foreign_write(&foreign_dir, Writer::KeystoreRename, n, prepared)
        });
        let own = format!("own.race{n}");
        let out = keystore_add(&dir, &own);
        let clobbered = foreign.join().unwrap();
        if clobbered {
            tally.foreign_window += 1;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        tally.races += 1;
        if stderr.contains("changed by another program") {
            tally.reapplied += 1;
        }
        let ks = keystore::load_read_only(&dir, &empty()).unwrap();
        if !ks.contains(&foreign_key(Writer::KeystoreRename, n)) {
            eprintln!("race {n} (after {delay:?}): the foreign setting is gone\n{stderr}");
            tally.foreign_lost += 1;
        }
        match out.status.code() {
            Some(0) => {
                tally.ok += 1;
                let own_kept = ks.get_bytes(&own) == Some(&b"own-value"[..])
                    && ks.contains("bootstrap.password");
                if !own_kept && !clobbered {
                    eprintln!("race {n} (after {delay:?}): own setting lost\n{stderr}");
                    tally.own_lost += 1;
                }
            }
            Some(75) => {
                assert!(stderr.contains("elasticsearch.keystore"), "{stderr}");
                tally.clean_errors += 1;
            }
            code => panic!("race {n}: exit {code:?}\n{stderr}"),
        }
        fs::remove_dir_all(&dir).unwrap();
    }
    tally.report("keystore add", started);
}

//! Many processes on one keystore at once (the real binary): writers adding different
//! settings lose no update, readers loading it meanwhile never see anything but a whole,
//! valid file, concurrent creation of a missing keystore keeps every setting, and `setup`
//! racing `keystore add` on the same directory keeps both.

mod setup_support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use msgraph_keystore::keystore::{self, FormatVersion, Keystore};
use msgraph_keystore::secret::{ExposeSecret, SecretString};
use setup_support::{realm_secret, secret_key, yml_value, Harness, REALM};

const PASSWORD: &str = "concurrent-Passw0rd";
const WRITERS: usize = 6;
const ADDS_PER_WRITER: usize = 3;
/// A run waits at most this long for the lock (60 s) plus its own work.
const RUN_LIMIT: Duration = Duration::from_secs(90);

fn keystore_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"));
    cmd.arg("keystore")
        .args(args)
        .arg("--config")
        .arg(dir)
        .env_remove("KEYSTORE_PASSWORD_FILE")
        .env_remove("ES_PATH_CONF")
        .env_remove("RUST_LOG")
        .env("KEYSTORE_PASSWORD", PASSWORD);
    cmd
}

/// Run `cmd` with `stdin`, killing it if it outlives [`RUN_LIMIT`].
fn run(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("a run took longer than {RUN_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn value(writer: usize, n: usize) -> String {
    format!("value of writer {writer} number {n}")
}

fn name(writer: usize, n: usize) -> String {
    format!("writer{writer}.setting{n}")
}

fn pw() -> SecretString {
    SecretString::from(PASSWORD.to_owned())
}

/// The names a loaded keystore holds, or the load error.
fn names(dir: &Path) -> Result<BTreeSet<String>, String> {
    keystore::load_read_only(dir, &pw())
        .map(|ks| ks.names().into_iter().map(str::to_owned).collect())
        .map_err(|e| e.to_string())
}

fn only_the_keystore_is_left(dir: &Path) {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["elasticsearch.keystore"], "leftover files");
}

#[test]
fn concurrent_writers_lose_no_update_and_readers_always_see_a_whole_keystore() {
    let config = tempfile::tempdir().unwrap();
    let dir: PathBuf = config.path().to_path_buf();
    // Format 5 with a password: 10,000 iterations per derivation keeps the many runs fast.
    let mut ks = Keystore::new(FormatVersion::V5).unwrap();
    ks.set_password(pw());
    keystore::save(&dir, &ks).unwrap();

    let writing = Arc::new(AtomicBool::new(true));
    // Reader 1: the library, as fast as it can. Only adds happen, so every load must hold at
    // least what the previous one held.
    let library_reader = {
        let dir = dir.clone();
        let writing = Arc::clone(&writing);
        thread::spawn(move || {
            let mut loads = 0usize;
            let mut seen = BTreeSet::new();
            while writing.load(Ordering::SeqCst) {
                let now = names(&dir).unwrap_or_else(|e| panic!("a reader saw: {e}"));
                assert!(
                    now.is_superset(&seen),
                    "a setting disappeared: {seen:?} -> {now:?}"
                );
                seen = now;
                loads += 1;
            }
            loads
        })
    };
    // Reader 2: the real binary's `list`.
    let cli_reader = {
        let dir = dir.clone();
        let writing = Arc::clone(&writing);
        thread::spawn(move || {
            let mut lists = 0usize;
            while writing.load(Ordering::SeqCst) {
                let out = run(keystore_cmd(&dir, &["list"]), "");
                assert_success(&out, "keystore list during the writes");
                lists += 1;
            }
            lists
        })
    };

    let value_files = Arc::new(tempfile::tempdir().unwrap());
    let start = Arc::new(std::sync::Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let dir = dir.clone();
            let start = Arc::clone(&start);
            let value_files = Arc::clone(&value_files);
            thread::spawn(move || {
                start.wait();
                for n in 0..ADDS_PER_WRITER {
                    let out = if w % 2 == 0 {
                        run(
                            keystore_cmd(&dir, &["add", "-x", "-f", &name(w, n)]),
                            &format!("{}\n", value(w, n)),
                        )
                    } else {
                        // Half the writers use add-file, which takes the same lock.
                        let file = value_files.path().join(format!("value-{w}-{n}"));
                        std::fs::write(&file, value(w, n)).unwrap();
                        let path = file.to_str().unwrap().to_owned();
                        run(
                            keystore_cmd(&dir, &["add-file", "-f", &name(w, n), &path]),
                            "",
                        )
                    };
                    assert_success(&out, &format!("writer {w}, add {n}"));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    writing.store(false, Ordering::SeqCst);
    let loads = library_reader.join().unwrap();
    let lists = cli_reader.join().unwrap();
    eprintln!("concurrency: {loads} library loads and {lists} `list` runs during the writes");
    assert!(loads > 0 && lists > 0);

    let ks = keystore::load_read_only(&dir, &pw()).unwrap();
    assert_eq!(
        ks.version(),
        FormatVersion::V5,
        "the format version was kept"
    );
    for w in 0..WRITERS {
        for n in 0..ADDS_PER_WRITER {
            assert_eq!(
                ks.get_bytes(&name(w, n)),
                Some(value(w, n).as_bytes()),
                "{} was lost",
                name(w, n)
            );
        }
    }
    assert_eq!(ks.len(), WRITERS * ADDS_PER_WRITER + 1, "{ks:?}");
    only_the_keystore_is_left(&dir);
}

#[test]
fn concurrent_adds_to_a_missing_keystore_create_it_once_and_keep_every_setting() {
    let config = tempfile::tempdir().unwrap();
    let dir: PathBuf = config.path().to_path_buf();
    let start = Arc::new(std::sync::Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let dir = dir.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let mut cmd = keystore_cmd(&dir, &["add", "-x", "-f", &name(w, 0)]);
                // A new keystore has no password.
                cmd.env_remove("KEYSTORE_PASSWORD");
                let out = run(cmd, &format!("{}\n", value(w, 0)));
                assert_success(&out, &format!("writer {w}"));
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let ks = keystore::load_read_only(&dir, &SecretString::from(String::new())).unwrap();
    for w in 0..WRITERS {
        assert_eq!(ks.get_bytes(&name(w, 0)), Some(value(w, 0).as_bytes()));
    }
    // One creation: one seed, the other runs added to the keystore the first one made.
    assert!(ks.contains(keystore::SEED_SETTING));
    assert_eq!(ks.len(), WRITERS + 1);
    only_the_keystore_is_left(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_and_keystore_add_on_the_same_directory_keep_both_changes() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    ks.set_string("existing.setting", "kept").unwrap();
    keystore::save(&dir, &ks).unwrap();

    // Adds start before, during and after setup's own read-modify-write of the keystore.
    let adders: Vec<_> = [0u64, 40, 120, 300, 700]
        .into_iter()
        .enumerate()
        .map(|(i, delay)| {
            let dir = dir.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(delay));
                let mut cmd = keystore_cmd(&dir, &["add", "-x", "-f", &name(i, 0)]);
                cmd.env_remove("KEYSTORE_PASSWORD");
                let out = run(cmd, &format!("{}\n", value(i, 0)));
                assert_success(&out, &format!("keystore add {i} next to setup"));
            })
        })
        .collect();
    let setup = h.setup(&[&dir], &[]).await;
    for a in adders {
        a.join().unwrap();
    }
    setup.assert_ok();

    let ks = keystore::load_read_only(&dir, &SecretString::from(String::new())).unwrap();
    assert_eq!(ks.version(), FormatVersion::V4);
    assert_eq!(
        ks.get_string("existing.setting")
            .unwrap()
            .unwrap()
            .expose_secret(),
        "kept"
    );
    for i in 0..5 {
        assert_eq!(
            ks.get_bytes(&name(i, 0)),
            Some(value(i, 0).as_bytes()),
            "add {i} lost"
        );
    }
    assert!(ks.contains(&secret_key(REALM)), "setup's secret was lost");
    let client_id = yml_value(&dir, REALM, "client_id").expect("client_id in the yml");
    h.assert_accepted(&client_id, &realm_secret(&dir, "")).await;
}

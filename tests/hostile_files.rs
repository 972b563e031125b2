//! Hostile things where `elasticsearch.keystore` or `elasticsearch.yml` should be: a symbolic
//! link (dangling or not), a FIFO, a directory, an empty file, a huge sparse file, length
//! fields claiming 2 GiB, an unreadable file, a yml that is not UTF-8. For each, the real
//! binary gives one `ERROR: …, with exit code N` line naming the file, the documented exit
//! code (docs/reliability.md, "Hostile files"), returns promptly (every run has a deadline, so
//! a blocking open of a FIFO fails the test instead of hanging it) and changes nothing on disk.

mod setup_support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use msgraph_keystore::keystore::{self, FormatVersion, Keystore};
use msgraph_keystore::secret::SecretString;
use setup_support::Harness;

const KEYSTORE: &str = "elasticsearch.keystore";
const YML: &str = "elasticsearch.yml";
/// Far more than any of these runs needs; a hang ends here.
const DEADLINE: Duration = Duration::from_secs(20);
mod other_user;

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// Everything about a directory tree a run could change: per path, its type, mode, owner,
/// link target and contents (sparse giants by size only).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let ft = meta.file_type();
            let what = if ft.is_symlink() {
                format!("link -> {}", fs::read_link(&path).unwrap().display())
            } else if ft.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else if ft.is_file() && meta.len() <= 1 << 20 {
                format!("file {:?}", fs::read(&path).unwrap())
            } else {
                format!("{ft:?} of {} bytes", meta.len())
            };
            out.insert(
                path,
                format!("{what} mode {:o} uid {}", meta.mode(), meta.uid()),
            );
        }
    }
    out
}

/// The binary with a clean environment, as `uid` when given.
fn binary(args: &[&str], uid: Option<u32>) -> Command {
    let exe = Path::new(env!("CARGO_BIN_EXE_msgraph-keystore"));
    let mut cmd = match uid {
        // Another user must be able to reach the executable; a copy is kept for the whole
        // test run (leaked on purpose: the process is short-lived and the copy is in /tmp).
        Some(_) => Command::new(exe_for_others(exe)),
        None => Command::new(exe),
    };
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1");
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    cmd
}

/// The executable's path for another user, copying it once if needed.
fn exe_for_others(exe: &Path) -> PathBuf {
    static COPY: std::sync::OnceLock<(PathBuf, Option<tempfile::TempDir>)> =
        std::sync::OnceLock::new();
    COPY.get_or_init(|| other_user::executable_for_others(exe))
        .0
        .clone()
}

/// Run with `stdin`, failing the test if the run outlives [`DEADLINE`].
fn run(mut cmd: Command, stdin: &str) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A run that fails before reading stdin closes it; that is fine.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {DEADLINE:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    (child.wait_with_output().unwrap(), start.elapsed())
}

/// The run failed with exactly one error line, naming `file`, containing `text`, with `code`.
#[track_caller]
fn assert_error(out: &Output, code: i32, file: &Path, text: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("ERROR: "), "{line}");
    assert!(
        line.ends_with(&format!(", with exit code {code}")),
        "{line}"
    );
    assert!(
        line.contains(&file.display().to_string()),
        "the file is not named: {line}"
    );
    assert!(line.contains(text), "{text:?} missing from: {line}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A config directory with a valid password-less v4 keystore holding one setting.
fn valid_keystore_in(dir: &Path) {
    let mut ks = Keystore::new(FormatVersion::V4).unwrap();
    ks.set_string("existing.setting", "value").unwrap();
    keystore::save(dir, &ks).unwrap();
}

/// `keystore list` and `keystore add -f -x` on `dir`: both must fail as described, and
/// leave the tree under `root` as it was.
#[track_caller]
fn both_refuse(root: &Path, dir: &Path, code: i32, file: &Path, text: &str) {
    let before = snapshot(root);
    let config = dir.to_str().unwrap();
    let (out, _) = run(binary(&["keystore", "list", "--config", config], None), "");
    assert_error(&out, code, file, text);
    let (out, _) = run(
        binary(
            &[
                "keystore",
                "add",
                "-f",
                "-x",
                "new.setting",
                "--config",
                config,
            ],
            None,
        ),
        "new value\n",
    );
    assert_error(&out, code, file, text);
    assert_eq!(snapshot(root), before, "something changed on disk");
}

#[test]
fn a_symlinked_keystore_is_read_through_but_never_replaced() {
    let root = tempfile::tempdir().unwrap();
    let elsewhere = root.path().join("volume");
    let config = root.path().join("config");
    fs::create_dir(&elsewhere).unwrap();
    fs::create_dir(&config).unwrap();
    valid_keystore_in(&elsewhere);
    let target = elsewhere.join(KEYSTORE);
    let link = config.join(KEYSTORE);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let before = snapshot(root.path());
    let dir = config.to_str().unwrap();

    let (out, _) = run(binary(&["keystore", "list", "--config", dir], None), "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("existing.setting"));

    for args in [
        vec![
            "keystore",
            "add",
            "-f",
            "-x",
            "new.setting",
            "--config",
            dir,
        ],
        vec!["keystore", "remove", "existing.setting", "--config", dir],
        vec!["keystore", "upgrade", "--config", dir],
    ] {
        let (out, _) = run(binary(&args, None), "new value\n");
        assert_error(&out, 78, &link, "is a symbolic link to");
        let line = String::from_utf8_lossy(&out.stderr);
        assert!(line.contains(&target.display().to_string()), "{line}");
    }
    assert_eq!(
        snapshot(root.path()),
        before,
        "the link or its target changed"
    );

    // A dangling link reads as no keystore; creating one through it is refused too.
    fs::remove_file(&target).unwrap();
    let before = snapshot(root.path());
    let (out, _) = run(binary(&["keystore", "list", "--config", dir], None), "");
    assert_error(&out, 65, &link, "not found");
    let (out, _) = run(
        binary(
            &[
                "keystore",
                "add",
                "-f",
                "-x",
                "new.setting",
                "--config",
                dir,
            ],
            None,
        ),
        "new value\n",
    );
    assert_error(&out, 78, &link, "is a symbolic link to");
    assert_eq!(snapshot(root.path()), before);
}

#[test]
fn a_symlinked_config_directory_is_followed_like_elasticsearch_does() {
    let root = tempfile::tempdir().unwrap();
    let real = root.path().join("real-config");
    fs::create_dir(&real).unwrap();
    valid_keystore_in(&real);
    let link = root.path().join("config");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let (out, _) = run(
        binary(
            &[
                "keystore",
                "add",
                "-f",
                "-x",
                "new.setting",
                "--config",
                link.to_str().unwrap(),
            ],
            None,
        ),
        "new value\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ks = keystore::load_read_only(&real, &SecretString::from(String::new())).unwrap();
    assert!(ks.contains("new.setting"));
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_fifo_directory_empty_or_huge_keystore_is_refused_promptly_and_nothing_changes() {
    let root = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let dir = root.path().join(name);
        fs::create_dir(&dir).unwrap();
        (dir.clone(), dir.join(KEYSTORE))
    };

    // Nobody ever writes to this FIFO: a blocking open would wait forever.
    let (dir, path) = make("fifo");
    mkfifo(&path);
    both_refuse(
        root.path(),
        &dir,
        74,
        &path,
        "it is a named pipe (FIFO), not a regular file",
    );

    let (dir, path) = make("directory");
    fs::create_dir(&path).unwrap();
    both_refuse(
        root.path(),
        &dir,
        74,
        &path,
        "it is a directory, not a regular file",
    );

    // A device behind a symbolic link: the link is followed, the device is not opened.
    let (dir, path) = make("device");
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    both_refuse(
        root.path(),
        &dir,
        74,
        &path,
        "it is a device, not a regular file",
    );

    let (dir, path) = make("empty");
    fs::write(&path, b"").unwrap();
    both_refuse(root.path(), &dir, 65, &path, "");

    // Sparse: 3 GiB claimed, nothing stored. Refused from its size, without reading it.
    let (dir, path) = make("sparse");
    fs::File::create(&path).unwrap().set_len(3 << 30).unwrap();
    let before = snapshot(root.path());
    let (out, took) = run(
        binary(
            &["keystore", "list", "--config", dir.to_str().unwrap()],
            None,
        ),
        "",
    );
    assert_error(&out, 65, &path, "larger than any keystore");
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: the file was read"
    );
    assert_eq!(snapshot(root.path()), before);
    both_refuse(root.path(), &dir, 65, &path, "3221225472 bytes");

    // Just over the limit is refused the same way; the limit itself is documented.
    let (dir, path) = make("over-limit");
    fs::File::create(&path)
        .unwrap()
        .set_len(keystore::file::MAX_FILE_LEN + 1)
        .unwrap();
    both_refuse(root.path(), &dir, 65, &path, "larger than any keystore");
}

#[test]
fn length_fields_claiming_two_gibibytes_are_a_data_error_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keystores/v5_no_password");
    let original = fs::read(fixture.join(KEYSTORE)).unwrap();
    // data_len, salt_len, iv_len, enc_len (little-endian in format 5), each claiming i32::MAX.
    for offset in [32usize, 36, 104, 120] {
        let dir = root.path().join(format!("offset-{offset}"));
        fs::create_dir(&dir).unwrap();
        let mut bytes = original.clone();
        bytes[offset..offset + 4].copy_from_slice(&i32::MAX.to_le_bytes());
        let n = bytes.len();
        let crc = crc32fast::hash(&bytes[..n - 8]);
        bytes[n - 8..].copy_from_slice(&u64::from(crc).to_be_bytes());
        fs::write(dir.join(KEYSTORE), &bytes).unwrap();
        both_refuse(
            root.path(),
            &dir,
            65,
            &dir.join(KEYSTORE),
            "Keystore has been corrupted or tampered with",
        );
    }
}

/// Make `path` unreadable for the user the binary runs as: as root (which reads anything),
/// the binary runs as `nobody` and the file belongs to root with mode 0600; otherwise the
/// file gets mode 0000. Returns the uid to run as.
fn unreadable(root: &Path, path: &Path) -> Option<u32> {
    if is_root() {
        // nobody must reach the file: the directories on the way are world-searchable.
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
        for dir in path.ancestors().skip(1).take_while(|d| d.starts_with(root)) {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
        Some(NOBODY)
    } else {
        fs::set_permissions(path, fs::Permissions::from_mode(0o000)).unwrap();
        None
    }
}

#[test]
fn an_unreadable_keystore_or_yml_is_an_io_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("config");
    fs::create_dir(&dir).unwrap();
    valid_keystore_in(&dir);
    fs::write(dir.join(YML), "cluster.name: test\n").unwrap();
    let ks_path = dir.join(KEYSTORE);
    let yml_path = dir.join(YML);
    let uid = unreadable(root.path(), &ks_path);
    unreadable(root.path(), &yml_path);
    if uid.is_some() {
        eprintln!("running the binary as nobody (uid {NOBODY}): root reads any file");
    }
    let before = snapshot(root.path());
    let config = dir.to_str().unwrap();
    let (out, _) = run(binary(&["keystore", "list", "--config", config], uid), "");
    assert_error(&out, 74, &ks_path, "Permission denied");
    let (out, _) = run(
        binary(
            &[
                "keystore",
                "add",
                "-f",
                "-x",
                "new.setting",
                "--config",
                config,
            ],
            uid,
        ),
        "value\n",
    );
    assert_error(&out, 74, &ks_path, "Permission denied");
    let (out, _) = run(
        binary(&["verify", "--config", config, "--realm", "graph1"], uid),
        "",
    );
    assert_error(&out, 74, &yml_path, "Permission denied");
    assert_eq!(snapshot(root.path()), before);
}

#[test]
fn a_hostile_yml_is_refused_promptly_with_its_name_and_nothing_changes() {
    let root = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let dir = root.path().join(name);
        fs::create_dir(&dir).unwrap();
        (dir.clone(), dir.join(YML))
    };
    let verify = |dir: &Path| {
        run(
            binary(
                &[
                    "verify",
                    "--config",
                    dir.to_str().unwrap(),
                    "--realm",
                    "graph1",
                ],
                None,
            ),
            "",
        )
    };
    let mut cases: Vec<(PathBuf, PathBuf, i32, &str)> = Vec::new();

    let (dir, path) = make("fifo");
    mkfifo(&path);
    cases.push((
        dir,
        path,
        74,
        "it is a named pipe (FIFO), not a regular file",
    ));

    let (dir, path) = make("directory");
    fs::create_dir(&path).unwrap();
    cases.push((dir, path, 74, "it is a directory, not a regular file"));

    let (dir, path) = make("sparse");
    fs::File::create(&path).unwrap().set_len(3 << 30).unwrap();
    cases.push((
        dir,
        path,
        74,
        "3221225472 bytes, more than the 16777216 bytes",
    ));

    let (dir, path) = make("latin1");
    fs::write(&path, b"cluster.name: caf\xe9\nnode.name: n1\n").unwrap();
    cases.push((dir, path, 65, "(line 1): the file is not UTF-8 text"));

    let (dir, path) = make("binary");
    fs::write(&path, [0u8, 159, 146, 150, 0xff, 0xfe, b'\n']).unwrap();
    cases.push((dir, path, 65, "the file is not UTF-8 text"));

    for (dir, path, code, text) in cases {
        let before = snapshot(root.path());
        let (out, took) = verify(&dir);
        assert_error(&out, code, &path, text);
        assert!(
            took < Duration::from_secs(5),
            "{}: took {took:?}",
            path.display()
        );
        assert_eq!(snapshot(root.path()), before, "{}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_reads_a_symlinked_yml_but_refuses_to_replace_it() {
    let h = Harness::start().await;
    let dir = h.dir("config");
    let shared = h.dir("shared");
    let target = shared.join(YML);
    fs::write(&target, "cluster.name: shared\n").unwrap();
    let link = dir.join(YML);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let before = snapshot(h.scratch.path());

    let run = h.setup(&[&dir], &[]).await;
    run.assert_code(78);
    assert!(
        run.stderr.contains(&format!("{}", link.display()))
            && run.stderr.contains("is a symbolic link to"),
        "{}",
        run.all()
    );
    // Refused while checking the directory, before the tenant was touched and before any
    // file was written: no application, no keystore, the link and the shared file as they were.
    assert!(h.realm_apps().is_empty(), "an application was created");
    let after = snapshot(h.scratch.path());
    let changed: Vec<_> = after
        .iter()
        .filter(|(p, v)| before.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    assert!(
        changed
            .iter()
            .all(|p| !p.starts_with(&dir) && !p.starts_with(&shared)),
        "changed: {changed:?}"
    );
}

//! Never half-configured (issue 8, item 4): every file a run will replace is proved
//! replaceable before the tenant is touched, and a file that is a mount point of its own is
//! written in place.
//!
//! - a single-file bind mount of `elasticsearch.yml` (`docker run -v ./elasticsearch.yml:…`)
//!   or of the keystore is written in place: the file on the "host" gets the change;
//! - an immutable or append-only `elasticsearch.yml` (`chattr +i` / `+a`) or keystore, and a
//!   read-only bind mount, are refused before anything is created in the tenant, and a re-run
//!   refuses the same way without adding a client secret;
//! - a read-only file system is reported as such (not as a "stale temporary file").
//!
//! These need root (`mount --bind`, `chattr`); without it, or without the tools, each test
//! prints why it is skipped and returns.

mod setup_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use msgraph_keystore::keystore::{self, Keystore};
use setup_support::*;

const YML: &str = "elasticsearch.yml";

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Run a system tool; `false` (with the reason printed) when it is missing or fails.
fn sh(program: &str, args: &[&str]) -> bool {
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!(
                "{program} {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("{program} is not available: {e}");
            false
        }
    }
}

/// Skip (printing why) unless running as root.
macro_rules! require_root {
    ($what:expr) => {
        if !is_root() {
            eprintln!("SKIPPED {}: needs root for mount/chattr", $what);
            return;
        }
    };
}

/// A mount undone when dropped.
struct Mounted(PathBuf);

impl Mounted {
    fn bind(source: &Path, target: &Path) -> Option<Mounted> {
        sh("mount", &["--bind", source.to_str()?, target.to_str()?])
            .then(|| Mounted(target.to_path_buf()))
    }

    fn read_only(self) -> Option<Mounted> {
        sh("mount", &["-o", "remount,ro,bind", self.0.to_str()?]).then_some(self)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `chattr +flag` undone when dropped.
struct Attr(PathBuf, char);

impl Attr {
    fn set(path: &Path, flag: char) -> Option<Attr> {
        sh("chattr", &[&format!("+{flag}"), path.to_str()?]).then(|| Attr(path.to_path_buf(), flag))
    }
}

impl Drop for Attr {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .arg(format!("-{}", self.1))
            .arg(&self.0)
            .status();
    }
}

/// Client secrets on the realm application(s) of the tenant.
fn secrets_in_tenant(h: &Harness) -> usize {
    h.realm_apps()
        .iter()
        .map(|a| a.password_credentials.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_writes_a_bind_mounted_yml_in_place_and_a_rerun_adds_no_secret() {
    require_root!("setup_writes_a_bind_mounted_yml_in_place");
    let h = Harness::start().await;
    let host = h.dir("host");
    write(
        &host.join(YML),
        "cluster.name: docker-cluster\nnetwork.host: 0.0.0.0\n",
    );
    let config = h.dir("config");
    write(&config.join(YML), "");
    let Some(_mount) = Mounted::bind(&host.join(YML), &config.join(YML)) else {
        eprintln!("SKIPPED setup_writes_a_bind_mounted_yml_in_place: mount --bind failed");
        return;
    };

    let out = h.setup(&[&config], &["--no-verify"]).await;
    out.assert_ok();
    let app = h.the_app();
    // The change reached the file on the host, next to what was there.
    assert_eq!(
        yml_value(&host, REALM, "client_id").as_deref(),
        Some(app.app_id.as_str()),
        "{}",
        out.all()
    );
    let text = read_text(&host.join(YML));
    assert!(
        text.starts_with("cluster.name: docker-cluster\nnetwork.host: 0.0.0.0\n"),
        "{text}"
    );
    assert!(
        read_keystore(&config, "").contains(&secret_key(REALM)),
        "the keystore holds the secret"
    );
    assert_eq!(secrets_in_tenant(&h), 1);
    assert!(!config.join("elasticsearch.yml.tmp").exists());

    let again = h.setup(&[&config], &["--no-verify"]).await;
    again.assert_ok();
    assert_eq!(
        secrets_in_tenant(&h),
        1,
        "a re-run added a secret\n{}",
        again.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_immutable_or_append_only_file_is_refused_before_the_tenant_is_touched() {
    require_root!("an_immutable_or_append_only_file_is_refused");
    for (file, flag) in [(YML, 'i'), (YML, 'a'), ("elasticsearch.keystore", 'i')] {
        let h = Harness::start().await;
        let config = h.dir("config");
        write(&config.join(YML), "cluster.name: locked\n");
        let mut ks = Keystore::new(keystore::FormatVersion::V4).unwrap();
        ks.set_string("bootstrap.password", "kept").unwrap();
        keystore::save(&config, &ks).unwrap();
        let before = dir_state(&config);
        let Some(_attr) = Attr::set(&config.join(file), flag) else {
            eprintln!("SKIPPED {file} +{flag}: chattr is not supported here");
            continue;
        };
        for run in 1..=2 {
            let out = h.setup(&[&config], &["--no-verify"]).await;
            let what = format!("{file} +{flag}, run {run}");
            out.assert_code(78);
            assert!(out.stderr.contains(file), "{what}: {}", out.all());
            assert!(
                out.stderr.contains(&format!("chattr -{flag}")),
                "{what}: the fix is named\n{}",
                out.all()
            );
            assert!(
                h.realm_apps().is_empty(),
                "{what}: the tenant was touched: {:#?}",
                h.realm_apps()
            );
            assert_eq!(dir_state(&config), before, "{what}: a file changed");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_single_file_mount_is_refused_up_front() {
    require_root!("a_read_only_single_file_mount_is_refused_up_front");
    let h = Harness::start().await;
    let host = h.dir("host");
    write(&host.join(YML), "cluster.name: from-a-configmap\n");
    let config = h.dir("config");
    write(&config.join(YML), "");
    let Some(_mount) =
        Mounted::bind(&host.join(YML), &config.join(YML)).and_then(Mounted::read_only)
    else {
        eprintln!("SKIPPED a_read_only_single_file_mount_is_refused_up_front: mount failed");
        return;
    };
    let out = h.setup(&[&config], &["--no-verify"]).await;
    out.assert_code(78);
    assert!(out.stderr.contains("read-only"), "{}", out.all());
    assert!(out.stderr.contains(YML), "{}", out.all());
    assert!(h.realm_apps().is_empty(), "the tenant was touched");
    assert!(
        !keystore::keystore_path(&config).exists(),
        "a keystore was created"
    );
}

/// `keystore …` commands as the tests of `cli_keystore` run them.
fn keystore_cmd(dir: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"))
        .arg("keystore")
        .args(args)
        .arg("--config")
        .arg(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn keystore_add_writes_a_bind_mounted_keystore_in_place() {
    require_root!("keystore_add_writes_a_bind_mounted_keystore_in_place");
    let root = tempfile::tempdir().unwrap();
    let host = root.path().join("host");
    let config = root.path().join("config");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::create_dir_all(&config).unwrap();
    let out = keystore_cmd(&host, &["create"], "");
    assert!(out.status.success(), "{out:?}");
    std::fs::write(keystore::keystore_path(&config), b"").unwrap();
    let Some(_mount) = Mounted::bind(
        &keystore::keystore_path(&host),
        &keystore::keystore_path(&config),
    ) else {
        eprintln!("SKIPPED keystore_add_writes_a_bind_mounted_keystore_in_place: mount failed");
        return;
    };
    let out = keystore_cmd(
        &config,
        &["add", "-x", "-f", "s3.client.default.access_key"],
        "AKIA\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ks = read_keystore(&host, "");
    assert_eq!(
        ks.get_bytes("s3.client.default.access_key"),
        Some(&b"AKIA"[..])
    );
    assert!(ks.contains("keystore.seed"));
}

#[test]
fn a_read_only_file_system_is_named_without_a_stale_temporary_file() {
    require_root!("a_read_only_file_system_is_named");
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    if !sh(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "ro,size=1m",
            "tmpfs",
            config.to_str().unwrap(),
        ],
    ) {
        eprintln!("SKIPPED a_read_only_file_system_is_named: cannot mount a tmpfs");
        return;
    }
    let _mount = Mounted(config.clone());
    let out = keystore_cmd(&config, &["add", "-x", "-f", "a.b"], "v\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("read-only file system"), "{stderr}");
    assert!(!stderr.contains("stale"), "{stderr}");
}

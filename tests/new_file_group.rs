//! A keystore (or `elasticsearch.yml`) this tool creates is readable by the node (issue 8,
//! item 3): in the package layout without the setgid bit (`root:elasticsearch 0750`, as
//! config management leaves it), a file root creates gets the directory's group and
//! `rw-rw----`, as the setgid bit would have given it. When the user may not set that group,
//! the run says which `chown` to run. Existing files keep owner, group and mode.
//!
//! Needs root (to own a directory with another group, and to run as `nobody`); otherwise
//! each test prints why it is skipped.

mod other_user;
mod setup_support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use msgraph_keystore::keystore;
use setup_support::*;

/// The node's group in these tests; it need not exist in /etc/group.
const NODE_GID: u32 = 4242;
/// `nobody`.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `root:NODE_GID 0750`, no setgid bit: the package layout after config management.
fn package_dir(path: &Path) {
    fs::create_dir_all(path).unwrap();
    std::os::unix::fs::chown(path, Some(0), Some(NODE_GID)).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o750)).unwrap();
    assert_eq!(fs::metadata(path).unwrap().mode() & 0o7777, 0o750);
}

#[track_caller]
fn assert_group_and_mode(path: &Path, gid: u32, mode: u32) {
    let meta = fs::metadata(path).unwrap();
    assert_eq!(
        (meta.gid(), meta.mode() & 0o7777),
        (gid, mode),
        "{}: gid {} mode {:o}",
        path.display(),
        meta.gid(),
        meta.mode() & 0o7777
    );
}

fn keystore_add(dir: &Path, name: &str, uid: Option<u32>, exe: &Path) -> std::process::Output {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(exe);
    cmd.args(["keystore", "add", "-x", "-f", name, "--config"])
        .arg(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"value\n").unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn keystore_add_as_root_creates_a_keystore_the_node_group_can_read() {
    if !is_root() {
        eprintln!(
            "SKIPPED keystore_add_as_root_creates_a_keystore_the_node_group_can_read: needs root"
        );
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("etc-elasticsearch");
    package_dir(&dir);
    let exe = Path::new(env!("CARGO_BIN_EXE_msgraph-keystore"));
    let out = keystore_add(&dir, "bootstrap.password", None, exe);
    assert!(out.status.success(), "{out:?}");
    let path = keystore::keystore_path(&dir);
    assert_group_and_mode(&path, NODE_GID, 0o660);
    assert_eq!(fs::metadata(&path).unwrap().uid(), 0);

    // An existing file keeps its group and mode, even one that differs from the directory's.
    std::os::unix::fs::chown(&path, None, Some(0)).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let out = keystore_add(&dir, "another.setting", None, exe);
    assert!(out.status.success(), "{out:?}");
    assert_group_and_mode(&path, 0, 0o660);
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_as_root_creates_keystore_and_yml_with_the_directory_group() {
    if !is_root() {
        eprintln!(
            "SKIPPED setup_as_root_creates_keystore_and_yml_with_the_directory_group: needs root"
        );
        return;
    }
    let h = Harness::start().await;
    let dir = h.scratch.path().join("etc-elasticsearch");
    package_dir(&dir);
    h.setup(&[&dir], &["--no-verify"]).await.assert_ok();
    assert_group_and_mode(&keystore::keystore_path(&dir), NODE_GID, 0o660);
    assert_group_and_mode(&dir.join("elasticsearch.yml"), NODE_GID, 0o660);
}

#[test]
fn a_user_who_may_not_set_the_group_is_told_which_chown_to_run() {
    if !is_root() {
        eprintln!("SKIPPED a_user_who_may_not_set_the_group_is_told_which_chown_to_run: needs root to run as nobody");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let dir = root.path().join("config");
    fs::create_dir_all(&dir).unwrap();
    // nobody may write here but is not in the directory's group.
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NODE_GID)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).unwrap();
    let (exe, _keep) =
        other_user::executable_for_others(Path::new(env!("CARGO_BIN_EXE_msgraph-keystore")));
    let out = keystore_add(&dir, "bootstrap.password", Some(NOBODY), &exe);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let path = keystore::keystore_path(&dir);
    assert_group_and_mode(&path, NOBODY, 0o660);
    let fix = format!("chown :{NODE_GID} {}", path.display());
    assert!(stderr.contains(&fix), "no `{fix}` in: {stderr}");
}

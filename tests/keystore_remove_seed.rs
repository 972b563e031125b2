//! `keystore remove keystore.seed` behaves like Elasticsearch's (issue 8, item 9): the setting
//! is removed and the saved file has no seed at all (Elasticsearch's `KeyStoreWrapper.remove`
//! drops the entry and `save` writes the entries as they are; a node adds a new seed when it
//! starts). It never exits 0 with a different seed in the file.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use msgraph_keystore::keystore;
use msgraph_keystore::secret::SecretString;

fn run(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"))
        .arg("keystore")
        .args(args)
        .arg("--config")
        .arg(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"value\n").unwrap();
    child.wait_with_output().unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let ks = keystore::load_read_only(dir, &SecretString::from(String::new())).unwrap();
    ks.names().into_iter().map(str::to_owned).collect()
}

#[test]
fn removing_the_seed_leaves_a_keystore_without_one() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["create"]).status.success());
    assert_eq!(names(dir.path()), ["keystore.seed"]);

    let out = run(dir.path(), &["remove", "keystore.seed"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        names(dir.path()).is_empty(),
        "Elasticsearch's remove leaves zero entries: {:?}",
        names(dir.path())
    );

    // Any later change saved by this tool adds a seed again (see docs/keystore.md).
    assert!(run(dir.path(), &["add", "-x", "a.b"]).status.success());
    assert_eq!(names(dir.path()), ["a.b", "keystore.seed"]);
}

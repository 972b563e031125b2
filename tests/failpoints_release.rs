//! Release builds carry no fail points (docs/reliability.md, "Crash safety"): the keystore
//! crate's `failpoints` feature is switched on only by the root's dev-dependency, and Cargo's
//! resolver 2 keeps dev-dependency features out of `cargo build`. Asks Cargo itself
//! (`cargo tree`, offline, from the lock file) what a normal build resolves, and what a test
//! build resolves, so the check tells the two apart and cannot pass on an empty answer.

use std::process::Command;

fn tree(edges: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--locked", "-p", "msgraph-keystore"])
        .args(["-e", edges, "-i", "fail"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_normal_build_resolves_fail_without_failpoints_and_a_test_build_with_them() {
    let normal = tree("normal,features");
    assert!(normal.contains("es-keystore"), "{normal}");
    assert!(
        !normal.contains("failpoints"),
        "cargo build would compile fail points in:\n{normal}"
    );
    let with_dev = tree("features");
    assert!(
        with_dev.contains("es-keystore feature \"failpoints\""),
        "test builds no longer get fail points:\n{with_dev}"
    );
}

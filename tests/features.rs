//! `cargo build --no-default-features` makes a binary with no server in it (issue 11): the fake
//! tenant, and the web server and certificate generator only it uses, are behind the default
//! `demo` feature. Asks Cargo itself (`cargo tree`, offline, from the lock file), so a new
//! normal dependency that pulls a server back in, or a feature gate that stops gating, fails
//! here. The other half — that the code compiles without the feature — is `.ci/run`'s
//! `cargo check --no-default-features`.

use std::process::Command;

/// Crates that only a server needs: none may be in the binary built without `demo`.
const SERVER_ONLY: &[&str] = &["fake-tenant", "axum", "rcgen"];

/// The distinct crate names in `cargo tree -p PACKAGE -e normal` with the extra arguments.
fn normal_tree(package: &str, extra: &[&str]) -> (Vec<String>, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            package,
            "-e",
            "normal",
        ])
        .args(extra)
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let mut crates: Vec<String> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    crates.sort();
    crates.dedup();
    (crates, tree)
}

fn present<'a>(crates: &[String], names: &[&'a str]) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|n| crates.iter().any(|c| c == n))
        .collect()
}

#[test]
fn without_default_features_the_binary_has_no_server() {
    let (crates, tree) = normal_tree("msgraph-keystore", &["--no-default-features"]);
    // The tree really is the client's: the parse found its HTTP client and keystore crate.
    assert_eq!(
        present(&crates, &["reqwest", "es-keystore"]),
        ["reqwest", "es-keystore"],
        "{tree}"
    );
    let found = present(&crates, SERVER_ONLY);
    assert!(
        found.is_empty(),
        "`--no-default-features` still depends on {found:?}:\n{tree}"
    );
    println!(
        "{} crate names without `demo`, none of {SERVER_ONLY:?}",
        crates.len()
    );
}

#[test]
fn the_default_build_has_the_fake_tenant() {
    // The other side of the gate, so the test above cannot pass by looking at the wrong tree.
    let (crates, tree) = normal_tree("msgraph-keystore", &[]);
    assert_eq!(present(&crates, SERVER_ONLY), SERVER_ONLY, "{tree}");
    println!("{} crate names with `demo`", crates.len());
}

#[test]
fn the_fake_tenant_does_not_depend_on_the_client_it_tests() {
    let (crates, tree) = normal_tree("fake-tenant", &[]);
    assert!(crates.iter().any(|c| c == "axum"), "{tree}");
    assert!(
        !crates.iter().any(|c| c == "msgraph-keystore"),
        "fake-tenant depends on msgraph-keystore:\n{tree}"
    );
}

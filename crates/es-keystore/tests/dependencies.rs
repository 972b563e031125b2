//! The library stays a library: no async runtime, HTTP, web server, CLI parser or Azure code
//! anywhere in its normal dependency tree (issue 11). Asks Cargo itself (`cargo tree`, offline,
//! from the lock file), so a new dependency that pulls one in fails here.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "reqwest",
    "hyper",
    "axum",
    "clap",
    "azure_core",
    "azure_identity",
    "msgraph-keystore",
];

#[test]
fn no_network_or_cli_crates_in_the_dependency_tree() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            "es-keystore",
            "-e",
            "normal",
        ])
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
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"es-keystore") && crates.contains(&"aes-gcm"),
        "{tree}"
    );
    let found: Vec<&&str> = FORBIDDEN.iter().filter(|f| crates.contains(f)).collect();
    assert!(
        found.is_empty(),
        "es-keystore depends on {found:?}:\n{tree}"
    );
    println!(
        "{} crates in es-keystore's tree, none of {FORBIDDEN:?}",
        crates.len()
    );
}

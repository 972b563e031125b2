//! The layering rules of docs/architecture.md, checked on the source so they cannot erode:
//!
//! - `CliError` (the CLI's rendering of an error) appears only in the command-line layer
//!   (`src/cli/`, `src/main.rs`) and where it is defined (`src/exit.rs`): every library module
//!   returns its own typed error, which keeps its `source()`.
//! - No code decides on an error's text: outside test modules nothing calls `contains`,
//!   `starts_with` or `ends_with` on an error's `message` or `to_string()`. The one place that
//!   matches text a remote sent (Graph's `message`, where one code covers several failures)
//!   is the data table in `src/graph/classify.rs`, each row tested by its sample.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source files of the root package's `src/`, relative to the package root.
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    assert!(
        files.len() > 50,
        "found only {} files under src/",
        files.len()
    );
    files
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).expect("read source");
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, text)
        })
        .collect()
}

/// The part of a file before its unit-test module (test assertions may look at texts).
fn non_test_part(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

fn is_cli_layer(rel: &str) -> bool {
    rel.starts_with("src/cli/") || rel == "src/main.rs" || rel == "src/exit.rs"
}

fn cli_error_users(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(rel, text)| !is_cli_layer(rel) && text.contains("CliError"))
        .map(|(rel, _)| rel.clone())
        .collect()
}

const TEXT_MATCHES: [&str; 6] = [
    "message.contains(",
    "message.starts_with(",
    "message.ends_with(",
    "to_string().contains(",
    "to_string().starts_with(",
    "to_string().ends_with(",
];

/// Files allowed to match a remote's text, as table data with test vectors.
const REMOTE_TEXT_TABLES: [&str; 1] = ["src/graph/classify.rs"];

fn text_matchers(files: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (rel, text) in files {
        if REMOTE_TEXT_TABLES.contains(&rel.as_str()) {
            continue;
        }
        for (n, line) in non_test_part(text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if TEXT_MATCHES.iter().any(|m| code.contains(m)) {
                found.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn only_the_command_line_layer_uses_cli_error() {
    let offenders = cli_error_users(&sources());
    assert!(
        offenders.is_empty(),
        "library modules must return typed errors, not CliError: {offenders:?}"
    );
}

#[test]
fn no_code_decides_on_an_errors_text() {
    let offenders = text_matchers(&sources());
    assert!(
        offenders.is_empty(),
        "match on error variants, not on texts:\n{}",
        offenders.join("\n")
    );
}

/// The two checks find what they look for (so passing means something).
#[test]
fn the_checks_catch_a_planted_offender() {
    let planted = vec![
        (
            "src/setup/local.rs".to_string(),
            "fn f() -> Result<(), CliError> { todo() }".to_string(),
        ),
        (
            "src/cli/setup_cmd.rs".to_string(),
            "fn g(e: CliError) { if e.message.starts_with(\"x\") {} }".to_string(),
        ),
        (
            "src/graph/client.rs".to_string(),
            "fn h() {}\n#[cfg(test)]\nmod tests { fn t(e: E) { e.to_string().contains(\"y\"); } }"
                .to_string(),
        ),
    ];
    assert_eq!(cli_error_users(&planted), vec!["src/setup/local.rs"]);
    let matches = text_matchers(&planted);
    assert_eq!(matches.len(), 1, "{matches:?}");
    assert!(
        matches[0].starts_with("src/cli/setup_cmd.rs:1:"),
        "{matches:?}"
    );
}

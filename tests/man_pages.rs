//! `man` (issue 9): quiet on a closed pipe, and every page a SUBCOMMANDS section names exists
//! once `man --dir` has written the pages.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"))
}

/// Run `args` with stdout a pipe whose reader is gone before the program writes.
fn into_closed_pipe(args: &[&str]) -> std::process::Output {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn man_and_completions_stop_quietly_on_a_closed_pipe() {
    for args in [&["man"][..], &["completions", "bash"][..]] {
        let out = into_closed_pipe(args);
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "{args:?} printed on a closed pipe"
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}");
    }
}

#[test]
fn man_into_head_in_a_shell_prints_no_error() {
    let out = Command::new("bash")
        .args(["-c", "set -o pipefail; \"$1\" man | head -n 1", "bash"])
        .arg(env!("CARGO_BIN_EXE_msgraph-keystore"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(".ie"));
}

/// The `name(1)` references of a page's SUBCOMMANDS section.
fn referenced_pages(roff: &str) -> Vec<String> {
    let Some(start) = roff.find(".SH SUBCOMMANDS") else {
        return Vec::new();
    };
    let section = &roff[start + 3..];
    let section = &section[..section.find("\n.SH ").unwrap_or(section.len())];
    section
        .lines()
        .filter_map(|l| l.strip_suffix("(1)"))
        .map(|name| name.replace("\\-", "-"))
        .collect()
}

#[test]
fn man_dir_writes_every_page_the_subcommand_sections_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for page in [
        "msgraph-keystore.1",
        "msgraph-keystore-setup.1",
        "msgraph-keystore-keystore-list.1",
    ] {
        assert!(written.contains(page), "{page} not written: {written:?}");
    }
    let mut dangling = Vec::new();
    for page in &written {
        let roff = std::fs::read_to_string(dir.path().join(page)).unwrap();
        for name in referenced_pages(&roff) {
            if !written.contains(&format!("{name}.1")) {
                dangling.push(format!("{page} -> {name}(1)"));
            }
        }
    }
    assert!(
        dangling.is_empty(),
        "pages named but not written: {dangling:?}"
    );

    // The page on stdout names the same pages (and no `help` page, which is never written).
    let out = bin().arg("man").output().unwrap();
    let stdout_refs = referenced_pages(&String::from_utf8_lossy(&out.stdout));
    assert!(stdout_refs.len() >= 10, "{stdout_refs:?}");
    for name in stdout_refs {
        assert!(
            written.contains(&format!("{name}.1")),
            "stdout page names {name}(1)"
        );
    }
}

#[test]
fn man_dir_that_does_not_exist_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("man1");
    let out = bin().args(["man", "--dir"]).arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(74));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.ends_with(", with exit code 74\n"), "{stderr}");
    assert!(!missing.exists());
}

//! Release quality of the command line: every command documents itself with an example,
//! completions and the man page are generated from the real definitions, NO_COLOR is honoured.

use assert_cmd::Command;
use clap::CommandFactory;
use msgraph_keystore::cli::Cli;

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("msgraph-keystore").unwrap();
    cmd.env_remove("ES_PATH_CONF");
    cmd
}

/// Every command path, e.g. ["keystore", "add"], except clap's generated `help`.
fn command_paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = prefix.clone();
        path.push(sub.get_name().to_string());
        out.push(path.clone());
        command_paths(sub, path, out);
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    let root = Cli::command();
    let mut paths = Vec::new();
    command_paths(&root, Vec::new(), &mut paths);
    assert!(paths.len() >= 20, "expected all commands, got {paths:?}");
    let mut missing = Vec::new();
    for path in &paths {
        let out = bin()
            .args(path)
            .arg("--help")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{path:?} --help failed");
        let text = String::from_utf8_lossy(&out.stdout);
        if !text.contains("Example") {
            missing.push(path.join(" "));
        }
        assert!(
            !text.contains('\u{1b}'),
            "{path:?} --help printed escape codes with NO_COLOR"
        );
    }
    assert!(
        missing.is_empty(),
        "commands without an example in --help: {missing:?}"
    );
}

#[test]
fn completions_are_generated_for_common_shells() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("msgraph-keystore"),
            "{shell} completion lacks the program name"
        );
        assert!(
            text.contains("keystore") && text.contains("setup"),
            "{shell} completion lacks subcommands"
        );
    }
    let out = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(64),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_page_is_roff_and_lists_the_commands() {
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(".ie") || text.contains(".TH"),
        "not roff: {}",
        &text[..80.min(text.len())]
    );
    for cmd in [
        "setup",
        "verify",
        "rotate",
        "status",
        "keystore",
        "provision",
    ] {
        assert!(text.contains(cmd), "man page does not mention {cmd}");
    }
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    bin().arg("no-such-command").assert().code(64);
    bin().args(["setup", "--no-such-flag"]).assert().code(64);
    bin().arg("--help").assert().code(0);
    bin().arg("--version").assert().code(0);
}

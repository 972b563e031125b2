//! The completion scripts work in the real shells, below every subcommand (issue 9: the bash
//! script's case labels never matched for a program name with a hyphen, so `keystore l<TAB>`
//! and `setup --con<TAB>` offered nothing).
//!
//! Each test sources the generated script in the shell itself and asks it to complete. A shell
//! that is not installed is skipped with a printed message (`apt-get install zsh fish`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn script(shell: &str, dir: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_msgraph-keystore"))
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(out.status.success(), "completions {shell} failed");
    let path = dir.join(format!("msgraph-keystore.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

fn have(shell: &str) -> bool {
    let found = Command::new(shell)
        .args(["-c", "exit 0"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        eprintln!("SKIPPED: {shell} is not installed (apt-get install {shell}); its completion script was not run");
    }
    found
}

/// What bash offers for `line` (the cursor at its end), as its completion machinery calls
/// the function the script registered with `complete -F`.
fn bash_complete(script: &Path, line: &str) -> Vec<String> {
    let program = r#"source "$1"
line="$2"
read -r -a COMP_WORDS <<< "$line"
[[ "$line" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$line"
COMP_POINT=${#line}
func=$(complete -p msgraph-keystore | sed -E 's/.*-F ([^ ]+).*/\1/')
prev=""
(( COMP_CWORD > 0 )) && prev="${COMP_WORDS[COMP_CWORD-1]}"
"$func" msgraph-keystore "${COMP_WORDS[COMP_CWORD]}" "$prev"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", program, "bash"])
        .arg(script)
        .arg(line)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash failed on {line:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "bash printed errors on {line:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_below_every_subcommand() {
    if !have("bash") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = script("bash", dir.path());
    for (line, expected) in [
        ("msgraph-keystore ver", "verify"),
        ("msgraph-keystore keystore l", "list"),
        ("msgraph-keystore setup --con", "--config"),
        ("msgraph-keystore keystore list --pass", "--password-file"),
        (
            "msgraph-keystore keystore upgrade --target",
            "--target-es-version",
        ),
        ("msgraph-keystore fake-tenant --li", "--listen"),
        ("msgraph-keystore completions z", "zsh"),
        ("msgraph-keystore man --d", "--dir"),
    ] {
        let offered = bash_complete(&script, line);
        assert!(
            offered.iter().any(|w| w == expected),
            "`{line}<TAB>` offered {offered:?}, expected {expected}"
        );
    }
    // Options of one subcommand are not offered under another.
    let offered = bash_complete(&script, "msgraph-keystore keystore list --");
    assert!(
        !offered.iter().any(|w| w == "--app-name"),
        "keystore list offered setup's options: {offered:?}"
    );
}

#[test]
fn bash_script_has_a_case_for_every_state_it_enters() {
    // The generator's bug was two spellings of one state; every `cmd="X"` must have an `X)` arm.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(script("bash", dir.path())).unwrap();
    let mut missing = Vec::new();
    for line in text.lines() {
        let Some(state) = line
            .trim()
            .strip_prefix("cmd=\"")
            .and_then(|s| s.strip_suffix('"'))
        else {
            continue;
        };
        if !state.is_empty() && !text.contains(&format!("\n        {state})\n")) {
            missing.push(state.to_owned());
        }
    }
    assert!(missing.is_empty(), "states without a case arm: {missing:?}");
}

#[test]
fn zsh_script_loads_and_defines_the_completion_function() {
    if !have("zsh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = script("zsh", dir.path());
    let out = Command::new("zsh")
        .args([
            "-f",
            "-c",
            "autoload -U compinit && compinit -u -D && source \"$1\" && whence -w _msgraph-keystore && print -r -- ${_comps[msgraph-keystore]}",
            "zsh",
        ])
        .arg(&script)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "zsh could not load the script: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("_msgraph-keystore: function"), "{stdout}");
}

#[test]
fn fish_completes_below_every_subcommand() {
    if !have("fish") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = script("fish", dir.path());
    for (line, expected) in [
        ("msgraph-keystore ver", "verify"),
        ("msgraph-keystore keystore l", "list"),
        ("msgraph-keystore setup --con", "--config"),
    ] {
        let out = Command::new("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(&script)
            .arg(line)
            .env("HOME", dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "fish failed on {line:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout
                .lines()
                .any(|l| l.split('\t').next() == Some(expected)),
            "`{line}<TAB>` offered {stdout:?}, expected {expected}"
        );
    }
}

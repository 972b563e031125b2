//! `msgraph-keystore keystore …`: a drop-in for Elasticsearch's `bin/elasticsearch-keystore`.
//!
//! Same subcommands, flags, prompts, messages and exit codes as the Java tool, with the
//! differences listed in `docs/keystore.md` (password sources from the environment, `show -o`,
//! refusal of the realm's non-secure settings, version keeping, `--config`).
//!
//! Every modifying command holds the keystore lock from load to save, so two runs at once
//! never lose an update; nothing is written until every input has been read and checked.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::terminal::{read_keystore_password, read_new_password, Terminal};
use super::{GlobalOpts, Verbosity};
use crate::exit::{CliError, ExitCode};
use crate::keystore::FormatVersion;
use crate::keystore_ops as ops;
use crate::secret::{SecretString, Zeroizing};

/// Manage `elasticsearch.keystore` (a drop-in for `bin/elasticsearch-keystore`).
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  msgraph-keystore keystore list --config /etc/elasticsearch\n\nExit codes: 0 ok, 1 has-passwd negative, 64 usage, 65 data error, 74 I/O, 78 config (see docs/keystore.md)."
)]
pub struct KeystoreArgs {
    /// Elasticsearch config directory holding elasticsearch.keystore [default: $ES_PATH_CONF]
    #[arg(long = "config", value_name = "DIR", global = true)]
    pub config: Option<PathBuf>,

    /// Accepted for compatibility with elasticsearch-keystore and ignored.
    #[arg(short = 'E', value_name = "KEY=VALUE", global = true, hide = true)]
    pub es_settings: Vec<String>,

    #[command(subcommand)]
    pub command: KeystoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeystoreCommand {
    /// Create a new keystore (asks before replacing an existing one).
    #[command(
        after_help = "Example:\n  msgraph-keystore keystore create --config /etc/elasticsearch\n  printf 'pw\\npw\\n' | msgraph-keystore keystore create -p --config /etc/elasticsearch"
    )]
    Create(CreateArgs),
    /// List the setting names in the keystore.
    #[command(
        after_help = "Example:\n  msgraph-keystore keystore list --config /etc/elasticsearch"
    )]
    List(PasswordArgs),
    /// Print one setting's value (raw bytes when stdout is not a terminal).
    #[command(
        after_help = "Example:\n  msgraph-keystore keystore show bootstrap.password --config /etc/elasticsearch\n  msgraph-keystore keystore show xpack.watcher.encryption_key -o watcher.key"
    )]
    Show(ShowArgs),
    /// Add string settings; values come from a hidden prompt or one stdin line each.
    #[command(
        after_help = "Example:\n  printf '%s\\n' \"$VALUE\" | msgraph-keystore keystore add -x -f bootstrap.password --config /etc/elasticsearch"
    )]
    Add(AddArgs),
    /// Add settings whose values are the exact bytes of files.
    #[command(
        after_help = "Example:\n  msgraph-keystore keystore add-file gcs.client.default.credentials_file creds.json --config /etc/elasticsearch"
    )]
    AddFile(AddFileArgs),
    /// Remove settings.
    #[command(
        after_help = "Example:\n  msgraph-keystore keystore remove s3.client.default.secret_key --config /etc/elasticsearch"
    )]
    Remove(RemoveArgs),
    /// Rewrite the keystore in the latest (or the requested) format version.
    #[command(
        after_help = "Example:\n  msgraph-keystore keystore upgrade --target-es-version 8.12 --config /etc/elasticsearch"
    )]
    Upgrade(UpgradeArgs),
    /// Change the keystore password.
    #[command(
        after_help = "Example:\n  msgraph-keystore keystore passwd --config /etc/elasticsearch"
    )]
    Passwd(PasswdArgs),
    /// Exit 0 if the keystore exists and is password-protected, 1 otherwise.
    #[command(
        after_help = "Example:\n  msgraph-keystore keystore has-passwd --config /etc/elasticsearch && echo protected"
    )]
    HasPasswd,
}

/// Where the password of an existing keystore comes from, besides the environment and stdin.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the keystore password from FILE (its first line, as the Docker image reads KEYSTORE_PASSWORD_FILE).
    #[arg(long = "password-file", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// The on-disk format to write; without either option, the latest (6).
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Keystore format version to write: 4 (Elasticsearch 6.8/7.x), 5 (8.0-8.13), 6 (8.14+).
    #[arg(
        long = "format-version",
        value_name = "4|5|6",
        conflicts_with = "target_es_version"
    )]
    pub format_version: Option<String>,
    /// Write the format version the given Elasticsearch version reads, e.g. 7.17 or 8.13.
    #[arg(long = "target-es-version", value_name = "X.Y")]
    pub target_es_version: Option<String>,
}

impl VersionArgs {
    /// The requested format version, if any.
    fn requested(&self) -> Result<Option<FormatVersion>, CliError> {
        Ok(ops::requested_version(
            self.format_version.as_deref(),
            self.target_es_version.as_deref(),
        )?)
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Protect the keystore with a password (asked twice, or read from stdin).
    #[arg(short = 'p', long = "password")]
    pub password: bool,
    /// Read the new password from FILE instead of asking (implies -p).
    #[arg(long = "new-password-file", value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub version: VersionArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The setting to show.
    #[arg(value_name = "SETTING")]
    pub names: Vec<String>,
    /// Write the value's raw bytes to FILE (created with mode 0600; never overwritten).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Setting names; each value is read from a hidden prompt or one line of stdin.
    #[arg(value_name = "SETTING")]
    pub names: Vec<String>,
    /// Read setting values from stdin without a prompt (the default when stdin is not a TTY).
    #[arg(short = 'x', long = "stdin")]
    pub stdin: bool,
    /// Overwrite existing settings without asking, creating the keystore if necessary.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct AddFileArgs {
    /// Pairs of setting name and file path.
    #[arg(value_name = "SETTING PATH")]
    pub pairs: Vec<std::ffi::OsString>,
    /// Overwrite existing settings without asking, creating the keystore if necessary.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Setting names to remove.
    #[arg(value_name = "SETTING")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub version: VersionArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// Read the new password from FILE instead of asking.
    #[arg(long = "new-password-file", value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Run one `keystore` subcommand against the real terminal.
pub fn run(args: KeystoreArgs, global: &GlobalOpts) -> Result<ExitCode, CliError> {
    let mut term = Terminal::stdio(global.verbosity());
    run_with(args, &mut term)
}

/// Run one `keystore` subcommand against the given terminal.
pub fn run_with(args: KeystoreArgs, term: &mut Terminal) -> Result<ExitCode, CliError> {
    let dir = ops::config_dir_from_env(args.config.as_deref())?;
    match args.command {
        KeystoreCommand::Create(a) => create(term, &dir, a),
        KeystoreCommand::List(a) => list(term, &dir, a),
        KeystoreCommand::Show(a) => show(term, &dir, a),
        KeystoreCommand::Add(a) => add(term, &dir, a),
        KeystoreCommand::AddFile(a) => add_file(term, &dir, a),
        KeystoreCommand::Remove(a) => remove(term, &dir, a),
        KeystoreCommand::Upgrade(a) => upgrade(term, &dir, a),
        KeystoreCommand::Passwd(a) => passwd(term, &dir, a),
        KeystoreCommand::HasPasswd => has_passwd(term, &dir),
    }
}

fn empty_password() -> SecretString {
    SecretString::from(String::new())
}

/// The password of an existing keystore, asked for only when the library says it has one.
fn password_for(
    term: &mut Terminal,
    sealed: &ops::Sealed,
    password: &PasswordArgs,
) -> Result<SecretString, CliError> {
    if sealed.needs_password() {
        read_keystore_password(term, password.password_file.as_deref())
    } else {
        Ok(empty_password())
    }
}

fn create(term: &mut Terminal, dir: &Path, args: CreateArgs) -> Result<ExitCode, CliError> {
    let version = args.version.requested()?.unwrap_or(FormatVersion::LATEST);
    ops::require_dir(dir)?;
    // Elasticsearch reads the new password before it asks about overwriting; so do we,
    // so that piped answers line up the same way.
    let password = if args.password || args.new_password_file.is_some() {
        read_new_password(term, args.new_password_file.as_deref())?
    } else {
        empty_password()
    };
    let target = ops::lock_for_create(dir)?;
    if target.replaces_existing()
        && !term.prompt_yes_no("An elasticsearch keystore already exists. Overwrite?")?
    {
        term.println(Verbosity::Normal, "Exiting without creating keystore.")?;
        return Ok(ExitCode::Ok);
    }
    let path = target.create(version, password)?;
    term.println(
        Verbosity::Normal,
        &format!("Created elasticsearch keystore in {}", path.display()),
    )?;
    Ok(ExitCode::Ok)
}

fn list(term: &mut Terminal, dir: &Path, args: PasswordArgs) -> Result<ExitCode, CliError> {
    let sealed = ops::find(dir)?;
    let password = password_for(term, &sealed, &args)?;
    let ks = sealed.read(&password)?;
    for name in ks.names() {
        // Normal verbosity, as Elasticsearch: `list -s` prints nothing.
        term.println(Verbosity::Normal, name)?;
    }
    Ok(ExitCode::Ok)
}

fn show(term: &mut Terminal, dir: &Path, args: ShowArgs) -> Result<ExitCode, CliError> {
    let [name] = args.names.as_slice() else {
        return Err(CliError::usage(
            "Must provide a single setting name to show",
        ));
    };
    if let Some(out) = &args.output {
        // Refuse before asking for a password: the file is never overwritten.
        ops::refuse_existing_output(out)?;
    }
    let sealed = ops::find(dir)?;
    let password = password_for(term, &sealed, &args.password)?;
    let ks = sealed.read(&password)?;
    let value = ks
        .get_bytes(name)
        .ok_or_else(|| ops::KeystoreOpsError::MissingSetting { name: name.clone() })?;
    if let Some(out) = &args.output {
        ops::write_value(name, out, value)?;
        return Ok(ExitCode::Ok);
    }
    if !term.stdout_is_tty() {
        // A pipe or file gets the exact bytes, with no newline added (as Elasticsearch).
        term.write_stdout(value)?;
        return Ok(ExitCode::Ok);
    }
    // A terminal gets text and a newline; bytes that are not text could garble it.
    match std::str::from_utf8(value) {
        Ok(text) => {
            let mut line = Zeroizing::new(Vec::with_capacity(text.len() + 1));
            line.extend_from_slice(text.as_bytes());
            line.push(b'\n');
            term.write_stdout(&line)?;
            Ok(ExitCode::Ok)
        }
        Err(_) => {
            term.eprintln(
                Verbosity::Silent,
                &format!("The value for the setting [{name}] is not a string and cannot be printed to the console"),
            )?;
            Err(CliError::new(
                ExitCode::IoError,
                "Please redirect binary output to a file instead",
            ))
        }
    }
}

/// The keystore `add`/`add-file` change: the existing one (after its password), or a new
/// one when it is missing, asking first unless forced. `None`: the user declined and the
/// message was printed.
fn open_for_add(
    term: &mut Terminal,
    dir: &Path,
    force: bool,
    password: &PasswordArgs,
) -> Result<Option<ops::Edit>, CliError> {
    match ops::lock_for_add(dir)? {
        ops::AddTarget::Existing(sealed) => {
            let password = password_for(term, &sealed, password)?;
            Ok(Some(sealed.open_to_change(&password)?))
        }
        ops::AddTarget::Missing(new) => {
            if !force
                && !term.prompt_yes_no(
                    "The elasticsearch keystore does not exist. Do you want to create it?",
                )?
            {
                term.println(Verbosity::Normal, "Exiting without creating keystore.")?;
                return Ok(None);
            }
            Ok(Some(new.create()?))
        }
    }
}

fn add(term: &mut Terminal, dir: &Path, args: AddArgs) -> Result<ExitCode, CliError> {
    if args.names.is_empty() {
        return Err(CliError::usage("the setting names can not be empty"));
    }
    ops::check_names(args.names.iter().map(String::as_str))?;
    let Some(mut edit) = open_for_add(term, dir, args.force, &args.password)? else {
        return Ok(ExitCode::Ok);
    };
    for name in &args.names {
        if !args.force && !confirm_overwrite(term, &edit, name)? {
            return Ok(ExitCode::Ok);
        }
        // With -x Elasticsearch shows no prompt; on a TTY the read is hidden either way.
        let prompt = if args.stdin {
            String::new()
        } else {
            format!("Enter value for {name}: ")
        };
        let value = term.read_secret(&prompt)?;
        edit.set_string(name, &value)?;
    }
    edit.save()?;
    Ok(ExitCode::Ok)
}

/// Ask before replacing an existing setting; on "no", say so and save nothing at all.
fn confirm_overwrite(term: &mut Terminal, edit: &ops::Edit, name: &str) -> Result<bool, CliError> {
    if !edit.contains(name) {
        return Ok(true);
    }
    if term.prompt_yes_no(&format!("Setting {name} already exists. Overwrite?"))? {
        return Ok(true);
    }
    term.println(Verbosity::Normal, "Exiting without modifying keystore.")?;
    Ok(false)
}

fn add_file(term: &mut Terminal, dir: &Path, args: AddFileArgs) -> Result<ExitCode, CliError> {
    if args.pairs.is_empty() {
        return Err(CliError::usage("Missing setting name"));
    }
    if !args.pairs.len().is_multiple_of(2) {
        return Err(CliError::usage("settings and filenames must come in pairs"));
    }
    let mut settings = Vec::with_capacity(args.pairs.len() / 2);
    for pair in args.pairs.chunks_exact(2) {
        settings.push((ops::setting_name(&pair[0])?, Path::new(&pair[1])));
    }
    ops::check_names(settings.iter().map(|(name, _)| *name))?;
    // Every file is read before the keystore is touched, so a missing one changes nothing.
    let mut contents = Vec::with_capacity(settings.len());
    for (_, path) in &settings {
        contents.push(ops::read_value_file(path)?);
    }
    let Some(mut edit) = open_for_add(term, dir, args.force, &args.password)? else {
        return Ok(ExitCode::Ok);
    };
    for ((name, _), bytes) in settings.iter().zip(&contents) {
        if !args.force && !confirm_overwrite(term, &edit, name)? {
            return Ok(ExitCode::Ok);
        }
        edit.set_bytes(name, bytes)?;
    }
    edit.save()?;
    Ok(ExitCode::Ok)
}

fn remove(term: &mut Terminal, dir: &Path, args: RemoveArgs) -> Result<ExitCode, CliError> {
    if args.names.is_empty() {
        return Err(CliError::usage(
            "Must supply at least one setting to remove",
        ));
    }
    let sealed = ops::lock_existing(dir)?;
    let password = password_for(term, &sealed, &args.password)?;
    let mut edit = sealed.open_to_change(&password)?;
    edit.remove(args.names.iter().map(String::as_str))?;
    edit.save()?;
    Ok(ExitCode::Ok)
}

fn upgrade(term: &mut Terminal, dir: &Path, args: UpgradeArgs) -> Result<ExitCode, CliError> {
    let target = args.version.requested()?.unwrap_or(FormatVersion::LATEST);
    let sealed = ops::lock_existing(dir)?;
    let password = password_for(term, &sealed, &args.password)?;
    // Nothing is printed either way, as Elasticsearch.
    sealed.open_to_upgrade(&password)?.upgrade(target)?;
    Ok(ExitCode::Ok)
}

fn passwd(term: &mut Terminal, dir: &Path, args: PasswdArgs) -> Result<ExitCode, CliError> {
    let sealed = ops::lock_existing(dir)?;
    let password = password_for(term, &sealed, &args.password)?;
    let edit = sealed.open_to_change(&password)?;
    let new_password = read_new_password(term, args.new_password_file.as_deref())?;
    edit.change_password(new_password)?;
    term.println(
        Verbosity::Normal,
        "Elasticsearch keystore password changed successfully.",
    )?;
    Ok(ExitCode::Ok)
}

/// Exit 0 with a message when the keystore is password-protected; exit 1 otherwise. The
/// messages are at normal verbosity so `-s` hides them, and there is no `ERROR: …, with
/// exit code` line: scripts (the Docker entrypoint, the deb postinst) test only the code.
fn has_passwd(term: &mut Terminal, dir: &Path) -> Result<ExitCode, CliError> {
    match ops::password_state(dir)? {
        ops::PasswordState::NoKeystore => {
            term.eprintln(Verbosity::Normal, "ERROR: Elasticsearch keystore not found")?;
            Ok(ExitCode::Negative)
        }
        ops::PasswordState::NoPassword => {
            term.eprintln(
                Verbosity::Normal,
                "ERROR: Keystore is not password-protected",
            )?;
            Ok(ExitCode::Negative)
        }
        ops::PasswordState::Protected => {
            term.println(Verbosity::Normal, "Keystore is password-protected")?;
            Ok(ExitCode::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore;
    use clap::Parser;
    use std::cell::RefCell;
    use std::io::{Cursor, Write};
    use std::rc::Rc;

    /// Parses `keystore …` arguments the way the real binary does.
    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        keystore: KeystoreArgs,
    }

    #[derive(Clone, Default)]
    struct Captured(Rc<RefCell<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn bytes(&self) -> Vec<u8> {
            self.0.borrow().clone()
        }
    }

    /// A config dir holding a copy of one shared fixture.
    fn fixture(case: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/keystores")
            .join(case)
            .join(keystore::KEYSTORE_FILENAME);
        std::fs::copy(src, keystore::keystore_path(dir.path())).unwrap();
        dir
    }

    /// A terminal whose stdin and stdout are TTYs: hidden reads answer from `answers` and
    /// record their prompts; visible stdin lines come from `stdin`.
    struct Tty {
        term: Terminal,
        out: Captured,
        err: Captured,
        prompts: Rc<RefCell<Vec<String>>>,
    }

    fn tty(answers: &[&str], stdin: &str) -> Tty {
        let out = Captured::default();
        let err = Captured::default();
        let prompts = Rc::new(RefCell::new(Vec::new()));
        let seen = prompts.clone();
        let mut queue: std::collections::VecDeque<String> =
            answers.iter().map(|a| a.to_string()).collect();
        let term = Terminal::new(Cursor::new(stdin.as_bytes().to_vec()), Verbosity::Normal)
            .with_output(out.clone(), err.clone())
            .with_stdout_tty(true)
            .with_hidden_input(Box::new(move |prompt: &str| {
                seen.borrow_mut().push(prompt.to_owned());
                queue
                    .pop_front()
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
            }));
        Tty {
            term,
            out,
            err,
            prompts,
        }
    }

    fn run_in(dir: &Path, args: &[&str], term: &mut Terminal) -> Result<ExitCode, CliError> {
        let mut argv = vec!["keystore", "--config", dir.to_str().unwrap()];
        argv.extend_from_slice(args);
        let cmd = Cmd::try_parse_from(argv).unwrap();
        run_with(cmd.keystore, term)
    }

    #[test]
    fn show_to_a_tty_adds_a_newline_and_refuses_binary() {
        let dir = fixture("v4_password");
        let mut t = tty(&["v4-Passw0rd"], "");
        let code = run_in(dir.path(), &["show", "cloud.auth.example"], &mut t.term).unwrap();
        assert_eq!(code, ExitCode::Ok);
        assert_eq!(t.out.bytes(), b"elastic:changeme\n");
        assert_eq!(
            t.prompts.borrow().as_slice(),
            [crate::cli::terminal::PASSWORD_PROMPT]
        );

        let mut t = tty(&["v4-Passw0rd"], "");
        let err = run_in(
            dir.path(),
            &["show", "xpack.security.http.ssl.secure_key_passphrase_file"],
            &mut t.term,
        )
        .unwrap_err();
        assert_eq!(err.code, ExitCode::IoError);
        assert_eq!(
            err.message,
            "Please redirect binary output to a file instead"
        );
        assert!(t.out.bytes().is_empty());
        let shown = String::from_utf8(t.err.bytes()).unwrap();
        assert!(shown.contains("is not a string and cannot be printed to the console"));
    }

    #[test]
    fn add_on_a_tty_reads_hidden_values_with_the_es_prompt() {
        let dir = fixture("v4_no_password");
        // The visible "y" answers the overwrite question; values come from hidden reads.
        let mut t = tty(&["first-value", "second-value"], "y\n");
        let code = run_in(
            dir.path(),
            &[
                "add",
                "new.one",
                "xpack.security.transport.ssl.keystore.secure_password",
            ],
            &mut t.term,
        )
        .unwrap();
        assert_eq!(code, ExitCode::Ok);
        assert_eq!(
            t.prompts.borrow().as_slice(),
            [
                "Enter value for new.one: ",
                "Enter value for xpack.security.transport.ssl.keystore.secure_password: "
            ]
        );
        let ks = keystore::load_read_only(dir.path(), &empty_password()).unwrap();
        assert_eq!(ks.get_bytes("new.one").unwrap(), b"first-value");
        assert_eq!(
            ks.get_bytes("xpack.security.transport.ssl.keystore.secure_password")
                .unwrap(),
            b"second-value"
        );
        assert_eq!(ks.version(), FormatVersion::V4);
    }

    #[test]
    fn passwd_on_a_tty_asks_current_then_new_twice() {
        let dir = fixture("v4_password");
        let mut t = tty(&["v4-Passw0rd", "brand-new", "brand-new"], "");
        let code = run_in(dir.path(), &["passwd"], &mut t.term).unwrap();
        assert_eq!(code, ExitCode::Ok);
        assert_eq!(
            t.prompts.borrow().as_slice(),
            [
                crate::cli::terminal::PASSWORD_PROMPT,
                crate::cli::terminal::NEW_PASSWORD_PROMPT,
                crate::cli::terminal::NEW_PASSWORD_AGAIN_PROMPT
            ]
        );
        let pw = crate::secret::secret_string("brand-new");
        let ks = keystore::load_read_only(dir.path(), &pw).unwrap();
        assert_eq!(ks.version(), FormatVersion::V4);
        assert!(ks.contains("cloud.auth.example"));
    }
}

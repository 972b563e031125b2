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
use crate::keystore::{self, FormatVersion, Keystore};
use crate::secret::{ExposeSecret, SecretString, Zeroizing};

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
        if let Some(v) = &self.format_version {
            let version = v.parse::<FormatVersion>()?;
            if !version.is_writable() {
                return Err(CliError::usage(format!(
                    "invalid --format-version [{v}]: format {version} (Elasticsearch 6.3-6.7) can be read but not written; choose 4 (Elasticsearch 6.8/7.x), 5 (8.0-8.13) or 6 (8.14 and later)"
                )));
            }
            return Ok(Some(version));
        }
        if let Some(es) = &self.target_es_version {
            return Ok(Some(FormatVersion::for_es_version(es)?));
        }
        Ok(None)
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
    let dir = config_dir(args.config.as_deref())?;
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

/// `--config DIR`, else `$ES_PATH_CONF`, made absolute as Elasticsearch's launcher does.
fn config_dir(flag: Option<&Path>) -> Result<PathBuf, CliError> {
    let from_env = std::env::var_os("ES_PATH_CONF").filter(|v| !v.is_empty());
    let dir =
        match (flag, from_env) {
            (Some(dir), _) => dir.to_path_buf(),
            (None, Some(env)) => PathBuf::from(env),
            (None, None) => return Err(CliError::usage(
                "no Elasticsearch config directory given: pass --config DIR or set ES_PATH_CONF",
            )),
        };
    if dir.as_os_str().is_empty() {
        return Err(CliError::usage(
            "the config directory must not be empty: pass --config DIR or set ES_PATH_CONF",
        ));
    }
    std::path::absolute(&dir).map_err(|e| {
        CliError::new(
            ExitCode::IoError,
            format!(
                "cannot resolve the config directory [{}]: {e}",
                dir.display()
            ),
        )
    })
}

/// The config directory must exist before anything is locked or written in it.
fn require_dir(dir: &Path) -> Result<(), CliError> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(CliError::new(
            ExitCode::Config,
            format!(
                "the config directory [{}] does not exist or is not a directory: pass --config DIR or set ES_PATH_CONF to Elasticsearch's config directory",
                dir.display()
            ),
        ))
    }
}

/// Refuse a setting Elasticsearch would reject at start-up because it is not a secure setting.
fn refuse_non_secure(name: &str) -> Result<(), CliError> {
    // One list of the realm's yml-only settings for the whole program (esconfig's).
    if !crate::esconfig::non_secure_keys_in(&[name], None).is_empty() {
        return Err(CliError::new(
            ExitCode::DataError,
            format!(
                "Setting [{name}] is a non-secure setting and belongs in elasticsearch.yml, not in the keystore: Elasticsearch would refuse to start with it in the keystore; nothing was saved"
            ),
        ));
    }
    Ok(())
}

/// Check every name before anything is read or written.
fn check_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), CliError> {
    for name in names {
        keystore::validate_setting_name(name)?;
        refuse_non_secure(name)?;
    }
    Ok(())
}

fn empty_password() -> SecretString {
    SecretString::from(String::new())
}

/// What the caller will do with a loaded keystore.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// `list`/`show`: one key derivation, none spent on a save that will not happen.
    Read,
    /// Load → modify → save: the key for the save is derived while decrypting.
    Update,
}

/// Load an existing keystore, reading its password only if it has one (as Elasticsearch).
fn open_existing(
    term: &mut Terminal,
    dir: &Path,
    password: &PasswordArgs,
    access: Access,
) -> Result<Keystore, CliError> {
    // A missing config directory is a configuration error (78) for every command, as it is
    // for `create`; a directory without a keystore is Elasticsearch's "not found" (65).
    require_dir(dir)?;
    let header = keystore::read_header(dir)?.ok_or_else(|| not_found(dir))?;
    let pw = if header.has_password {
        read_keystore_password(term, password.password_file.as_deref())?
    } else {
        empty_password()
    };
    let ks = match access {
        Access::Read => keystore::load_read_only(dir, &pw)?,
        Access::Update => keystore::load(dir, &pw)?,
    };
    Ok(ks)
}

/// Load the keystore for `add`/`add-file`, or start a new one when it is missing (asking
/// first unless forced). `None` means the user declined and the message was printed.
fn open_or_create(
    term: &mut Terminal,
    dir: &Path,
    force: bool,
    password: &PasswordArgs,
) -> Result<Option<Keystore>, CliError> {
    if keystore::read_header(dir)?.is_some() {
        let ks = open_existing(term, dir, password, Access::Update)?;
        require_writable_version(dir, &ks)?;
        return Ok(Some(ks));
    }
    if !force
        && !term
            .prompt_yes_no("The elasticsearch keystore does not exist. Do you want to create it?")?
    {
        term.println(Verbosity::Normal, "Exiting without creating keystore.")?;
        return Ok(None);
    }
    // Unlike Elasticsearch, the new keystore is saved once, with its values, at the end: a
    // failure on the way leaves no half-made keystore behind. One that another program
    // creates meanwhile is not written over: these values are added to it.
    let mut ks = Keystore::new(FormatVersion::LATEST)?;
    ks.expect_no_file();
    Ok(Some(ks))
}

fn not_found(dir: &Path) -> CliError {
    keystore::KeystoreError::NotFound {
        path: keystore::keystore_path(dir),
    }
    .into()
}

/// A format-3 keystore (Elasticsearch 6.3-6.7) is kept as it is rather than silently
/// rewritten in a format its node may not read.
fn require_writable_version(dir: &Path, ks: &Keystore) -> Result<(), CliError> {
    if ks.version().is_writable() {
        return Ok(());
    }
    Err(CliError::new(
        ExitCode::Config,
        format!(
            "the keystore [{}] is in format version {}, which this tool reads but does not write; run 'keystore upgrade --format-version 4' first if every node reading it runs Elasticsearch 6.8 or later",
            keystore::keystore_path(dir).display(),
            ks.version().number()
        ),
    ))
}

fn create(term: &mut Terminal, dir: &Path, args: CreateArgs) -> Result<ExitCode, CliError> {
    let version = args.version.requested()?.unwrap_or(FormatVersion::LATEST);
    require_dir(dir)?;
    // Elasticsearch reads the new password before it asks about overwriting; so do we,
    // so that piped answers line up the same way.
    let password = if args.password || args.new_password_file.is_some() {
        read_new_password(term, args.new_password_file.as_deref())?
    } else {
        empty_password()
    };
    let _lock = keystore::lock(dir)?;
    let path = keystore::keystore_path(dir);
    if path.symlink_metadata().is_ok()
        && !term.prompt_yes_no("An elasticsearch keystore already exists. Overwrite?")?
    {
        term.println(Verbosity::Normal, "Exiting without creating keystore.")?;
        return Ok(ExitCode::Ok);
    }
    let mut ks = Keystore::new(version)?;
    if !password.expose_secret().is_empty() {
        ks.set_password(password);
    }
    keystore::save(dir, &ks)?;
    term.println(
        Verbosity::Normal,
        &format!("Created elasticsearch keystore in {}", path.display()),
    )?;
    Ok(ExitCode::Ok)
}

fn list(term: &mut Terminal, dir: &Path, args: PasswordArgs) -> Result<ExitCode, CliError> {
    let ks = open_existing(term, dir, &args, Access::Read)?;
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
        if out.symlink_metadata().is_ok() {
            return Err(output_exists(out));
        }
    }
    let ks = open_existing(term, dir, &args.password, Access::Read)?;
    let value = ks.get_bytes(name).ok_or_else(|| missing_setting(name))?;
    if let Some(out) = &args.output {
        crate::fsutil::write_new_secret_file(out, value).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                output_exists(out)
            } else {
                CliError::new(
                    ExitCode::IoError,
                    format!(
                        "cannot write the value of [{name}] to [{}]: {e}",
                        out.display()
                    ),
                )
            }
        })?;
        return Ok(ExitCode::Ok);
    }
    if !term.stdout_is_tty() {
        // A pipe or file gets the exact bytes, with no newline added (as Elasticsearch).
        term.write_stdout(value)?;
        return Ok(ExitCode::Ok);
    }
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

fn output_exists(out: &Path) -> CliError {
    super::secret_output::exists_error("-o", out)
}

fn missing_setting(name: &str) -> CliError {
    CliError::new(
        ExitCode::Config,
        format!("Setting [{name}] does not exist in the keystore."),
    )
}

fn add(term: &mut Terminal, dir: &Path, args: AddArgs) -> Result<ExitCode, CliError> {
    if args.names.is_empty() {
        return Err(CliError::usage("the setting names can not be empty"));
    }
    check_names(args.names.iter().map(String::as_str))?;
    require_dir(dir)?;
    let _lock = keystore::lock(dir)?;
    let Some(mut ks) = open_or_create(term, dir, args.force, &args.password)? else {
        return Ok(ExitCode::Ok);
    };
    for name in &args.names {
        if !args.force && !confirm_overwrite(term, &ks, name)? {
            return Ok(ExitCode::Ok);
        }
        // With -x Elasticsearch shows no prompt; on a TTY the read is hidden either way.
        let prompt = if args.stdin {
            String::new()
        } else {
            format!("Enter value for {name}: ")
        };
        let value = term.read_secret(&prompt)?;
        ks.set_string(name, value.expose_secret())?;
    }
    keystore::save(dir, &ks)?;
    Ok(ExitCode::Ok)
}

/// Ask before replacing an existing setting; on "no", say so and save nothing at all.
fn confirm_overwrite(term: &mut Terminal, ks: &Keystore, name: &str) -> Result<bool, CliError> {
    if !ks.contains(name) {
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
        let name = pair[0].to_str().ok_or_else(|| {
            CliError::new(
                ExitCode::DataError,
                format!(
                    "Setting name [{}] does not match the allowed setting name pattern [[A-Za-z0-9_\\-.]+]",
                    pair[0].to_string_lossy()
                ),
            )
        })?;
        settings.push((name, PathBuf::from(&pair[1])));
    }
    check_names(settings.iter().map(|(name, _)| *name))?;
    // Every file is read before the keystore is touched, so a missing one changes nothing.
    let mut contents = Vec::with_capacity(settings.len());
    for (_, path) in &settings {
        contents.push(read_value_file(path)?);
    }
    require_dir(dir)?;
    let _lock = keystore::lock(dir)?;
    let Some(mut ks) = open_or_create(term, dir, args.force, &args.password)? else {
        return Ok(ExitCode::Ok);
    };
    for ((name, _), bytes) in settings.iter().zip(&contents) {
        if !args.force && !confirm_overwrite(term, &ks, name)? {
            return Ok(ExitCode::Ok);
        }
        ks.set_bytes(name, bytes)?;
    }
    keystore::save(dir, &ks)?;
    Ok(ExitCode::Ok)
}

/// The exact bytes of a file given to `add-file`.
fn read_value_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    std::fs::read(path).map(Zeroizing::new).map_err(|e| {
        let message = if e.kind() == std::io::ErrorKind::NotFound {
            format!("File [{}] does not exist", path.display())
        } else {
            format!("cannot read file [{}]: {e}", path.display())
        };
        CliError::new(ExitCode::IoError, message)
    })
}

/// Lock the config directory of a keystore that must already exist. The existence check
/// comes first so a missing keystore (or config directory) gets Elasticsearch's message.
fn lock_existing(dir: &Path) -> Result<keystore::KeystoreLock, CliError> {
    require_dir(dir)?;
    if keystore::read_header(dir)?.is_none() {
        return Err(not_found(dir));
    }
    Ok(keystore::lock(dir)?)
}

fn remove(term: &mut Terminal, dir: &Path, args: RemoveArgs) -> Result<ExitCode, CliError> {
    if args.names.is_empty() {
        return Err(CliError::usage(
            "Must supply at least one setting to remove",
        ));
    }
    let _lock = lock_existing(dir)?;
    let mut ks = open_existing(term, dir, &args.password, Access::Update)?;
    require_writable_version(dir, &ks)?;
    for name in &args.names {
        if !ks.remove(name) {
            return Err(missing_setting(name));
        }
        if name == keystore::SEED_SETTING {
            // As Elasticsearch: the file is saved without a seed (the node adds one at start),
            // not with a new one.
            ks.omit_seed_on_save();
        }
    }
    keystore::save(dir, &ks)?;
    Ok(ExitCode::Ok)
}

fn upgrade(term: &mut Terminal, dir: &Path, args: UpgradeArgs) -> Result<ExitCode, CliError> {
    let target = args.version.requested()?.unwrap_or(FormatVersion::LATEST);
    let _lock = lock_existing(dir)?;
    let mut ks = open_existing(term, dir, &args.password, Access::Update)?;
    let changed_version = ks.version() != target;
    ks.set_version(target)?;
    let added_seed = ks.ensure_seed();
    // Like Elasticsearch, an up-to-date keystore is not rewritten (a read-only config
    // directory stays fine), and nothing is printed either way.
    if changed_version || added_seed {
        keystore::save(dir, &ks)?;
    }
    Ok(ExitCode::Ok)
}

fn passwd(term: &mut Terminal, dir: &Path, args: PasswdArgs) -> Result<ExitCode, CliError> {
    let _lock = lock_existing(dir)?;
    let mut ks = open_existing(term, dir, &args.password, Access::Update)?;
    require_writable_version(dir, &ks)?;
    let new_password = read_new_password(term, args.new_password_file.as_deref())?;
    ks.set_password(new_password);
    keystore::save(dir, &ks)?;
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
    match keystore::read_header(dir)? {
        None => {
            term.eprintln(Verbosity::Normal, "ERROR: Elasticsearch keystore not found")?;
            Ok(ExitCode::Negative)
        }
        Some(header) if !header.has_password => {
            term.eprintln(
                Verbosity::Normal,
                "ERROR: Keystore is not password-protected",
            )?;
            Ok(ExitCode::Negative)
        }
        Some(_) => {
            term.println(Verbosity::Normal, "Keystore is password-protected")?;
            Ok(ExitCode::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn non_secure_realm_settings_are_refused_and_secure_ones_pass() {
        for key in crate::esconfig::NON_SECURE_REALM_SETTINGS {
            let name = format!("xpack.security.authc.realms.microsoft_graph.graph1.{key}");
            let err = refuse_non_secure(&name).unwrap_err();
            assert_eq!(err.code, ExitCode::DataError);
            assert!(err.message.contains(&name), "{}", err.message);
            assert!(err.message.contains("elasticsearch.yml"), "{}", err.message);
        }
        for ok in [
            "xpack.security.authc.realms.microsoft_graph.graph1.client_secret",
            "xpack.security.authc.realms.microsoft_graph.client_id",
            "xpack.security.authc.realms.microsoft_graph..client_id",
            "xpack.security.authc.realms.oidc.oidc1.client_id",
            "xpack.security.authc.realms.microsoft_graph.graph1.client_id.extra",
            "bootstrap.password",
        ] {
            assert!(refuse_non_secure(ok).is_ok(), "{ok}");
        }
    }
}

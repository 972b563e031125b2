//! Terminal input and output for the keystore commands, with Elasticsearch's semantics.
//!
//! Elasticsearch's `Terminal` reads the keystore password, then each setting value, then any
//! `[y/N]` answer from ONE reader over stdin. Scripts depend on that order
//! (`printf 'pw\nvalue\n' | elasticsearch-keystore add -x name`), so every read here goes
//! through the single buffered reader a [`Terminal`] owns. On a TTY, secrets are read with
//! echo off; without one, prompts go to stderr so stdout stays clean for `list`/`show`.
//!
//! A `Terminal` is built from any `BufRead` plus flags, so the command logic is unit-testable
//! without a real TTY ([`Terminal::new`], [`Terminal::with_hidden_input`]).

use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;

use crate::cli::Verbosity;
use crate::exit::{CliError, ExitCode, UserFacing};
use crate::secret::{ExposeSecret, SecretString, Zeroize, Zeroizing};

/// Elasticsearch's message when stdin ends before a line could be read (its exit code is 70).
pub const STDIN_UNREADABLE: &str =
    "unable to read from standard input; is standard input open and a tty attached?";

/// Reading from the terminal failed in a way the commands tell apart: stdin that has ended
/// (or a hidden read that failed) is Elasticsearch's "unable to read" error, which the
/// keystore password read turns into a message saying how to pass the password.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// Stdin ended before a line could be read.
    #[error("{}", STDIN_UNREADABLE)]
    StdinEnded,
    /// The hidden read from the TTY failed.
    #[error("{} ({source})", STDIN_UNREADABLE)]
    HiddenRead {
        #[source]
        source: io::Error,
    },
    /// A protected keystore, no password source, no terminal, and stdin already at its end.
    #[error(
        "{} The keystore is password-protected and no password was given: pass it with --password-file FILE, {}, or {} (a file of mode 600 or 400), or as the first line of standard input",
        STDIN_UNREADABLE,
        ENV_KEYSTORE_PASSWORD,
        ENV_KEYSTORE_PASSWORD_FILE
    )]
    NoPasswordGiven,
}

impl TerminalError {
    /// Whether this says "stdin could not be read" (ended, or the hidden read failed).
    pub fn is_stdin_unreadable(&self) -> bool {
        matches!(
            self,
            TerminalError::StdinEnded | TerminalError::HiddenRead { .. }
        )
    }
}

impl UserFacing for TerminalError {
    /// Elasticsearch's code for an unreadable stdin (70), kept so scripts written for its
    /// CLI keep working.
    fn exit_code(&self) -> ExitCode {
        ExitCode::Software
    }
}

/// Prompt for the password of an existing keystore (`KeyStoreWrapper.PROMPT`, space included).
pub const PASSWORD_PROMPT: &str = "Enter password for the elasticsearch keystore : ";
/// First prompt for a new keystore password.
pub const NEW_PASSWORD_PROMPT: &str =
    "Enter new password for the elasticsearch keystore (empty for no password): ";
/// Second prompt for a new keystore password.
pub const NEW_PASSWORD_AGAIN_PROMPT: &str = "Enter same password again: ";

/// Environment variable holding the keystore password (as in the Elasticsearch Docker image).
pub const ENV_KEYSTORE_PASSWORD: &str = "KEYSTORE_PASSWORD";
/// Environment variable naming a file that holds the keystore password.
pub const ENV_KEYSTORE_PASSWORD_FILE: &str = "KEYSTORE_PASSWORD_FILE";

/// Reads one hidden line from the controlling terminal after showing a prompt.
pub type HiddenReader = Box<dyn FnMut(&str) -> io::Result<String>>;

/// The process's view of stdin/stdout/stderr for one command run.
pub struct Terminal {
    input: Box<dyn BufRead>,
    /// Present when stdin is a TTY: secrets are then read with echo off.
    hidden: Option<HiddenReader>,
    stdout: Box<dyn Write>,
    stderr: Box<dyn Write>,
    stdout_is_tty: bool,
    verbosity: Verbosity,
}

impl Terminal {
    /// The real terminal: the locked process stdin as the one shared reader, hidden input
    /// through `/dev/tty` when stdin is a TTY.
    pub fn stdio(verbosity: Verbosity) -> Terminal {
        let stdin = io::stdin();
        let hidden: Option<HiddenReader> = if stdin.is_terminal() {
            Some(Box::new(|prompt: &str| rpassword::prompt_password(prompt)))
        } else {
            None
        };
        Terminal {
            input: Box::new(stdin.lock()),
            hidden,
            stdout: Box::new(io::stdout()),
            stderr: Box::new(io::stderr()),
            stdout_is_tty: io::stdout().is_terminal(),
            verbosity,
        }
    }

    /// A non-interactive terminal reading from `input` (stdout is not a TTY, output goes to
    /// the process's stdout/stderr until [`Terminal::with_output`] redirects it).
    pub fn new(input: impl BufRead + 'static, verbosity: Verbosity) -> Terminal {
        Terminal {
            input: Box::new(input),
            hidden: None,
            stdout: Box::new(io::stdout()),
            stderr: Box::new(io::stderr()),
            stdout_is_tty: false,
            verbosity,
        }
    }

    /// Send output to the given writers instead of the process's stdout/stderr.
    pub fn with_output(
        mut self,
        stdout: impl Write + 'static,
        stderr: impl Write + 'static,
    ) -> Self {
        self.stdout = Box::new(stdout);
        self.stderr = Box::new(stderr);
        self
    }

    /// Behave as if stdin were a TTY whose hidden reads are answered by `reader`.
    pub fn with_hidden_input(mut self, reader: HiddenReader) -> Self {
        self.hidden = Some(reader);
        self
    }

    /// Behave as if stdout were (or were not) a TTY.
    pub fn with_stdout_tty(mut self, is_tty: bool) -> Self {
        self.stdout_is_tty = is_tty;
        self
    }

    /// Whether stdin is a TTY (a person can be prompted).
    pub fn is_interactive(&self) -> bool {
        self.hidden.is_some()
    }

    pub fn stdout_is_tty(&self) -> bool {
        self.stdout_is_tty
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// Read the next line of stdin as a secret, without the trailing `\n` or `\r\n`.
    ///
    /// A last line without a newline is returned as is; stdin that has ended with no bytes
    /// left is Elasticsearch's "unable to read from standard input" error (exit 70).
    pub fn read_line(&mut self) -> Result<SecretString, CliError> {
        let mut line = Zeroizing::new(Vec::with_capacity(256));
        let read = self.input.read_until(b'\n', &mut line).map_err(|e| {
            CliError::new(
                ExitCode::IoError,
                format!("cannot read standard input: {e}"),
            )
        })?;
        if read == 0 {
            return Err(TerminalError::StdinEnded.into());
        }
        strip_line_ending(&mut line);
        secret_from_utf8(line, "standard input")
    }

    /// Read a secret: hidden behind `prompt` on a TTY, else the next stdin line (the prompt,
    /// when not empty, goes to stderr as Elasticsearch's non-console terminal does).
    pub fn read_secret(&mut self, prompt: &str) -> Result<SecretString, CliError> {
        if let Some(hidden) = self.hidden.as_mut() {
            return hidden(prompt)
                .map(SecretString::from)
                .map_err(|source| TerminalError::HiddenRead { source }.into());
        }
        self.ask(prompt)
    }

    /// Show `prompt` and read the answer line. Without a terminal nobody's Enter key ends the
    /// prompt's line, so it is ended here: whatever follows on stderr (an `ERROR: …` line, the
    /// next prompt) starts a line of its own.
    fn ask(&mut self, prompt: &str) -> Result<SecretString, CliError> {
        self.prompt(prompt)?;
        let line = self.read_line();
        if !prompt.is_empty() && !self.is_interactive() {
            let _ = writeln!(self.stderr).and_then(|_| self.stderr.flush());
        }
        line
    }

    /// Ask a yes/no question, default No. `y`/`n` in any case; an empty line means No;
    /// anything else is asked again. The end of stdin is an error, never a silent answer.
    pub fn prompt_yes_no(&mut self, question: &str) -> Result<bool, CliError> {
        let prompt = format!("{question} [y/N]");
        loop {
            let answer = self.ask(&prompt)?;
            let answer = answer.expose_secret().to_lowercase();
            match answer.as_str() {
                "" | "n" => return Ok(false),
                "y" => return Ok(true),
                other => {
                    // A line meant as a setting value can land here when piped input is
                    // misaligned, so the answer is repeated only when a person typed it.
                    let msg = if self.is_interactive() {
                        format!("Did not understand answer '{other}'")
                    } else {
                        "Did not understand answer (expected y or n)".to_owned()
                    };
                    self.eprintln(Verbosity::Silent, &msg)?;
                }
            }
        }
    }

    /// Print a line on stdout when the current verbosity is at least `level`.
    pub fn println(&mut self, level: Verbosity, msg: &str) -> Result<(), CliError> {
        if self.verbosity >= level {
            writeln!(self.stdout, "{msg}")
                .and_then(|_| self.stdout.flush())
                .map_err(stdout_error)?;
        }
        Ok(())
    }

    /// Print a line on stderr when the current verbosity is at least `level`.
    pub fn eprintln(&mut self, level: Verbosity, msg: &str) -> Result<(), CliError> {
        if self.verbosity >= level {
            writeln!(self.stderr, "{msg}")
                .and_then(|_| self.stderr.flush())
                .map_err(stderr_error)?;
        }
        Ok(())
    }

    /// Write requested output (a `show` value) to stdout exactly as given.
    pub fn write_stdout(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        self.stdout
            .write_all(bytes)
            .and_then(|_| self.stdout.flush())
            .map_err(stdout_error)
    }

    fn prompt(&mut self, prompt: &str) -> Result<(), CliError> {
        if prompt.is_empty() {
            return Ok(());
        }
        write!(self.stderr, "{prompt}")
            .and_then(|_| self.stderr.flush())
            .map_err(stderr_error)
    }
}

fn stdout_error(e: io::Error) -> CliError {
    CliError::new(
        ExitCode::IoError,
        format!("cannot write to standard output: {e}"),
    )
}

fn stderr_error(e: io::Error) -> CliError {
    CliError::new(
        ExitCode::IoError,
        format!("cannot write to standard error: {e}"),
    )
}

/// Remove one trailing `\n` and a `\r` just before it.
fn strip_line_ending(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
}

/// Turn secret bytes into a `SecretString` without leaving an un-zeroized copy behind.
fn secret_from_utf8(mut bytes: Zeroizing<Vec<u8>>, source: &str) -> Result<SecretString, CliError> {
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(SecretString::from(text)),
        Err(e) => {
            // Dropping the Zeroizing wrapper clears the bytes handed back by the error.
            drop(Zeroizing::new(e.into_bytes()));
            Err(CliError::new(
                ExitCode::DataError,
                format!("{source} is not valid UTF-8 text"),
            ))
        }
    }
}

/// Read a password file the way Elasticsearch's Docker image hands one to Elasticsearch:
/// `elasticsearch-env-from-file` sets `KEYSTORE_PASSWORD="$(cat FILE)"` (command substitution
/// drops every trailing newline) and the entrypoint feeds that to stdin with `<<<`, where ES's
/// terminal reads one line and drops one `\r` before its end. So a file written by `echo`, by an
/// editor that adds a blank line, or on Windows (`\r\n`) all give the same password ES uses.
fn read_password_file(path: &Path, what: &str) -> Result<SecretString, CliError> {
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::new(
            ExitCode::IoError,
            format!("cannot read the {what} [{}]: {e}", path.display()),
        )
    })?;
    let mut bytes = Zeroizing::new(bytes);
    first_line_as_docker_reads_it(&mut bytes);
    secret_from_utf8(bytes, &format!("the {what} [{}]", path.display()))
}

/// `$(cat FILE)` then one line read by ES's terminal: the text before the first `\n`, less one
/// `\r` at its end. (Dropping the trailing newlines first cannot change the first line.)
fn first_line_as_docker_reads_it(bytes: &mut Zeroizing<Vec<u8>>) {
    if let Some(end) = bytes.iter().position(|&b| b == b'\n') {
        // The rest is cleared before it is cut off: the bytes are later moved into a String
        // whose spare capacity nothing would clear.
        bytes[end..].zeroize();
        bytes.truncate(end);
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
}

/// Refuse a `KEYSTORE_PASSWORD_FILE` that others could read, as the Docker image's
/// `elasticsearch-env-from-file` does (only modes 400 and 600 are accepted).
fn check_private_mode(path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        CliError::new(
            ExitCode::IoError,
            format!(
                "cannot read the password file [{}] named by {ENV_KEYSTORE_PASSWORD_FILE}: {e}",
                path.display()
            ),
        )
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode == 0o400 || mode == 0o600 {
        Ok(())
    } else {
        Err(CliError::new(
            ExitCode::Config,
            format!(
                "File [{}] named by {ENV_KEYSTORE_PASSWORD_FILE} must have file permissions 400 or 600, but actually has: {mode:o}; run chmod 600 on it",
                path.display()
            ),
        ))
    }
}

/// A non-empty environment variable (an empty one counts as unset).
fn non_empty_env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The password of an existing, password-protected keystore, from the first source present:
/// `--password-file FILE`, `$KEYSTORE_PASSWORD`, `$KEYSTORE_PASSWORD_FILE` (mode 400/600
/// only), a hidden prompt on a TTY, else the next line of stdin.
///
/// Call it only when the keystore's header says it has a password: Elasticsearch reads no
/// password line for a password-less keystore, and scripts rely on that.
pub fn read_keystore_password(
    term: &mut Terminal,
    password_file: Option<&Path>,
) -> Result<SecretString, CliError> {
    resolve_keystore_password(term, password_file, non_empty_env)
}

fn resolve_keystore_password(
    term: &mut Terminal,
    password_file: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<SecretString, CliError> {
    if let Some(path) = password_file {
        return read_password_file(path, "password file");
    }
    let from_env = env(ENV_KEYSTORE_PASSWORD);
    let file_from_env = env(ENV_KEYSTORE_PASSWORD_FILE);
    match (from_env, file_from_env) {
        (Some(_), Some(_)) => Err(CliError::new(
            ExitCode::Config,
            format!(
                "Both {ENV_KEYSTORE_PASSWORD_FILE} and {ENV_KEYSTORE_PASSWORD} are set. These are mutually exclusive; unset one of them"
            ),
        )),
        (Some(value), None) => {
            // The Docker entrypoint passes it to ES on stdin (`<<<"$KEYSTORE_PASSWORD"`),
            // which reads one line of it: the same value as from a file.
            let mut bytes = Zeroizing::new(value.into_encoded_bytes());
            first_line_as_docker_reads_it(&mut bytes);
            secret_from_utf8(bytes, ENV_KEYSTORE_PASSWORD)
        }
        (None, Some(file)) => {
            let path = Path::new(&file);
            check_private_mode(path)?;
            read_password_file(path, &format!("password file named by {ENV_KEYSTORE_PASSWORD_FILE}"))
        }
        (None, None) => term.read_secret(PASSWORD_PROMPT).map_err(|e| {
            let unreadable = e
                .typed()
                .and_then(|t| t.downcast_ref::<TerminalError>())
                .is_some_and(TerminalError::is_stdin_unreadable);
            if unreadable {
                TerminalError::NoPasswordGiven.into()
            } else {
                e
            }
        }),
    }
}

/// A new keystore password (`create -p`, `passwd`): `--new-password-file FILE`, else asked
/// twice, hidden on a TTY or as the next TWO stdin lines (as Elasticsearch reads it, so
/// `printf 'pw\npw\n' | … create -p` works with both tools). An empty password means
/// "no password". A mismatch is a data error whose message never contains either entry.
pub fn read_new_password(
    term: &mut Terminal,
    new_password_file: Option<&Path>,
) -> Result<SecretString, CliError> {
    if let Some(path) = new_password_file {
        return read_password_file(path, "new password file");
    }
    let first = term.read_secret(NEW_PASSWORD_PROMPT)?;
    let second = term.read_secret(NEW_PASSWORD_AGAIN_PROMPT)?;
    if first.expose_secret() != second.expose_secret() {
        return Err(CliError::new(
            ExitCode::DataError,
            "Passwords are not equal, exiting.",
        ));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::io::Cursor;
    use std::rc::Rc;

    /// A writer whose contents the test can read after the terminal has written to it.
    #[derive(Clone, Default)]
    struct Captured(Rc<RefCell<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.borrow()).into_owned()
        }
    }

    fn piped(input: &[u8], verbosity: Verbosity) -> (Terminal, Captured, Captured) {
        let out = Captured::default();
        let err = Captured::default();
        let term = Terminal::new(Cursor::new(input.to_vec()), verbosity)
            .with_output(out.clone(), err.clone());
        (term, out, err)
    }

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    #[test]
    fn read_line_strips_lf_and_crlf_and_accepts_a_last_line_without_newline() {
        let (mut t, _, _) = piped(b"one\ntwo\r\nthree", Verbosity::Normal);
        assert_eq!(t.read_line().unwrap().expose_secret(), "one");
        assert_eq!(t.read_line().unwrap().expose_secret(), "two");
        assert_eq!(t.read_line().unwrap().expose_secret(), "three");
        let err = t.read_line().unwrap_err();
        assert_eq!(err.message, STDIN_UNREADABLE);
        assert_eq!(err.code, ExitCode::Software);
    }

    #[test]
    fn read_line_keeps_an_inner_cr_and_an_empty_line_is_an_empty_value() {
        let (mut t, _, _) = piped(b"a\rb\n\n", Verbosity::Normal);
        assert_eq!(t.read_line().unwrap().expose_secret(), "a\rb");
        assert_eq!(t.read_line().unwrap().expose_secret(), "");
    }

    #[test]
    fn empty_stdin_is_the_es_error() {
        let (mut t, _, _) = piped(b"", Verbosity::Normal);
        let err = t.read_line().unwrap_err();
        assert_eq!(err.code.code(), 70);
        assert!(err.message.contains("unable to read from standard input"));
    }

    #[test]
    fn invalid_utf8_is_a_data_error_without_the_bytes() {
        let (mut t, _, _) = piped(b"\xff\xfesecret\n", Verbosity::Normal);
        let err = t.read_line().unwrap_err();
        assert_eq!(err.code, ExitCode::DataError);
        assert!(!err.message.contains("secret"));
    }

    #[test]
    fn read_secret_without_tty_prompts_on_stderr_and_reads_stdin() {
        let (mut t, out, err) = piped(b"v\n", Verbosity::Normal);
        assert_eq!(
            t.read_secret("Enter value for a: ")
                .unwrap()
                .expose_secret(),
            "v"
        );
        assert_eq!(err.text(), "Enter value for a: \n");
        assert_eq!(out.text(), "");
    }

    #[test]
    fn read_secret_on_a_tty_uses_the_hidden_reader_and_not_stdin() {
        let prompts = Rc::new(RefCell::new(Vec::new()));
        let seen = prompts.clone();
        let (t, _, _) = piped(b"visible\n", Verbosity::Normal);
        let mut t = t.with_hidden_input(Box::new(move |p: &str| {
            seen.borrow_mut().push(p.to_owned());
            Ok("hidden".to_owned())
        }));
        assert!(t.is_interactive());
        assert_eq!(t.read_secret("P: ").unwrap().expose_secret(), "hidden");
        assert_eq!(prompts.borrow().as_slice(), ["P: "]);
        // Visible answers still come from the shared stdin reader.
        assert_eq!(t.read_line().unwrap().expose_secret(), "visible");
    }

    #[test]
    fn yes_no_accepts_any_case_defaults_to_no_and_asks_again() {
        let (mut t, _, err) = piped(b"Y\nn\n\nmaybe\ny\n", Verbosity::Normal);
        assert!(t.prompt_yes_no("Overwrite?").unwrap());
        assert!(!t.prompt_yes_no("Overwrite?").unwrap());
        assert!(!t.prompt_yes_no("Overwrite?").unwrap());
        assert!(t.prompt_yes_no("Overwrite?").unwrap());
        let shown = err.text();
        assert!(shown.contains("Overwrite? [y/N]"), "{shown}");
        assert!(shown.contains("Did not understand answer"), "{shown}");
        // Piped answers are not echoed: a misaligned secret value must not be printed.
        assert!(!shown.contains("maybe"), "{shown}");
    }

    #[test]
    fn yes_no_at_end_of_input_is_an_error_not_a_no() {
        let (mut t, _, _) = piped(b"", Verbosity::Normal);
        assert_eq!(t.prompt_yes_no("Q?").unwrap_err().code.code(), 70);
    }

    #[test]
    fn println_respects_verbosity() {
        let (mut t, out, _) = piped(b"", Verbosity::Silent);
        t.println(Verbosity::Normal, "hidden").unwrap();
        t.println(Verbosity::Silent, "shown").unwrap();
        assert_eq!(out.text(), "shown\n");
        let (mut t, out, err) = piped(b"", Verbosity::Normal);
        t.println(Verbosity::Verbose, "detail").unwrap();
        t.println(Verbosity::Normal, "normal").unwrap();
        t.eprintln(Verbosity::Normal, "warn").unwrap();
        assert_eq!(out.text(), "normal\n");
        assert_eq!(err.text(), "warn\n");
    }

    #[test]
    fn keystore_password_file_is_read_as_the_docker_image_reads_it() {
        // `KEYSTORE_PASSWORD="$(cat FILE)"`, then one line of `<<<"$KEYSTORE_PASSWORD"`.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        let (mut t, _, _) = piped(b"stdin-pw\n", Verbosity::Normal);
        for (contents, expected) in [
            (&b"s3cret\n\n"[..], "s3cret"),
            (b"s3cret\n", "s3cret"),
            (b"s3cret", "s3cret"),
            (b"s3cret\r\n", "s3cret"),
            (b"s3cret\r\n\r\n", "s3cret"),
            (b"s3 cret \n", "s3 cret "),
            (b"s3cret\nsecond line\n", "s3cret"),
            (b"\n", ""),
        ] {
            std::fs::write(&file, contents).unwrap();
            let pw = resolve_keystore_password(&mut t, Some(&file), no_env).unwrap();
            assert_eq!(pw.expose_secret(), expected, "file {contents:?}");
        }
        // The stdin line was not consumed.
        assert_eq!(t.read_line().unwrap().expose_secret(), "stdin-pw");
    }

    #[test]
    fn keystore_password_env_is_one_line_as_the_docker_entrypoint_feeds_it() {
        let (mut t, _, _) = piped(b"", Verbosity::Normal);
        let env = |k: &str| (k == ENV_KEYSTORE_PASSWORD).then(|| OsString::from("pw\r\n"));
        assert_eq!(
            resolve_keystore_password(&mut t, None, env)
                .unwrap()
                .expose_secret(),
            "pw"
        );
    }

    #[test]
    fn no_password_without_a_terminal_names_the_three_ways_to_pass_it() {
        let (mut t, _, err) = piped(b"", Verbosity::Normal);
        let e = resolve_keystore_password(&mut t, None, no_env).unwrap_err();
        assert_eq!(e.code.code(), 70);
        assert!(e.message.starts_with(STDIN_UNREADABLE), "{}", e.message);
        for way in [
            "--password-file",
            "KEYSTORE_PASSWORD,",
            "KEYSTORE_PASSWORD_FILE",
        ] {
            assert!(e.message.contains(way), "{way} missing: {}", e.message);
        }
        // The prompt's line is ended, so the ERROR line starts on its own.
        assert_eq!(err.text(), format!("{PASSWORD_PROMPT}\n"));
    }

    #[test]
    fn only_an_unreadable_stdin_becomes_the_no_password_error_and_it_stays_typed() {
        // Stdin at its end: the typed variant, not its text, selects the conversion.
        let (mut t, _, _) = piped(b"", Verbosity::Normal);
        let e = resolve_keystore_password(&mut t, None, no_env).unwrap_err();
        let typed = e.typed().and_then(|t| t.downcast_ref::<TerminalError>());
        assert!(
            matches!(typed, Some(TerminalError::NoPasswordGiven)),
            "{e:?}"
        );

        // A failed hidden read on a TTY is "unreadable" too: the user sees the NoPasswordGiven
        // line (exit code 70), as before; the terminal's own io error is not carried on.
        let mut t = Terminal::new(io::Cursor::new(Vec::new()), Verbosity::Normal)
            .with_output(Captured::default(), Captured::default())
            .with_hidden_input(Box::new(|_: &str| Err(io::Error::other("tty gone"))));
        let e = resolve_keystore_password(&mut t, None, no_env).unwrap_err();
        assert!(e.is::<TerminalError>(), "{e:?}");
        assert_eq!(e.code, ExitCode::Software);

        // Any other read failure passes through unchanged (invalid UTF-8 is a data error).
        let (mut t, _, _) = piped(b"\xff\n", Verbosity::Normal);
        let e = resolve_keystore_password(&mut t, None, no_env).unwrap_err();
        assert_eq!(e.code, ExitCode::DataError);
        assert!(!e.message.starts_with(STDIN_UNREADABLE), "{}", e.message);
    }

    #[test]
    fn keystore_password_missing_file_is_an_io_error_naming_it() {
        let (mut t, _, _) = piped(b"", Verbosity::Normal);
        let err = resolve_keystore_password(&mut t, Some(Path::new("/nonexistent/pw")), no_env)
            .unwrap_err();
        assert_eq!(err.code, ExitCode::IoError);
        assert!(err.message.contains("/nonexistent/pw"), "{}", err.message);
    }

    #[test]
    fn keystore_password_env_then_env_file_then_stdin() {
        let (mut t, _, _) = piped(b"from-stdin\n", Verbosity::Normal);
        let env = |k: &str| (k == ENV_KEYSTORE_PASSWORD).then(|| OsString::from("from-env"));
        assert_eq!(
            resolve_keystore_password(&mut t, None, env)
                .unwrap()
                .expose_secret(),
            "from-env"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-env-file\n").unwrap();
        let path = file.clone().into_os_string();
        let env_file = move |k: &str| (k == ENV_KEYSTORE_PASSWORD_FILE).then(|| path.clone());
        use std::os::unix::fs::PermissionsExt;
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(
                resolve_keystore_password(&mut t, None, &env_file)
                    .unwrap()
                    .expose_secret(),
                "from-env-file"
            );
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = resolve_keystore_password(&mut t, None, &env_file).unwrap_err();
        assert_eq!(err.code, ExitCode::Config);
        assert!(err.message.contains("400 or 600"), "{}", err.message);
        assert!(err.message.contains("644"), "{}", err.message);

        assert_eq!(
            resolve_keystore_password(&mut t, None, no_env)
                .unwrap()
                .expose_secret(),
            "from-stdin"
        );
    }

    #[test]
    fn keystore_password_both_env_vars_is_refused() {
        let (mut t, _, _) = piped(b"", Verbosity::Normal);
        let both = |_: &str| Some(OsString::from("x"));
        let err = resolve_keystore_password(&mut t, None, both).unwrap_err();
        assert_eq!(err.code, ExitCode::Config);
        assert!(err.message.contains("mutually exclusive"));
    }

    #[test]
    fn new_password_is_read_twice_and_a_mismatch_never_shows_either() {
        let (mut t, _, err) = piped(
            b"alpha-pw\nalpha-pw\nbeta-pw\ngamma-pw\n",
            Verbosity::Normal,
        );
        assert_eq!(
            read_new_password(&mut t, None).unwrap().expose_secret(),
            "alpha-pw"
        );
        assert!(err.text().contains(NEW_PASSWORD_PROMPT));
        assert!(err.text().contains(NEW_PASSWORD_AGAIN_PROMPT));
        let e = read_new_password(&mut t, None).unwrap_err();
        assert_eq!(e.code, ExitCode::DataError);
        assert_eq!(e.message, "Passwords are not equal, exiting.");
        assert!(!err.text().contains("beta") && !err.text().contains("gamma"));
    }

    #[test]
    fn new_password_from_file_and_empty_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("new");
        std::fs::write(&file, "n3w\n").unwrap();
        let (mut t, _, _) = piped(b"\n\n", Verbosity::Normal);
        assert_eq!(
            read_new_password(&mut t, Some(&file))
                .unwrap()
                .expose_secret(),
            "n3w"
        );
        assert_eq!(read_new_password(&mut t, None).unwrap().expose_secret(), "");
    }
}

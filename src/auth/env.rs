//! The environment `select` looks at, behind a trait so tests can hand it a map instead of
//! changing the process environment (which other tests running in parallel would see).

use std::collections::HashMap;
use std::io::IsTerminal;

use crate::secret::SecretString;

/// Environment variables and terminal state.
pub trait Env {
    /// The variable's value; `None` when unset, empty or not UTF-8.
    fn var(&self, name: &str) -> Option<String>;

    /// Whether a person can see what is written to stderr (device code needs one).
    fn stderr_is_terminal(&self) -> bool;

    /// A variable that holds a secret, straight into a secret type.
    fn secret_var(&self, name: &str) -> Option<SecretString> {
        self.var(name).map(SecretString::from)
    }
}

/// The real process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn stderr_is_terminal(&self) -> bool {
        std::io::stderr().is_terminal()
    }
}

/// A fixed set of variables (for tests and for callers that build the environment themselves).
#[derive(Default, Clone)]
pub struct MapEnv {
    vars: HashMap<String, String>,
    terminal: bool,
}

impl MapEnv {
    pub fn new() -> Self {
        MapEnv::default()
    }

    /// Add or replace a variable.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }

    /// Pretend stderr is (or is not) a terminal.
    pub fn terminal(mut self, yes: bool) -> Self {
        self.terminal = yes;
        self
    }
}

impl std::fmt::Debug for MapEnv {
    // Values may be secrets (AZURE_CLIENT_SECRET): show only the names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("MapEnv")
            .field("vars", &names)
            .field("terminal", &self.terminal)
            .finish()
    }
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }

    fn stderr_is_terminal(&self) -> bool {
        self.terminal
    }
}

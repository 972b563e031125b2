//! The keystore commands' operations on a config dir: where the dir is, which checks a
//! setting name passes, whether a password is needed, the open-or-create policy, and what
//! each verb (`create`, `add`, `add-file`, `remove`, `upgrade`, `passwd`, `show -o`) changes.
//!
//! The command line (`cli::keystore_cmd`) asks the questions and prints; everything it needs
//! to decide comes from here as a value (`Sealed::needs_password`, `AddTarget::Missing`,
//! `CreateTarget::replaces_existing`, `Change`, `Upgrade`), so a test of this layer reaches
//! every decision. Passwords and values arrive already read (`SecretString`,
//! `Zeroizing<Vec<u8>>`); nothing here touches a terminal.
//!
//! Every modifying operation holds the keystore lock from load to save (the lock lives in
//! `Edit`/`CreateTarget`), so two runs at once never lose an update.

mod dir;
mod error;
mod session;

pub use dir::{
    check_names, config_dir, config_dir_from_env, password_state, read_value_file,
    refuse_existing_output, refuse_non_secure, requested_version, require_dir, setting_name,
    write_value, PasswordState, ENV_PATH_CONF,
};
pub use error::KeystoreOpsError;
pub use session::{
    find, find_if_present, lock_existing, lock_for_add, lock_for_create, AddTarget, Change,
    CreateTarget, Edit, NewKeystore, Sealed, Upgrade,
};

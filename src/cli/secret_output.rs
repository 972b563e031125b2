//! Files the program writes a secret into at the user's request: the rule and its messages
//! are the library's (`crate::secret_file`); these wrappers give the commands a `CliError`.

use std::path::Path;

use crate::exit::CliError;
use crate::secret_file;

/// Check, before any change, that `path` can be created: it does not exist (not even as a
/// dangling symlink) and its directory does.
pub fn check_new(flag: &str, path: &Path) -> Result<(), CliError> {
    Ok(secret_file::check_new(flag, path)?)
}

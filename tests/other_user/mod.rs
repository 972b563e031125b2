//! Running an executable as another user (`nobody`) from tests that run as root.
//!
//! Root ignores file permissions, so tests of "not readable"/"not writable" run the tool as
//! `nobody`. That user must be able to reach the executable: when the checkout lives under a
//! directory others cannot enter (e.g. a `mktemp -d` folder, mode 0700), the executable is
//! copied into a world-readable temporary directory first.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A path from which other users can run `exe`: `exe` itself when they can reach it, else a
/// copy (kept alive by the returned guard).
pub fn executable_for_others(exe: &Path) -> (PathBuf, Option<tempfile::TempDir>) {
    if others_can_run(exe) {
        return (exe.to_path_buf(), None);
    }
    let dir = tempfile::Builder::new()
        .prefix("exe-for-nobody-")
        .tempdir()
        .expect("temp dir for the executable copy");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod the copy's directory");
    let copy = dir.path().join(exe.file_name().expect("executable name"));
    std::fs::copy(exe, &copy).expect("copy the executable");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the copy");
    (copy, Some(dir))
}

/// Whether users other than the owner can execute `exe`: the file is executable by others
/// and every directory above it is searchable by others.
fn others_can_run(exe: &Path) -> bool {
    let Ok(exe) = exe.canonicalize() else {
        return false;
    };
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode())
            .unwrap_or(0)
    };
    mode(&exe) & 0o001 != 0 && exe.ancestors().skip(1).all(|dir| mode(dir) & 0o001 != 0)
}

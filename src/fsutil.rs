//! Crash-safe file replacement and secret-file creation, shared by the keystore, the
//! `elasticsearch.yml` editor and the commands that write secrets to files.
//!
//! Replacing a file goes: temp file next to the target, created exclusively with mode 0600
//! (so a secret is never readable by others, whatever the umask), written, set to its final
//! mode, fsynced; later renamed over the target and the directory fsynced. The target is
//! not touched before the rename, and a temp file that is not committed is removed, so a
//! failure at any step leaves the old file exactly as it was.
//!
//! Preparing and committing are separate so a caller can prepare several files (one per
//! config directory) and commit them only when all were written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The step of a replacement that failed, carried inside the `io::Error` so callers can give
/// step-specific advice (e.g. "the directory is not writable") while the error kind stays
/// the operating system's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceStep {
    RemoveStaleTemp,
    CreateTemp,
    WriteTemp,
    Rename,
    SyncDirectory,
}

/// An `io::Error` payload naming the step and the file involved.
#[derive(Debug, thiserror::Error)]
#[error("{} [{}]: {source}", step_text(*.step), path.display())]
pub struct ReplaceFailure {
    pub step: ReplaceStep,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn step_text(step: ReplaceStep) -> &'static str {
    match step {
        ReplaceStep::RemoveStaleTemp => "cannot remove the stale temporary file",
        ReplaceStep::CreateTemp => "cannot create the temporary file",
        ReplaceStep::WriteTemp => "cannot write the temporary file",
        ReplaceStep::Rename => "cannot rename the temporary file over its target",
        ReplaceStep::SyncDirectory => "cannot sync the directory after renaming into it",
    }
}

/// The `io::Error` payload (kind `PermissionDenied`) for a refused owner change.
#[derive(Debug, thiserror::Error)]
#[error("will not overwrite [{}], because this incurs changing the file owner (owned by uid {owner_uid}, this process writes as uid {writer_uid})", target.display())]
pub struct OwnerChangeRefused {
    pub target: PathBuf,
    pub owner_uid: u32,
    pub writer_uid: u32,
}

fn failure(step: ReplaceStep, path: &Path, source: io::Error) -> io::Error {
    io::Error::new(
        source.kind(),
        ReplaceFailure {
            step,
            path: path.to_path_buf(),
            source,
        },
    )
}

/// If `err` came from a replacement step, that step.
pub fn failed_step(err: &io::Error) -> Option<ReplaceStep> {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<ReplaceFailure>())
        .map(|f| f.step)
}

/// If `err` is a refused owner change, its details.
pub fn owner_change(err: &io::Error) -> Option<&OwnerChangeRefused> {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<OwnerChangeRefused>())
}

/// A fully written and fsynced temp file next to its target, not yet renamed.
/// Dropping it without [`PreparedFile::commit`] removes the temp file.
#[derive(Debug)]
pub struct PreparedFile {
    temp: PathBuf,
    target: PathBuf,
    /// Identity of our temp file, so we never rename or delete a file another process put
    /// at the same temp path.
    dev: u64,
    ino: u64,
    done: bool,
}

impl PreparedFile {
    pub fn target(&self) -> &Path {
        &self.target
    }

    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    fn still_ours(&self) -> bool {
        fs::symlink_metadata(&self.temp)
            .map(|m| m.dev() == self.dev && m.ino() == self.ino)
            .unwrap_or(false)
    }

    /// Rename the temp file over the target and fsync the directory so the rename survives
    /// a crash.
    pub fn commit(mut self) -> io::Result<()> {
        if !self.still_ours() {
            return Err(failure(
                ReplaceStep::Rename,
                &self.temp,
                io::Error::other("the temporary file was replaced or removed by another process"),
            ));
        }
        fs::rename(&self.temp, &self.target)
            .map_err(|e| failure(ReplaceStep::Rename, &self.target, e))?;
        self.done = true;
        sync_dir(parent_dir(&self.target))
            .map_err(|e| failure(ReplaceStep::SyncDirectory, &self.target, e))
    }
}

impl Drop for PreparedFile {
    fn drop(&mut self) {
        if !self.done && self.still_ours() {
            // Best effort: there is no one to report a failure to during drop, and the next
            // prepare removes a stale temp anyway.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn create_exclusive_0600(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Write `contents` to `tmp_name` in the target's directory, ready to replace `target`.
///
/// The temp file is created with `O_EXCL` and mode 0600, written, changed to `mode` (set
/// explicitly, so the umask does not matter), given the group of the file it replaces when
/// possible, and fsynced. A temp file left by a crashed run is removed first.
///
/// Refuses with `PermissionDenied` carrying [`OwnerChangeRefused`] when the target exists
/// and is owned by another user than this process: replacing it would change its owner
/// (Elasticsearch refuses the same way; e.g. root must not take over a keystore owned by
/// the `elasticsearch` user).
pub fn prepare_replace(
    target: &Path,
    tmp_name: &str,
    contents: &[u8],
    mode: u32,
) -> io::Result<PreparedFile> {
    let dir = parent_dir(target);
    let temp = dir.join(tmp_name);
    let writer_uid = effective_uid();

    let existing = match fs::metadata(target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(failure(ReplaceStep::CreateTemp, target, e)),
    };
    if let Some(m) = &existing {
        if m.uid() != writer_uid {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                OwnerChangeRefused {
                    target: target.to_path_buf(),
                    owner_uid: m.uid(),
                    writer_uid,
                },
            ));
        }
    }

    match fs::remove_file(&temp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(failure(ReplaceStep::RemoveStaleTemp, &temp, e)),
    }

    let mut file =
        create_exclusive_0600(&temp).map_err(|e| failure(ReplaceStep::CreateTemp, &temp, e))?;
    let meta = file
        .metadata()
        .map_err(|e| failure(ReplaceStep::CreateTemp, &temp, e))?;
    // From here the guard removes the temp file on any error.
    let prepared = PreparedFile {
        temp: temp.clone(),
        target: target.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
        done: false,
    };

    let write = |file: &mut File| -> io::Result<()> {
        file.write_all(contents)?;
        if let Some(m) = &existing {
            if m.gid() != meta.gid() {
                // Keep the group (e.g. root:elasticsearch 0660 on package installs) so the
                // node can still read the file. Not being allowed to is not an error:
                // Elasticsearch itself does not preserve the group either.
                let _ = std::os::unix::fs::fchown(&*file, None, Some(m.gid()));
            }
        }
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()
    };
    write(&mut file).map_err(|e| failure(ReplaceStep::WriteTemp, &temp, e))?;
    Ok(prepared)
}

/// Create `path` with `O_CREAT|O_EXCL` and mode 0600, write `contents`, fsync it and its
/// directory. Refuses to overwrite anything (`AlreadyExists`); a partial file is removed.
pub fn write_new_secret_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = create_exclusive_0600(path)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(e);
    }
    sync_dir(parent_dir(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_sets_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        fs::write(&target, b"old").unwrap();
        let p = prepare_replace(&target, "f.tmp", b"new", 0o640).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(p.target(), target);
        p.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert!(!dir.path().join("f.tmp").exists());
    }

    #[test]
    fn dropping_a_prepared_file_removes_the_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        let p = prepare_replace(&target, "f.tmp", b"x", 0o600).unwrap();
        assert!(dir.path().join("f.tmp").exists());
        drop(p);
        assert!(!dir.path().join("f.tmp").exists());
        assert!(!target.exists());
    }

    #[test]
    fn a_stale_temp_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        fs::write(dir.path().join("f.tmp"), b"stale").unwrap();
        prepare_replace(&target, "f.tmp", b"fresh", 0o600)
            .unwrap()
            .commit()
            .unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"fresh");
    }

    #[test]
    fn secret_files_are_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_new_secret_file(&path, b"s").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let err = write_new_secret_file(&path, b"t").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"s");
    }
}

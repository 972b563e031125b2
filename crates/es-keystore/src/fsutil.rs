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
//!
//! Only regular files are read or replaced: a FIFO, device or directory where a keystore or
//! `elasticsearch.yml` should be is refused without blocking on it, and a symbolic link is read
//! through but never replaced (see [`FileRefused`]).
//!
//! Before a file is replaced, it is checked against what was read ([`Seen`]): a change by a
//! program that does not take this tool's lock is never written over (the caller re-reads
//! the file and re-applies its change, or stops). A file that is a mount point of its own is
//! written in place, and one that cannot be replaced at all is refused before anything is
//! written (see [`replaceable`]).
//!
//! Every step of a replacement passes a fail point (see [`fail_points`]) so tests can make it
//! fail or crash there; release builds compile them to nothing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fail::fail_point;

pub mod replaceable;
mod seen;

pub use replaceable::{not_replaceable, Method, NotReplaceable};
pub use seen::Seen;

/// Names of the fail points a replacement passes, in the order it passes them.
///
/// Test builds get working fail points through the `fail` crate's `failpoints` feature,
/// which only the dev-dependency enables; in any other build `fail_point!` expands to
/// nothing. Configured with `return`, a point makes the *next* step fail with an
/// `io::Error` of that step (so callers see exactly what a real failure there looks like);
/// with `panic` it unwinds; with a callback (`fail::cfg_callback`) a test can inspect the
/// files or kill the process at that moment.
pub mod fail_points {
    /// The temp file exists (mode 0600, empty); nothing written yet.
    pub const TEMP_CREATED: &str = "fsutil::replace::temp_created";
    /// The contents are written to the temp file (still mode 0600).
    pub const TEMP_WRITTEN: &str = "fsutil::replace::temp_written";
    /// The temp file has its final group and mode.
    pub const TEMP_MODE_SET: &str = "fsutil::replace::temp_mode_set";
    /// The temp file is fsynced: the end of [`super::prepare_replace`].
    pub const TEMP_SYNCED: &str = "fsutil::replace::temp_synced";
    /// [`super::PreparedFile::commit`] is about to rename the temp file over its target.
    pub const BEFORE_RENAME: &str = "fsutil::replace::before_rename";
    /// The temp file has replaced its target; the directory is not fsynced yet.
    pub const RENAMED: &str = "fsutil::replace::renamed";
    /// The directory is fsynced: the replacement is complete and durable.
    pub const DIRECTORY_SYNCED: &str = "fsutil::replace::directory_synced";
    /// [`super::write_new_secret_file`] created its file (mode 0600, empty).
    pub const SECRET_FILE_CREATED: &str = "fsutil::secret_file::created";

    /// The replacement's points in the order a save passes them.
    pub const REPLACE: [&str; 7] = [
        TEMP_CREATED,
        TEMP_WRITTEN,
        TEMP_MODE_SET,
        TEMP_SYNCED,
        BEFORE_RENAME,
        RENAMED,
        DIRECTORY_SYNCED,
    ];
}

/// The error a fail point configured with `return` injects.
// Only fail points call it, and builds without the `failpoints` feature compile those out.
#[allow(dead_code)]
fn injected(point: &str) -> io::Error {
    io::Error::other(format!("failure injected at fail point {point}"))
}

/// The step of a replacement that failed, carried inside the `io::Error` so callers can give
/// step-specific advice (e.g. "the directory is not writable") while the error kind stays
/// the operating system's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceStep {
    /// Removing a temporary file a crashed run left behind.
    RemoveStaleTemp,
    /// Creating the temporary file next to the target.
    CreateTemp,
    /// Writing and syncing the temporary file.
    WriteTemp,
    /// Renaming the temporary file over the target.
    Rename,
    /// Syncing the directory so the rename is durable.
    SyncDirectory,
    /// Rewriting a target that is a mount point in place.
    WriteInPlace,
}

/// An `io::Error` payload naming the step and the file involved.
#[derive(Debug, thiserror::Error)]
#[error("{} [{}]: {source}", step_text(*.step), path.display())]
pub struct ReplaceFailure {
    /// The step of the replacement that failed.
    pub step: ReplaceStep,
    /// The file concerned.
    pub path: PathBuf,
    #[source]
    /// The operating system error.
    pub source: io::Error,
}

/// The `io::Error` payload for a target changed by another program since it was read.
#[derive(Debug, thiserror::Error)]
#[error("[{}] was changed by another program since this run read it", path.display())]
pub struct ChangedSinceRead {
    /// The file concerned.
    pub path: PathBuf,
}

/// Whether `err` says the target changed since it was read.
pub fn changed_since_read(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(|e| e.downcast_ref::<ChangedSinceRead>().is_some())
}

/// Whether `err` is a rename refused because the target is a mount point (`EBUSY`) or on
/// another file system than its directory (`EXDEV`).
pub fn is_mount_point_error(err: &io::Error) -> bool {
    let os = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<ReplaceFailure>())
        .and_then(|f| f.source.raw_os_error())
        .or(err.raw_os_error());
    matches!(os, Some(libc::EBUSY | libc::EXDEV))
}

fn step_text(step: ReplaceStep) -> &'static str {
    match step {
        ReplaceStep::RemoveStaleTemp => "cannot remove the stale temporary file",
        ReplaceStep::CreateTemp => "cannot create the temporary file",
        ReplaceStep::WriteTemp => "cannot write the temporary file",
        ReplaceStep::Rename => "cannot rename the temporary file over its target",
        ReplaceStep::SyncDirectory => "cannot sync the directory after renaming into it",
        ReplaceStep::WriteInPlace => "cannot write the file in place",
    }
}

/// The `io::Error` payload (kind `PermissionDenied`) for a refused owner change.
#[derive(Debug, thiserror::Error)]
#[error("will not overwrite [{}], because this incurs changing the file owner (owned by uid {owner_uid}, this process writes as uid {writer_uid})", target.display())]
pub struct OwnerChangeRefused {
    /// The file that would have been replaced.
    pub target: PathBuf,
    /// The uid that owns the existing file.
    pub owner_uid: u32,
    /// The uid this process writes as.
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

/// Why a file was not read or not replaced, carried inside an `io::Error`. The message says
/// "it …": callers put the path in front.
#[derive(Debug, thiserror::Error)]
pub enum FileRefused {
    /// Replacing a symbolic link would replace the link with a regular file and leave the file
    /// it points to as it was (what Elasticsearch's own rename does): neither is what the user
    /// meant, so the link is left alone. Reading through a link is fine.
    #[error("it is a symbolic link to [{}], and replacing it would turn the link into a regular file and leave [{}] unchanged; replace the link with the file itself, or change the file where it lives", target.display(), target.display())]
    Symlink {
        /// Where the symbolic link points.
        target: PathBuf,
    },
    /// A FIFO, socket, device or directory where a file belongs. A FIFO is never opened
    /// blocking, so this cannot hang.
    #[error("it is {kind}, not a regular file")]
    NotRegular {
        /// What the path is instead (directory, socket, ...).
        kind: &'static str,
    },
    /// Larger than any file of its kind should be; refused before reading it.
    #[error("it is {len} bytes, more than the {max} bytes accepted for this file")]
    TooLarge {
        /// The size in bytes.
        len: u64,
        /// The largest size accepted, in bytes.
        max: u64,
    },
}

/// If `err` is a refusal to read or replace a file, why.
pub fn refusal(err: &io::Error) -> Option<&FileRefused> {
    err.get_ref().and_then(|e| e.downcast_ref::<FileRefused>())
}

fn describe(file_type: fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a named pipe (FIFO)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

fn refused(kind: io::ErrorKind, why: FileRefused) -> io::Error {
    io::Error::new(kind, why)
}

/// The whole of the regular file at `path` (following symbolic links), `None` if there is
/// none. Refuses, without blocking and without reading, anything that is not a regular file
/// (a FIFO would otherwise make `open` wait for a writer forever) and a file larger than
/// `max_len` (a sparse file can claim gigabytes it does not occupy). Never allocates more
/// than `max_len + 1` bytes, even if the file grows while it is read.
pub fn read_regular_file(path: &Path, max_len: u64) -> io::Result<Option<Vec<u8>>> {
    Ok(read_regular_file_seen(path, max_len)?.0)
}

/// [`read_regular_file`], with the state of the file the bytes came from (taken through the
/// same descriptor), for a later check that nobody changed it ([`Seen::now`]).
pub fn read_regular_file_seen(path: &Path, max_len: u64) -> io::Result<(Option<Vec<u8>>, Seen)> {
    // Checked before opening: opening a device can have effects of its own.
    match fs::metadata(path) {
        Ok(m) if !m.file_type().is_file() => {
            return Err(refused(
                io::ErrorKind::InvalidInput,
                FileRefused::NotRegular {
                    kind: describe(m.file_type()),
                },
            ))
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, Seen::Absent)),
        Err(e) => return Err(e),
    }
    // O_NONBLOCK in case the file was swapped for a FIFO since the check (it changes nothing
    // for a regular file); O_NOCTTY so a terminal device can never become ours.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, Seen::Absent)),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(refused(
            io::ErrorKind::InvalidInput,
            FileRefused::NotRegular {
                kind: describe(meta.file_type()),
            },
        ));
    }
    let too_large = |len: u64| {
        refused(
            io::ErrorKind::InvalidData,
            FileRefused::TooLarge { len, max: max_len },
        )
    };
    if meta.len() > max_len {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    (&file)
        .take(max_len.saturating_add(1))
        .read_to_end(&mut bytes)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > max_len {
        return Err(too_large(read));
    }
    // Taken after the read: a write during it shows at least in the time.
    let seen = Seen::of(&file.metadata()?, &bytes);
    Ok((Some(bytes), seen))
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

/// A replacement ready to commit: a fully written and fsynced temp file next to its target,
/// or, for a target that is a mount point of its own, the open target and the bytes to write
/// into it. Dropping it without [`PreparedFile::commit`] removes the temp file.
pub struct PreparedFile {
    target: PathBuf,
    kind: Kind,
    /// What the target must still be when committed; `None`: not checked.
    expected: Option<Seen>,
    /// A new file whose group could not be set to its directory's: `(file gid, dir gid)`.
    group_not_set: Option<(u32, u32)>,
    done: bool,
}

enum Kind {
    Temp {
        temp: PathBuf,
        /// Identity of our temp file, so we never rename or delete a file another process
        /// put at the same temp path.
        dev: u64,
        ino: u64,
    },
    InPlace {
        file: File,
        contents: Vec<u8>,
    },
}

/// Paths and the method only: the contents stay out of logs.
impl std::fmt::Debug for PreparedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedFile")
            .field("target", &self.target)
            .field("temp", &self.temp_path())
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl PreparedFile {
    /// The file this prepared file will replace (or create).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temp file; `None` when the target is written in place.
    pub fn temp_path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Temp { temp, .. } => Some(temp),
            Kind::InPlace { .. } => None,
        }
    }

    /// Whether the commit writes into the target instead of renaming (a mount point).
    pub fn in_place(&self) -> bool {
        matches!(self.kind, Kind::InPlace { .. })
    }

    /// Commit only if the target is still `seen` (what the caller read); otherwise the
    /// commit fails with [`ChangedSinceRead`] and changes nothing.
    pub fn expecting(mut self, seen: Option<Seen>) -> Self {
        self.expected = seen;
        self
    }

    /// Whether the target is still what [`PreparedFile::expecting`] was given.
    pub fn unchanged(&self) -> io::Result<bool> {
        match &self.expected {
            None => Ok(true),
            Some(expected) => Ok(Seen::now(&self.target)? == *expected),
        }
    }

    fn still_ours(&self) -> bool {
        match &self.kind {
            Kind::Temp { temp, dev, ino } => fs::symlink_metadata(temp)
                .map(|m| m.dev() == *dev && m.ino() == *ino)
                .unwrap_or(false),
            Kind::InPlace { .. } => true,
        }
    }

    /// Rename the temp file over the target and fsync the directory so the rename survives
    /// a crash (or, for a mount point, rewrite the target in place and fsync it). Fails with
    /// [`ChangedSinceRead`], changing nothing, when the target is no longer what was read.
    pub fn commit(mut self) -> io::Result<()> {
        if !self.still_ours() {
            let temp = self.temp_path().unwrap_or(&self.target).to_path_buf();
            return Err(failure(
                ReplaceStep::Rename,
                &temp,
                io::Error::other("the temporary file was replaced or removed by another process"),
            ));
        }
        fail_point!(fail_points::BEFORE_RENAME, |_| Err(failure(
            ReplaceStep::Rename,
            &self.target,
            injected(fail_points::BEFORE_RENAME)
        )));
        // As late as possible: what is left between this check and the rename is the window
        // in which a foreign writer can still lose its change (docs/reliability.md).
        if !self
            .unchanged()
            .map_err(|e| failure(ReplaceStep::Rename, &self.target, e))?
        {
            return Err(io::Error::other(ChangedSinceRead {
                path: self.target.clone(),
            }));
        }
        match &self.kind {
            Kind::Temp { temp, .. } => {
                let temp = temp.clone();
                if !self.swap_in(&temp)? {
                    return Err(io::Error::other(ChangedSinceRead {
                        path: self.target.clone(),
                    }));
                }
                self.done = true;
                fail_point!(fail_points::RENAMED, |_| Err(failure(
                    ReplaceStep::SyncDirectory,
                    &self.target,
                    injected(fail_points::RENAMED)
                )));
                sync_dir(parent_dir(&self.target))
                    .map_err(|e| failure(ReplaceStep::SyncDirectory, &self.target, e))?;
            }
            Kind::InPlace { file, contents } => {
                use std::os::unix::fs::FileExt;
                self.done = true;
                // Write, then cut: a file that grows is never shorter than before on the way.
                let written = file
                    .write_all_at(contents, 0)
                    .and_then(|()| file.set_len(u64::try_from(contents.len()).unwrap_or(u64::MAX)))
                    .and_then(|()| file.sync_all());
                written.map_err(|e| failure(ReplaceStep::WriteInPlace, &self.target, e))?;
            }
        }
        fail_point!(fail_points::DIRECTORY_SYNCED, |_| Err(failure(
            ReplaceStep::SyncDirectory,
            &self.target,
            injected(fail_points::DIRECTORY_SYNCED)
        )));
        if let Some((file_gid, dir_gid)) = self.group_not_set {
            tracing::warn!(
                "{} was created with group {} because this user may not give it group {} of its directory; Elasticsearch may not be able to read it: run `chown :{} {}`",
                self.target.display(),
                group_name(file_gid),
                group_name(dir_gid),
                group_name(dir_gid),
                self.target.display()
            );
        }
        Ok(())
    }
}

impl PreparedFile {
    /// Put the temp file in place of the target; `false` (nothing changed) when the target
    /// turned out not to be the expected file after all. The check before is not atomic with
    /// a rename, so where the kernel allows it the swap itself proves it: with an expected
    /// file, `RENAME_EXCHANGE` swaps the two names and the displaced file is compared (and
    /// swapped back if it is not the one read); with an expected absence, `RENAME_NOREPLACE`
    /// refuses a file that appeared. Elsewhere (`EINVAL`/`ENOSYS`) a plain rename follows the
    /// check.
    fn swap_in(&self, temp: &Path) -> io::Result<bool> {
        let rename_err = |e| failure(ReplaceStep::Rename, &self.target, e);
        let flags = match &self.expected {
            None => {
                return fs::rename(temp, &self.target)
                    .map(|()| true)
                    .map_err(rename_err)
            }
            Some(Seen::Absent) => libc::RENAME_NOREPLACE,
            Some(Seen::File(_)) => libc::RENAME_EXCHANGE,
        };
        match renameat2(temp, &self.target, flags) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return Ok(false),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                return fs::rename(temp, &self.target)
                    .map(|()| true)
                    .map_err(rename_err);
            }
            Err(e) => return Err(rename_err(e)),
        }
        if flags == libc::RENAME_NOREPLACE {
            return Ok(true);
        }
        // `temp` now names the displaced file.
        let displaced = Seen::now(temp).map_err(rename_err)?;
        if Some(&displaced) == self.expected.as_ref() {
            fs::remove_file(temp).map_err(rename_err)?;
            return Ok(true);
        }
        // Another program's file: put it back, and ours goes back to `temp` (removed on drop).
        renameat2(temp, &self.target, libc::RENAME_EXCHANGE).map_err(rename_err)?;
        Ok(false)
    }
}

fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    let from = std::ffi::CString::new(from.as_os_str().as_encoded_bytes())?;
    let to = std::ffi::CString::new(to.as_os_str().as_encoded_bytes())?;
    // The raw system call, not glibc's `renameat2()` wrapper: the wrapper exists only since
    // glibc 2.28, and the release binary must run on glibc 2.17 (RHEL 7/8-era hosts). The
    // system call is Linux 3.15+; older kernels answer ENOSYS, which the caller handles.
    // SAFETY: both are valid NUL-terminated paths for the duration of the call, and the
    // arguments are the ones renameat2(2) takes, each widened to the syscall's word size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::c_long::from(libc::AT_FDCWD),
            from.as_ptr(),
            libc::c_long::from(libc::AT_FDCWD),
            to.as_ptr(),
            libc::c_long::from(flags),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Drop for PreparedFile {
    fn drop(&mut self) {
        if let Kind::Temp { temp, .. } = &self.kind {
            if !self.done && self.still_ours() {
                // Best effort: there is no one to report a failure to during drop, and the
                // next prepare removes a stale temp anyway.
                let _ = fs::remove_file(temp);
            }
        }
    }
}

/// A group's name, or its number when it has none.
fn group_name(gid: u32) -> String {
    // SAFETY: `group` is a plain C struct of integers and pointers; all-zero (null pointers)
    // is a valid value, and getgrgid_r overwrites it before anything reads the pointers.
    let mut group: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is the buffer's size.
    let rc = unsafe { libc::getgrgid_r(gid, &mut group, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || group.gr_name.is_null() {
        return gid.to_string();
    }
    // SAFETY: getgrgid_r succeeded, so gr_name points at a NUL-terminated string in `buf`.
    unsafe { std::ffi::CStr::from_ptr(group.gr_name) }
        .to_string_lossy()
        .into_owned()
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
/// explicitly, so the umask does not matter), given a group, and fsynced. A temp file left
/// by a crashed run is removed first. The group is the replaced file's, or for a new file
/// its directory's (what the setgid bit of the package layout gives, e.g. root:elasticsearch)
/// so the node can read what root created; when this user may not set that group, the commit
/// warns with the `chown` to run.
///
/// A target that is a mount point of its own is not renamed over but opened for writing
/// here and rewritten in place by the commit ([`Method::InPlace`]); one that cannot be
/// replaced at all (immutable, append-only, read-only) is refused with [`NotReplaceable`].
///
/// Refuses with `PermissionDenied` carrying [`OwnerChangeRefused`] when the target exists
/// and is owned by another user than this process: replacing it would change its owner
/// (Elasticsearch refuses the same way; e.g. root must not take over a keystore owned by
/// the `elasticsearch` user). Refuses with `PermissionDenied` carrying
/// [`FileRefused::Symlink`] when the target is a symbolic link, and with [`FileRefused::NotRegular`]
/// when it is a directory, FIFO or device; nothing is created in either case.
pub fn prepare_replace(
    target: &Path,
    tmp_name: &str,
    contents: &[u8],
    mode: u32,
) -> io::Result<PreparedFile> {
    let dir = parent_dir(target);
    let temp = dir.join(tmp_name);
    let writer_uid = effective_uid();

    let existing = match fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_symlink() => {
            let link_target =
                fs::read_link(target).map_err(|e| failure(ReplaceStep::CreateTemp, target, e))?;
            return Err(refused(
                io::ErrorKind::PermissionDenied,
                FileRefused::Symlink {
                    target: link_target,
                },
            ));
        }
        Ok(m) if !m.file_type().is_file() => {
            return Err(refused(
                io::ErrorKind::InvalidInput,
                FileRefused::NotRegular {
                    kind: describe(m.file_type()),
                },
            ));
        }
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(failure(ReplaceStep::CreateTemp, target, e)),
    };
    let method = replaceable::method(target).map_err(|e| match not_replaceable(&e) {
        Some(_) => e,
        None => failure(ReplaceStep::CreateTemp, target, e),
    })?;
    if let Method::InPlace { .. } = method {
        // The inode stays, so do its owner, group and mode. Opening it for writing now
        // proves the commit can write it.
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(target)
            .map_err(|e| failure(ReplaceStep::WriteInPlace, target, e))?;
        return Ok(PreparedFile {
            target: target.to_path_buf(),
            kind: Kind::InPlace {
                file,
                contents: contents.to_vec(),
            },
            expected: None,
            group_not_set: None,
            done: false,
        });
    }
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

    // Only a temp file that is there is removed: on a read-only file system unlink fails
    // with EROFS even for a name that does not exist, which read as a "stale" file.
    if fs::symlink_metadata(&temp).is_ok() {
        match fs::remove_file(&temp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(failure(ReplaceStep::RemoveStaleTemp, &temp, e)),
        }
    }

    let mut file =
        create_exclusive_0600(&temp).map_err(|e| failure(ReplaceStep::CreateTemp, &temp, e))?;
    let meta = file
        .metadata()
        .map_err(|e| failure(ReplaceStep::CreateTemp, &temp, e))?;
    // The group the file must have for the node to read it: the replaced file's, or for a
    // new file the directory's.
    let wanted_gid = match &existing {
        Some(m) => m.gid(),
        None => fs::metadata(dir)
            .map(|m| m.gid())
            .map_err(|e| failure(ReplaceStep::CreateTemp, &temp, e))?,
    };
    // From here the guard removes the temp file on any error.
    let mut prepared = PreparedFile {
        target: target.to_path_buf(),
        kind: Kind::Temp {
            temp: temp.clone(),
            dev: meta.dev(),
            ino: meta.ino(),
        },
        expected: None,
        group_not_set: None,
        done: false,
    };

    let mut write = |file: &mut File| -> io::Result<()> {
        fail_point!(fail_points::TEMP_CREATED, |_| Err(injected(
            fail_points::TEMP_CREATED
        )));
        file.write_all(contents)?;
        fail_point!(fail_points::TEMP_WRITTEN, |_| Err(injected(
            fail_points::TEMP_WRITTEN
        )));
        if wanted_gid != meta.gid()
            && std::os::unix::fs::fchown(&*file, None, Some(wanted_gid)).is_err()
        {
            // Not allowed (the user is not in that group). For an existing file this is
            // what Elasticsearch does too; a new file gets a warning with the fix.
            if existing.is_none() {
                prepared.group_not_set = Some((meta.gid(), wanted_gid));
            }
        }
        // The final mode is set before the fsync so the fsync makes it durable too: a
        // crash after the rename can never leave a keystore the node's group cannot read.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        fail_point!(fail_points::TEMP_MODE_SET, |_| Err(injected(
            fail_points::TEMP_MODE_SET
        )));
        file.sync_all()?;
        fail_point!(fail_points::TEMP_SYNCED, |_| Err(injected(
            fail_points::TEMP_SYNCED
        )));
        Ok(())
    };
    write(&mut file).map_err(|e| failure(ReplaceStep::WriteTemp, &temp, e))?;
    Ok(prepared)
}

/// Create `path` with `O_CREAT|O_EXCL` and mode 0600, write `contents`, fsync it and its
/// directory. Refuses to overwrite anything (`AlreadyExists`); a partial file is removed.
pub fn write_new_secret_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = create_exclusive_0600(path)?;
    let write = |file: &mut File| -> io::Result<()> {
        fail_point!(fail_points::SECRET_FILE_CREATED, |_| Err(injected(
            fail_points::SECRET_FILE_CREATED
        )));
        file.write_all(contents)?;
        file.sync_all()
    };
    let written = write(&mut file);
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

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn reading_refuses_fifos_directories_and_huge_files_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        // A blocking open would wait here for a writer that never comes.
        let err = read_regular_file(&fifo, 1 << 20).unwrap_err();
        assert!(
            matches!(refusal(&err), Some(FileRefused::NotRegular { kind }) if kind.contains("FIFO")),
            "{err}"
        );
        let err = read_regular_file(dir.path(), 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "it is a directory, not a regular file");

        let sparse = dir.path().join("sparse");
        File::create(&sparse).unwrap().set_len(3 << 30).unwrap();
        let err = read_regular_file(&sparse, 1 << 20).unwrap_err();
        assert!(
            matches!(refusal(&err), Some(FileRefused::TooLarge { len, max: 1048576 }) if *len == 3 << 30),
            "{err}"
        );

        assert!(read_regular_file(&dir.path().join("missing"), 10)
            .unwrap()
            .is_none());
        let exact = dir.path().join("exact");
        fs::write(&exact, b"0123456789").unwrap();
        assert_eq!(
            read_regular_file(&exact, 10).unwrap().unwrap(),
            b"0123456789"
        );
        assert!(read_regular_file(&exact, 9).is_err());
        // A symbolic link is read through.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&exact, &link).unwrap();
        assert_eq!(
            read_regular_file(&link, 10).unwrap().unwrap(),
            b"0123456789"
        );
    }

    #[test]
    fn a_symlink_or_fifo_is_never_replaced_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = prepare_replace(&link, "link.tmp", b"new", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(
            matches!(refusal(&err), Some(FileRefused::Symlink { target }) if *target == real),
            "{err}"
        );
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let err = prepare_replace(&fifo, "fifo.tmp", b"new", 0o600).unwrap_err();
        assert!(
            matches!(refusal(&err), Some(FileRefused::NotRegular { .. })),
            "{err}"
        );
        assert_eq!(fs::read(&real).unwrap(), b"old");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["fifo", "link", "real"]);
    }
    #[test]
    fn a_target_changed_since_it_was_read_is_not_written_over() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        fs::write(&target, b"read").unwrap();
        let (_, seen) = read_regular_file_seen(&target, 100).unwrap();
        let p = prepare_replace(&target, "f.tmp", b"ours", 0o600)
            .unwrap()
            .expecting(Some(seen.clone()));
        assert!(p.unchanged().unwrap());
        fs::write(dir.path().join("x"), b"theirs").unwrap();
        fs::rename(dir.path().join("x"), &target).unwrap();
        assert!(!p.unchanged().unwrap());
        let err = p.commit().unwrap_err();
        assert!(changed_since_read(&err), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"theirs");
        assert!(!dir.path().join("f.tmp").exists());

        // Expected absent, but a file appeared.
        let new = dir.path().join("new");
        let p = prepare_replace(&new, "new.tmp", b"ours", 0o600)
            .unwrap()
            .expecting(Some(Seen::Absent));
        fs::write(&new, b"theirs").unwrap();
        assert!(changed_since_read(&p.commit().unwrap_err()));
        assert_eq!(fs::read(&new).unwrap(), b"theirs");
    }

    #[test]
    fn a_busy_or_cross_device_rename_is_recognised_as_a_mount_point() {
        let busy = failure(
            ReplaceStep::Rename,
            Path::new("/x"),
            io::Error::from_raw_os_error(libc::EBUSY),
        );
        assert!(is_mount_point_error(&busy));
        assert!(is_mount_point_error(&io::Error::from_raw_os_error(
            libc::EXDEV
        )));
        assert!(!is_mount_point_error(&io::Error::from_raw_os_error(
            libc::EACCES
        )));
    }
}

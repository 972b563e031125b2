//! The keystore file of a config directory: read, atomic save, owner check, and the lock
//! that serializes this tool's writers.
//!
//! Saving follows Elasticsearch: `elasticsearch.keystore.tmp` in the same directory, created
//! exclusively with mode 0600, written, fsynced, set to `rw-rw----`, renamed over the
//! keystore, directory fsynced; refused when the replacement would change the file's owner.
//! The old file is never touched before the rename and no temp file survives an error
//! (see [`crate::fsutil::prepare_replace`]).
//!
//! Writers that do not take the lock (Elasticsearch's own `elasticsearch-keystore`, config
//! management) are caught at the save: the keystore remembers the file it was read from
//! ([`fsutil::Seen`]) and the changes made since; if the file changed, it is read again and
//! the changes are made again on top of it, up to [`MAX_REAPPLY`] times.
//!
//! Locking: an exclusive `flock` on the config directory itself, held from load to save.
//! Why the directory and not a lock file: a lock file would be an extra file in every config
//! directory (Elasticsearch images, ECK init containers and packages all ship that directory
//! and some tools copy it wholesale), it would have to be created before we know the user
//! may write there, and a stale one would need cleanup. A directory lock needs no file, is
//! released by the kernel when the process dies, and rename-replacing the keystore inside
//! the directory does not affect it. Limits: Elasticsearch's own tool does not take it, and
//! on filesystems without `flock` support (some network mounts) we proceed unlocked with a
//! warning rather than refuse to work.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::KeystoreError;
use super::format::Header;
use super::{FormatVersion, Keystore, KEYSTORE_FILENAME};
use crate::fsutil::{self, PreparedFile, ReplaceStep};
use crate::secret::SecretString;

/// Name of the temp file a save writes first (Elasticsearch uses the same name).
pub const TEMP_FILENAME: &str = "elasticsearch.keystore.tmp";
/// Mode of a saved keystore (`rw-rw----`), set explicitly so the umask does not matter.
pub const KEYSTORE_MODE: u32 = 0o660;
/// How long [`lock`] waits for another writer before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);
/// How many times a save re-reads a keystore that another program changed meanwhile and
/// makes its change again, before it gives up.
pub const MAX_REAPPLY: usize = 5;
/// The largest keystore file this tool reads or writes: 64 MiB.
///
/// The format itself allows about 2 GiB, but secure settings are passwords, keys and small
/// credential files (kilobytes), every Elasticsearch node decrypts the whole file into its
/// heap at start-up, and this tool holds about three copies while it works. A limit far
/// above any real keystore and far below the format's lets a hostile or damaged file (a
/// sparse file claiming gigabytes, say) be refused from its size alone, before anything is
/// read; saves check the same limit so the tool never writes a file it would refuse to read.
pub const MAX_FILE_LEN: u64 = 64 << 20;

/// `<config_dir>/elasticsearch.keystore`.
pub fn keystore_path(config_dir: &Path) -> PathBuf {
    config_dir.join(KEYSTORE_FILENAME)
}

/// The whole keystore file, `None` if it does not exist. Size-checked before reading so a
/// huge file in its place is reported, not loaded; a FIFO, device or directory in its place
/// is refused without blocking (see [`fsutil::read_regular_file`]). A symbolic link is
/// followed, as Elasticsearch does.
fn read_file(path: &Path) -> Result<Option<Vec<u8>>, KeystoreError> {
    Ok(read_file_seen(path)?.0)
}

/// [`read_file`] with the state of the file the bytes came from.
fn read_file_seen(path: &Path) -> Result<(Option<Vec<u8>>, fsutil::Seen), KeystoreError> {
    fsutil::read_regular_file_seen(path, MAX_FILE_LEN).map_err(|e| match fsutil::refusal(&e) {
        Some(fsutil::FileRefused::TooLarge { len, max }) => KeystoreError::corrupt(format!(
            "the file is {len} bytes, larger than any keystore (this tool reads at most {max} bytes)"
        ))
        .with_path(path),
        _ => KeystoreError::io("cannot read the keystore", path, e),
    })
}

/// Version and password flag of the config directory's keystore, `None` if there is none.
pub fn read_header(config_dir: &Path) -> Result<Option<Header>, KeystoreError> {
    let path = keystore_path(config_dir);
    match read_file(&path)? {
        None => Ok(None),
        Some(bytes) => Keystore::parse_header(&bytes)
            .map(Some)
            .map_err(|e| e.with_path(&path)),
    }
}

fn load_with(
    config_dir: &Path,
    password: &SecretString,
    decrypt: fn(&[u8], &SecretString) -> Result<Keystore, KeystoreError>,
) -> Result<Keystore, KeystoreError> {
    let path = keystore_path(config_dir);
    let (bytes, seen) = read_file_seen(&path)?;
    let bytes = bytes.ok_or_else(|| KeystoreError::NotFound { path: path.clone() })?;
    let mut ks = decrypt(&bytes, password).map_err(|e| e.with_path(&path))?;
    ks.set_read_from(&path, seen);
    Ok(ks)
}

/// Load and decrypt the config directory's keystore for an update: the key for the next
/// save is derived in parallel (see [`Keystore::decrypt`]).
pub fn load(config_dir: &Path, password: &SecretString) -> Result<Keystore, KeystoreError> {
    load_with(config_dir, password, Keystore::decrypt)
}

/// Load and decrypt for reading only (`list`, `show`, `has-passwd`-style checks): one key
/// derivation, no CPU spent on a save that will not happen.
pub fn load_read_only(
    config_dir: &Path,
    password: &SecretString,
) -> Result<Keystore, KeystoreError> {
    load_with(config_dir, password, Keystore::decrypt_read_only)
}

/// Turn a replacement failure into the keystore error a user can act on.
fn save_error(config_dir: &Path, err: io::Error) -> KeystoreError {
    let path = keystore_path(config_dir);
    if fsutil::changed_since_read(&err) {
        return KeystoreError::ChangedMeanwhile {
            path,
            reason: "it kept changing".to_owned(),
        };
    }
    if fsutil::not_replaceable(&err).is_some() {
        return KeystoreError::NotReplaceable { path, source: err };
    }
    if fsutil::is_mount_point_error(&err) {
        return KeystoreError::NotReplaceable {
            path,
            source: std::io::Error::other(format!("{err}; it is a mount point of its own (a single-file bind mount such as `docker run -v`, or a Kubernetes subPath) and cannot be renamed over: mount its directory instead of the single file")),
        };
    }
    if let Some(refused) = fsutil::owner_change(&err) {
        return KeystoreError::OwnerChange {
            path,
            owner_uid: refused.owner_uid,
        };
    }
    if let Some(fsutil::FileRefused::Symlink { target }) = fsutil::refusal(&err) {
        return KeystoreError::SymlinkNotReplaced {
            target: target.clone(),
            path,
        };
    }
    let creating = matches!(
        fsutil::failed_step(&err),
        Some(ReplaceStep::CreateTemp | ReplaceStep::RemoveStaleTemp)
    );
    if creating
        && matches!(
            err.kind(),
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
        )
    {
        return KeystoreError::NotWritable {
            tmp_path: config_dir.join(TEMP_FILENAME),
            dir: config_dir.to_path_buf(),
            source: err,
        };
    }
    KeystoreError::io("cannot save the keystore", &path, err)
}

/// Encrypt `ks` (adding `keystore.seed` to the written copy if missing) into a fsynced
/// `elasticsearch.keystore.tmp`, not yet renamed. Commit with [`commit_save`] or
/// [`PreparedFile::commit`]; dropping it removes the temp file. Lets a caller write several
/// config directories all-or-none.
pub fn prepare_save(config_dir: &Path, ks: &Keystore) -> Result<PreparedFile, KeystoreError> {
    let bytes = ks.encrypt_with_seed()?;
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > MAX_FILE_LEN {
        return Err(KeystoreError::FileTooLarge {
            path: keystore_path(config_dir),
            len,
            max: MAX_FILE_LEN,
        });
    }
    fsutil::prepare_replace(
        &keystore_path(config_dir),
        TEMP_FILENAME,
        &bytes,
        KEYSTORE_MODE,
    )
    .map(|p| {
        let expected = ks.expected_file(p.target());
        p.expecting(expected)
    })
    .map_err(|e| save_error(config_dir, e))
}

/// Whether `err` is a save that found the keystore changed by another program.
pub fn is_changed_meanwhile(err: &KeystoreError) -> bool {
    matches!(err, KeystoreError::ChangedMeanwhile { .. })
}

/// The keystore of `config_dir` read again after another program changed it, with `ks`'s
/// changes made on top. Fails with [`KeystoreError::ChangedMeanwhile`] when that cannot be
/// done (the file no longer opens with the password it was read with, or is damaged).
pub fn reapply(config_dir: &Path, ks: &Keystore) -> Result<Keystore, KeystoreError> {
    let path = keystore_path(config_dir);
    let changed = |reason: String| KeystoreError::ChangedMeanwhile {
        path: path.clone(),
        reason,
    };
    let (bytes, seen) = read_file_seen(&path).map_err(|e| changed(e.to_string()))?;
    let mut fresh = match bytes {
        // Removed meanwhile: our changes go into a new keystore of the same format.
        None => {
            let version = if ks.version().is_writable() {
                ks.version()
            } else {
                FormatVersion::LATEST
            };
            let mut fresh = Keystore::new(version)?;
            fresh.expect_no_file();
            fresh
        }
        Some(bytes) => {
            let mut fresh = Keystore::decrypt(&bytes, &ks.file_password()).map_err(|e| {
                changed(match e {
                    KeystoreError::WrongPasswordOrTampered { .. } => {
                        "it is now protected by another password".to_owned()
                    }
                    other => other.to_string(),
                })
            })?;
            fresh.set_read_from(&path, seen);
            fresh
        }
    };
    fresh = ks.reapply_onto(fresh)?;
    Ok(fresh)
}

/// Rename a prepared keystore into place, with keystore-specific error messages.
pub fn commit_save(prepared: PreparedFile) -> Result<(), KeystoreError> {
    let config_dir = prepared
        .target()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    prepared.commit().map_err(|e| save_error(&config_dir, e))
}

/// Atomically replace (or create) the config directory's keystore with `ks`. When another
/// program changed the file since `ks` was read, it is read again and `ks`'s changes are
/// made on top of it (see the module documentation); nothing is ever written over a change
/// this run did not see.
pub fn save(config_dir: &Path, ks: &Keystore) -> Result<(), KeystoreError> {
    let mut again: Option<Keystore> = None;
    for _ in 0..=MAX_REAPPLY {
        let current = again.as_ref().unwrap_or(ks);
        match commit_save(prepare_save(config_dir, current)?) {
            Err(e) if is_changed_meanwhile(&e) => {
                tracing::info!(
                    "{} was changed by another program; making this change again on top of it",
                    keystore_path(config_dir).display()
                );
                again = Some(reapply(config_dir, current)?);
            }
            done => return done,
        }
    }
    Err(KeystoreError::ChangedMeanwhile {
        path: keystore_path(config_dir),
        reason: format!(
            "it changed again each of {} times it was read",
            MAX_REAPPLY + 1
        ),
    })
}

/// An exclusive advisory lock on a config directory's keystore, released on drop.
#[derive(Debug)]
pub struct KeystoreLock {
    /// The locked directory handle; closing it releases the lock. `None` when the
    /// filesystem does not support locks (see the module documentation).
    _dir: Option<File>,
}

/// Take the lock for a load-modify-save cycle, waiting up to [`LOCK_WAIT`].
pub fn lock(config_dir: &Path) -> Result<KeystoreLock, KeystoreError> {
    lock_with_timeout(config_dir, LOCK_WAIT)
}

/// [`lock`] with an explicit wait limit.
pub fn lock_with_timeout(config_dir: &Path, wait: Duration) -> Result<KeystoreLock, KeystoreError> {
    let dir = File::open(config_dir)
        .map_err(|e| KeystoreError::io("cannot open the config directory", config_dir, e))?;
    let deadline = Instant::now() + wait;
    loop {
        // SAFETY: the descriptor is valid for the lifetime of `dir`; flock only reads it.
        let rc = unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(KeystoreLock { _dir: Some(dir) });
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(code) if code == libc::EWOULDBLOCK => {
                if Instant::now() >= deadline {
                    return Err(KeystoreError::Locked {
                        dir: config_dir.to_path_buf(),
                        waited_secs: wait.as_secs(),
                    });
                }
                // Short sleeps: a keystore update holds the lock for well under a second.
                std::thread::sleep(Duration::from_millis(10));
            }
            Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::EBADF) => {
                tracing::warn!(
                    dir = %config_dir.display(),
                    "the filesystem does not support locks; concurrent updates by this tool are not serialized"
                );
                return Ok(KeystoreLock { _dir: None });
            }
            _ => {
                return Err(KeystoreError::io(
                    "cannot lock the config directory",
                    config_dir,
                    err,
                ))
            }
        }
    }
}

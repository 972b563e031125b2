//! What a file looked like when this run read it, so that a replacement can tell whether
//! another program changed it since.
//!
//! Elasticsearch's own `elasticsearch-keystore`, Ansible, Puppet and editors write the
//! keystore and `elasticsearch.yml` without taking this tool's lock. Before a file is
//! replaced, [`Seen::now`] is compared with what was read: the identity (device, inode,
//! size, modification time) catches a replacement by rename or an in-place write, and a
//! SHA-256 of the bytes catches an in-place write that kept size and time.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// The largest file [`Seen::now`] reads: above every file this tool reads (64 MiB for a
/// keystore), so a file grown past it counts as changed instead of being loaded.
const MAX_CHECK_LEN: u64 = 64 << 20;

/// A file's state as read, or its absence.
#[derive(Clone, PartialEq, Eq)]
pub enum Seen {
    /// There was no file.
    Absent,
    /// A regular file with this identity and content.
    File(Identity),
}

/// Device, inode, size, modification time and content hash of one regular file.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    sha256: [u8; 32],
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Absent => f.write_str("Absent"),
            Seen::File(id) => write!(
                f,
                "File(dev {}, ino {}, {} bytes, mtime {}.{:09})",
                id.dev, id.ino, id.size, id.mtime.0, id.mtime.1
            ),
        }
    }
}

impl Seen {
    /// The state of a file whose metadata (taken from the descriptor it was read through)
    /// and bytes are given.
    pub fn of(meta: &fs::Metadata, bytes: &[u8]) -> Seen {
        Seen::File(Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            sha256: Sha256::digest(bytes).into(),
        })
    }

    /// The file at `path` as it is now, following a symbolic link as the reads do (a link
    /// is never replaced, see `prepare_replace`). Anything but a regular file, a dangling
    /// link included, reads as a change, through a state no read produces.
    pub fn now(path: &Path) -> io::Result<Seen> {
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(match fs::symlink_metadata(path) {
                    Ok(_) => not_a_file(),
                    Err(_) => Seen::Absent,
                })
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if !meta.file_type().is_file() || meta.len() > MAX_CHECK_LEN {
            return Ok(not_a_file());
        }
        let bytes = read_all(&file)?;
        // Metadata after the read, so a write during the read shows in the time at least.
        let meta = file.metadata()?;
        Ok(Seen::of(&meta, &bytes))
    }

    /// Whether `bytes` (`None`: no file) are the content this state was taken from.
    pub fn holds(&self, bytes: Option<&[u8]>) -> bool {
        match (self, bytes) {
            (Seen::Absent, None) => true,
            (Seen::File(id), Some(b)) => {
                let digest: [u8; 32] = Sha256::digest(b).into();
                digest == id.sha256
            }
            _ => false,
        }
    }
}

/// A state that equals no real file's: an impossible inode 0 with an all-zero hash.
fn not_a_file() -> Seen {
    Seen::File(Identity {
        dev: 0,
        ino: 0,
        size: u64::MAX,
        mtime: (0, 0),
        sha256: [0; 32],
    })
}

fn read_all(file: &File) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(MAX_CHECK_LEN + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_rename_an_in_place_write_and_a_removal_are_all_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert_eq!(Seen::now(&path).unwrap(), Seen::Absent);
        assert!(Seen::Absent.holds(None));
        fs::write(&path, b"one").unwrap();
        let first = Seen::now(&path).unwrap();
        assert!(first.holds(Some(b"one")));
        assert!(!first.holds(Some(b"two")));
        assert!(!first.holds(None));
        assert_eq!(Seen::now(&path).unwrap(), first);

        // Same size, same content length, written in place.
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all(b"two")
            .unwrap();
        assert_ne!(Seen::now(&path).unwrap(), first);

        // Replaced by rename with the very same bytes: another inode.
        let second = Seen::now(&path).unwrap();
        fs::write(dir.path().join("t"), b"two").unwrap();
        fs::rename(dir.path().join("t"), &path).unwrap();
        assert_ne!(Seen::now(&path).unwrap(), second);

        fs::remove_file(&path).unwrap();
        assert_eq!(Seen::now(&path).unwrap(), Seen::Absent);
        std::os::unix::fs::symlink(dir.path().join("t2"), &path).unwrap();
        assert_ne!(Seen::now(&path).unwrap(), Seen::Absent);
    }
}

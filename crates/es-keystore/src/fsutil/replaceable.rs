//! Whether a file can be replaced, and how: proved before anything changes, so a run never
//! stops half-way because the second file it writes turns out to be unwritable.
//!
//! - A file that is itself a mount point (a single-file bind mount: `docker run -v
//!   ./elasticsearch.yml:/usr/share/elasticsearch/config/elasticsearch.yml`, a Kubernetes
//!   `subPath`) cannot be renamed over (`EBUSY`); it is written in place instead (see
//!   [`Method::InPlace`] and docs/setup.md for why), unless that mount is read-only.
//! - A file with the immutable or append-only attribute (`chattr +i` / `+a`) can be neither
//!   renamed over nor rewritten, even by root.
//! - A read-only file system cannot take the temp file.
//!
//! Mount points come from `/proc/self/mountinfo`: a bind mount from the same file system
//! keeps the device number, so comparing `st_dev` of the file with its directory's misses
//! exactly the common case. Without `/proc` the `st_dev` comparison is the fallback.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// `FS_IMMUTABLE_FL` from `linux/fs.h` (not exported by the `libc` crate).
const FS_IMMUTABLE_FL: u32 = 0x0000_0010;
/// `FS_APPEND_FL` from `linux/fs.h`.
const FS_APPEND_FL: u32 = 0x0000_0020;

/// How a file that exists (or will be created) can be replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// A temp file renamed over the target: atomic.
    Rename,
    /// The target is a mount point: truncated and rewritten through the same inode, which is
    /// what reaches the file on the host. Not atomic: a crash during the write can leave a
    /// partly written file.
    InPlace {
        /// Where the target is mounted.
        mount_point: PathBuf,
    },
}

/// Why a file cannot be replaced at all. The message says "it …": callers put the path in front.
#[derive(Debug, thiserror::Error)]
pub enum NotReplaceable {
    /// An `immutable` or `append-only` file attribute (chattr) forbids the rename.
    #[error("it has the {name} attribute, which stops every program (root included) from replacing it; remove it with `chattr -{letter} {}` and run again", path.display())]
    Attribute {
        /// The attribute's name (`immutable`, `append-only`).
        name: &'static str,
        /// Its `chattr` letter (`i`, `a`).
        letter: char,
        /// The file concerned.
        path: PathBuf,
    },
    /// The file is a read-only bind mount of its own.
    #[error("it is mounted by itself, read-only, at [{}] (a single-file bind mount such as `docker run -v …:ro` or a Kubernetes ConfigMap/Secret `subPath`); change the file where it comes from, or mount it read-write", mount_point.display())]
    ReadOnlyMount {
        /// Where the file is mounted.
        mount_point: PathBuf,
    },
    /// The file system holding the file is mounted read-only.
    #[error("it is on a read-only file system (mounted at [{}]); remount it read-write, or change the file where it comes from", mount_point.display())]
    ReadOnlyFileSystem {
        /// The mount point of the read-only file system.
        mount_point: PathBuf,
    },
}

/// If `err` says a file cannot be replaced, why.
pub fn not_replaceable(err: &io::Error) -> Option<&NotReplaceable> {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<NotReplaceable>())
}

fn refuse(kind: io::ErrorKind, why: NotReplaceable) -> io::Error {
    io::Error::new(kind, why)
}

/// How `target` (a regular file or nothing; symbolic links are refused elsewhere) can be
/// replaced, or why it cannot.
pub fn method(target: &Path) -> io::Result<Method> {
    let dir = super::parent_dir(target);
    let mounts = Mounts::read();
    let meta = match fs::symlink_metadata(target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let dir_meta = fs::metadata(dir)?;
    if let Some(flags) = attribute_flags(dir) {
        if let Some(refusal) = attribute_refusal(flags, dir) {
            return Err(refuse(io::ErrorKind::PermissionDenied, refusal));
        }
    }
    let Some(meta) = meta else {
        return rename_into(dir, &mounts);
    };
    if let Some(flags) = attribute_flags(target) {
        if let Some(refusal) = attribute_refusal(flags, target) {
            return Err(refuse(io::ErrorKind::PermissionDenied, refusal));
        }
    }
    let full = absolute(target);
    let own_mount = match &mounts {
        Some(m) => m.at(&full).map(|e| (e.mount_point.clone(), e.read_only)),
        // No mountinfo: a different device than the directory's is a mount point.
        None => (meta.dev() != dir_meta.dev()).then(|| (full.clone(), read_only(target))),
    };
    match own_mount {
        Some((mount_point, true)) => Err(refuse(
            io::ErrorKind::ReadOnlyFilesystem,
            NotReplaceable::ReadOnlyMount { mount_point },
        )),
        Some((mount_point, false)) => Ok(Method::InPlace { mount_point }),
        None => rename_into(dir, &mounts),
    }
}

/// A rename into `dir` needs its file system writable.
fn rename_into(dir: &Path, mounts: &Option<Mounts>) -> io::Result<Method> {
    if read_only(dir) {
        let full = absolute(dir);
        let mount_point = mounts
            .as_ref()
            .and_then(|m| m.containing(&full))
            .unwrap_or(full);
        return Err(refuse(
            io::ErrorKind::ReadOnlyFilesystem,
            NotReplaceable::ReadOnlyFileSystem { mount_point },
        ));
    }
    Ok(Method::Rename)
}

fn attribute_refusal(flags: u32, path: &Path) -> Option<NotReplaceable> {
    let (name, letter) = if flags & FS_IMMUTABLE_FL != 0 {
        ("immutable", 'i')
    } else if flags & FS_APPEND_FL != 0 {
        ("append-only", 'a')
    } else {
        return None;
    };
    Some(NotReplaceable::Attribute {
        name,
        letter,
        path: path.to_path_buf(),
    })
}

/// The inode flags (`lsattr`) of `path`, `None` where the file system has none (tmpfs,
/// overlay on some kernels) or the file cannot be opened for reading.
fn attribute_flags(path: &Path) -> Option<u32> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    // The kernel writes an `int` although the ioctl's name says `long`; a zeroed buffer of
    // two ints is large enough either way.
    let mut flags: [libc::c_int; 2] = [0; 2];
    // SAFETY: the descriptor is open for the call; `flags` outlives it and is large enough.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, flags.as_mut_ptr()) };
    (rc == 0).then_some(flags[0] as u32)
}

/// Whether the file system holding `path` is mounted read-only.
fn read_only(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: `statvfs` is a plain C struct of integers, for which all-zero is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs fills the zeroed struct; `c` is a valid NUL-terminated path.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_flag & libc::ST_RDONLY != 0
}

/// `path` made absolute with its directory resolved (the last component is kept: it is a
/// file, not a link, where this is used).
fn absolute(path: &Path) -> PathBuf {
    let dir = super::parent_dir(path);
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// One line of `/proc/self/mountinfo`, the parts used here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MountEntry {
    mount_point: PathBuf,
    read_only: bool,
}

/// The mount table of this process's mount namespace.
struct Mounts(Vec<MountEntry>);

impl Mounts {
    fn read() -> Option<Mounts> {
        let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
        Some(Mounts(text.lines().filter_map(parse_line).collect()))
    }

    /// The last mount exactly at `path` (later lines stack over earlier ones).
    fn at(&self, path: &Path) -> Option<&MountEntry> {
        self.0.iter().rev().find(|m| m.mount_point == path)
    }

    /// The mount point of the deepest mount containing `path`.
    fn containing(&self, path: &Path) -> Option<PathBuf> {
        self.0
            .iter()
            .filter(|m| path.starts_with(&m.mount_point))
            .max_by_key(|m| m.mount_point.as_os_str().len())
            .map(|m| m.mount_point.clone())
    }
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`: the
/// fifth field is the mount point (octal escapes for space, tab, newline and backslash), the
/// sixth the per-mount options.
fn parse_line(line: &str) -> Option<MountEntry> {
    let mut fields = line.split(' ');
    let mount_point = fields.nth(4)?;
    let options = fields.next()?;
    Some(MountEntry {
        mount_point: PathBuf::from(unescape(mount_point)),
        read_only: options.split(',').any(|o| o == "ro"),
    })
}

fn unescape(field: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(b) = u8::try_from(value) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    std::ffi::OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_are_parsed_with_escapes_and_options() {
        let line =
            "46 27 254:0 /tmp/a/f /tmp/my\\040dir/elasticsearch.yml ro,relatime - ext4 /dev/vda rw";
        assert_eq!(
            parse_line(line),
            Some(MountEntry {
                mount_point: PathBuf::from("/tmp/my dir/elasticsearch.yml"),
                read_only: true
            })
        );
        let rw = "22 1 0:21 / /proc rw,nosuid - proc proc rw";
        assert!(!parse_line(rw).unwrap().read_only);
        assert_eq!(parse_line("garbage"), None);
        assert_eq!(unescape("a\\134b\\011"), std::ffi::OsString::from("a\\b\t"));
    }

    #[test]
    fn a_plain_file_and_a_missing_one_are_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        assert_eq!(method(&f).unwrap(), Method::Rename);
        fs::write(&f, b"x").unwrap();
        assert_eq!(method(&f).unwrap(), Method::Rename);
    }
}

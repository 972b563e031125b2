//! Reading a credential from a file (client secret, federated token, ready access token)
//! into zeroizing memory, with errors that name the variable or flag the path came from.

use std::io::Read;
use std::path::Path;

use super::error::AuthError;
use crate::secret::Zeroizing;

/// No credential file we read is anywhere near this big; refusing larger ones keeps a wrong
/// path (a log file, a device) from being read into memory.
const MAX_CREDENTIAL_FILE: u64 = 1024 * 1024;

/// How much surrounding whitespace belongs to the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trim {
    /// Strip exactly one trailing `\n` or `\r\n` (a secret may legitimately end in spaces).
    OneTrailingNewline,
    /// Strip all surrounding whitespace (tokens never contain any).
    Whitespace,
}

/// Read `path` as UTF-8. `what` names its source (e.g. `AZURE_CLIENT_SECRET_FILE`), `remedy`
/// says what to do when the file is empty.
pub(crate) fn read_credential_file(
    what: &str,
    path: &Path,
    trim: Trim,
    remedy: &str,
) -> Result<Zeroizing<String>, AuthError> {
    let fail = |reason: String| AuthError::CredentialFile {
        what: what.to_string(),
        path: path.display().to_string(),
        reason,
    };
    // Look before opening: opening a FIFO for reading would block until a writer shows up.
    let before = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !before.is_file() {
        return Err(fail("not a regular file".to_string()));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".to_string()));
    }
    if meta.len() > MAX_CREDENTIAL_FILE {
        return Err(fail(format!(
            "it is {} bytes, larger than any credential ({} bytes at most)",
            meta.len(),
            MAX_CREDENTIAL_FILE
        )));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.take(MAX_CREDENTIAL_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| fail("it is not UTF-8 text".to_string()))?;
    let value = match trim {
        Trim::OneTrailingNewline => text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text),
        Trim::Whitespace => text.trim(),
    };
    if value.trim().is_empty() {
        return Err(AuthError::EmptyCredentialFile {
            what: what.to_string(),
            path: path.display().to_string(),
            remedy: remedy.to_string(),
        });
    }
    Ok(Zeroizing::new(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{ExitCode, UserFacing};

    fn write(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn trimming_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "s", b"  sec ret \n\n");
        let v = read_credential_file("X", &p, Trim::OneTrailingNewline, "r").unwrap();
        assert_eq!(v.as_str(), "  sec ret \n");
        let p = write(&dir, "c", b"abc\r\n");
        let v = read_credential_file("X", &p, Trim::OneTrailingNewline, "r").unwrap();
        assert_eq!(v.as_str(), "abc");
        let v = read_credential_file("X", &p, Trim::Whitespace, "r").unwrap();
        assert_eq!(v.as_str(), "abc");
    }

    #[test]
    fn errors_name_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = read_credential_file("AZURE_CLIENT_SECRET_FILE", &missing, Trim::Whitespace, "r")
            .unwrap_err();
        assert!(e.to_string().contains("AZURE_CLIENT_SECRET_FILE"), "{e}");
        assert_eq!(e.exit_code(), ExitCode::IoError);
        let empty = write(&dir, "e", b"\n");
        let e = read_credential_file(
            "AZURE_CLIENT_SECRET_FILE",
            &empty,
            Trim::OneTrailingNewline,
            "put the secret in it",
        )
        .unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
        assert_eq!(e.exit_code(), ExitCode::Usage);
        let e = read_credential_file("X", dir.path(), Trim::Whitespace, "r").unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let bin = write(&dir, "b", &[0xff, 0xfe]);
        assert!(read_credential_file("X", &bin, Trim::Whitespace, "r").is_err());
    }
}

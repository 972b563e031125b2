//! The `elasticsearch.keystore` byte layout: pure bytes ↔ structs, no I/O, no cryptography.
//!
//! Layout (see `docs/keystore.md` and the fixtures in `fixtures/keystores/`):
//!
//! ```text
//! BE u32 0x3fd76c17 | vint 22 "elasticsearch.keystore" | BE i32 version   (Lucene header)
//! u8 has_password (0 or 1)
//! i32 data_len, then: i32 salt_len + salt | i32 iv_len + iv | i32 enc_len + ciphertext||tag
//! BE u32 0xc02893e8 | BE u32 0 | BE u64 CRC-32 of everything before it  (Lucene footer)
//! ```
//!
//! The data-block ints are little-endian from version 5 on (Lucene 9 changed the default
//! byte order) and big-endian before; header and footer are big-endian in every version.
//!
//! Every length field is checked against the bytes actually present before it is used, so
//! no input can make the parser allocate more than the input's own size or panic. The whole
//! structure is validated before the CRC, so a damaged length is reported as corruption at
//! the field that is wrong, and a damaged payload byte as a checksum mismatch.

use std::str::FromStr;

use zeroize::Zeroizing;

use super::error::KeystoreError;
pub use super::version::FormatVersion;

/// Lucene's `CodecUtil` header magic.
pub const CODEC_MAGIC: u32 = 0x3fd7_6c17;
/// Lucene's `CodecUtil` footer magic (the bitwise complement of the header magic).
pub const FOOTER_MAGIC: u32 = 0xc028_93e8;
/// The codec name Elasticsearch writes into the header.
pub const CODEC_NAME: &str = "elasticsearch.keystore";
/// Header: magic, one-byte vint length, codec name, version.
pub const HEADER_LEN: usize = 4 + 1 + CODEC_NAME.len() + 4;
/// Footer: magic, algorithm id, 64-bit checksum.
pub const FOOTER_LEN: usize = 16;
/// Salt length every writer uses.
pub const SALT_LEN: usize = 64;
/// AES-GCM IV length every writer uses (the only one this implementation accepts).
pub const IV_LEN: usize = 12;
/// AES-GCM tag length (128 bits).
pub const TAG_LEN: usize = 16;
/// File size minus plaintext length, for a file written with a 64-byte salt and 12-byte IV.
pub const FILE_OVERHEAD: usize =
    HEADER_LEN + 1 + 4 + (4 + SALT_LEN) + (4 + IV_LEN) + 4 + TAG_LEN + FOOTER_LEN;
/// The largest plaintext whose length fields still fit the format's signed 32-bit ints.
pub const MAX_PLAINTEXT_LEN: usize = i32::MAX as usize - (4 + SALT_LEN + 4 + IV_LEN + 4 + TAG_LEN);

/// Offset of the `has_password` byte.
const HAS_PASSWORD_OFFSET: usize = HEADER_LEN;
/// Offset of the data-block length.
const DATA_LEN_OFFSET: usize = HEADER_LEN + 1;
/// Offset of the first byte of the data block.
const DATA_OFFSET: usize = DATA_LEN_OFFSET + 4;

/// Which version to write for an Elasticsearch release, and parsing a version given as text:
/// here rather than in `version` because both answer with a [`KeystoreError`].
impl FormatVersion {
    /// The version a given Elasticsearch release considers current, which is the one to
    /// write for it (an older node refuses a newer file; a newer node rewrites an older one
    /// at startup, which fails on a read-only config directory).
    ///
    /// Accepts `MAJOR`, `MAJOR.MINOR` or `MAJOR.MINOR.PATCH[-suffix]`.
    pub fn for_es_version(es: &str) -> Result<FormatVersion, KeystoreError> {
        let unsupported = |reason: &'static str| KeystoreError::UnsupportedEsVersion {
            given: es.to_owned(),
            reason,
        };
        let mut parts = es.trim().split('.');
        let major: u32 = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| unsupported("expected a version such as 7.17, 8.13 or 9.1"))?;
        let minor: u32 = match parts.next() {
            None => 0,
            Some(p) => p
                .parse()
                .map_err(|_| unsupported("expected a version such as 7.17, 8.13 or 9.1"))?,
        };
        match (major, minor) {
            (0..=6, _) => Err(unsupported(
                "Elasticsearch 6.x and older are not supported; use that release's own elasticsearch-keystore",
            )),
            (7, _) => Ok(FormatVersion::V4),
            (8, 0..=13) => Ok(FormatVersion::V5),
            _ => Ok(FormatVersion::V6),
        }
    }
}

impl FromStr for FormatVersion {
    type Err = KeystoreError;

    /// `"3"`–`"6"`; writers reject 3 separately with [`KeystoreError::NotWritableVersion`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<i32>()
            .ok()
            .and_then(FormatVersion::from_number)
            .ok_or_else(|| KeystoreError::InvalidFormatVersion {
                given: s.to_owned(),
            })
    }
}

/// What can be known about a keystore file without its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The format version.
    pub version: FormatVersion,
    /// Whether the keystore has a non-empty password.
    pub has_password: bool,
}

/// A structurally valid, checksum-verified keystore file, still encrypted. Borrows the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Container<'a> {
    /// What the header says (version, password flag).
    pub header: Header,
    /// The PBKDF2 salt.
    pub salt: &'a [u8],
    /// The AES-GCM IV.
    pub iv: &'a [u8],
    /// AES-GCM ciphertext followed by the 16-byte tag.
    pub ciphertext: &'a [u8],
}

/// A bounds-checked cursor over a byte slice. Every read fails instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|s| s.try_into().ok())
    }

    fn i32(&mut self, little_endian: bool) -> Option<i32> {
        let b = self.array::<4>()?;
        Some(if little_endian {
            i32::from_le_bytes(b)
        } else {
            i32::from_be_bytes(b)
        })
    }

    fn u16_be(&mut self) -> Option<u16> {
        self.array::<2>().map(u16::from_be_bytes)
    }

    fn u32_be(&mut self) -> Option<u32> {
        self.array::<4>().map(u32::from_be_bytes)
    }

    fn u64_be(&mut self) -> Option<u64> {
        self.array::<8>().map(u64::from_be_bytes)
    }

    /// A signed length field followed by that many bytes, both bounded by what is present.
    fn length_prefixed(
        &mut self,
        little_endian: bool,
        what: &str,
    ) -> Result<&'a [u8], KeystoreError> {
        let len = self.i32(little_endian).ok_or_else(|| {
            KeystoreError::corrupt(format!("the data block ends inside the {what} length"))
        })?;
        let len = usize::try_from(len)
            .map_err(|_| KeystoreError::corrupt(format!("negative {what} length {len}")))?;
        if len > self.remaining() {
            return Err(KeystoreError::corrupt(format!(
                "{what} length {len} exceeds the {} bytes left in the data block",
                self.remaining()
            )));
        }
        self.take(len)
            .ok_or_else(|| KeystoreError::corrupt(format!("{what} is truncated")))
    }
}

/// Check the Lucene header and return the version; nothing after the header is looked at.
fn parse_codec_header(bytes: &[u8]) -> Result<FormatVersion, KeystoreError> {
    let mut r = Reader::new(bytes);
    let magic = r
        .u32_be()
        .ok_or_else(|| KeystoreError::not_a_keystore(format!("only {} bytes long", bytes.len())))?;
    if magic != CODEC_MAGIC {
        return Err(KeystoreError::not_a_keystore(format!(
            "codec header mismatch: actual header={magic:#010x} vs expected header={CODEC_MAGIC:#010x}"
        )));
    }
    let name_len = r
        .array::<1>()
        .ok_or_else(|| KeystoreError::not_a_keystore("file ends inside the codec header"))?[0];
    let name = r.take(usize::from(name_len));
    if usize::from(name_len) != CODEC_NAME.len() || name != Some(CODEC_NAME.as_bytes()) {
        let shown = name
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_else(|| "<truncated>".to_owned());
        return Err(KeystoreError::not_a_keystore(format!(
            "codec mismatch: actual codec={shown:?} vs expected codec={CODEC_NAME:?}"
        )));
    }
    let number = r
        .array::<4>()
        .map(i32::from_be_bytes)
        .ok_or_else(|| KeystoreError::not_a_keystore("file ends inside the codec header"))?;
    FormatVersion::from_number(number).ok_or(if number < 3 {
        KeystoreError::VersionTooOld {
            origin: Default::default(),
            found: number,
        }
    } else {
        KeystoreError::VersionTooNew {
            origin: Default::default(),
            found: number,
        }
    })
}

/// Validate a whole keystore file (header, structure, footer, CRC) without decrypting it.
pub fn parse_container(bytes: &[u8]) -> Result<Container<'_>, KeystoreError> {
    let version = parse_codec_header(bytes)?;
    let le = version.little_endian();

    let has_password = match bytes.get(HAS_PASSWORD_OFFSET) {
        None => return Err(KeystoreError::corrupt("the file ends after the header")),
        Some(0) => false,
        Some(1) => true,
        Some(other) => {
            return Err(KeystoreError::corrupt(format!(
                "hasPassword boolean is corrupt: {other:02x}"
            )))
        }
    };

    let mut r = Reader::new(bytes);
    r.pos = DATA_LEN_OFFSET;
    let data_len = r
        .i32(le)
        .ok_or_else(|| KeystoreError::corrupt("the file ends before the data block length"))?;
    let data_len = usize::try_from(data_len)
        .map_err(|_| KeystoreError::corrupt(format!("negative data block length {data_len}")))?;
    // The file must be exactly header + flag + length + data + footer; checked in u64 so a
    // length near i32::MAX cannot overflow on 32-bit targets.
    let expected_len = DATA_OFFSET as u64 + data_len as u64 + FOOTER_LEN as u64;
    let actual_len = bytes.len() as u64;
    if actual_len < expected_len {
        return Err(KeystoreError::corrupt(format!(
            "the data block length {data_len} needs a {expected_len}-byte file but the file has {actual_len} bytes (truncated?)"
        )));
    }
    if actual_len > expected_len {
        return Err(KeystoreError::corrupt(format!(
            "{} unexpected bytes after the codec footer",
            actual_len - expected_len
        )));
    }

    let data = r
        .take(data_len)
        .ok_or_else(|| KeystoreError::corrupt("the data block is truncated"))?;
    let mut d = Reader::new(data);
    let salt = d.length_prefixed(le, "salt")?;
    let iv = d.length_prefixed(le, "IV")?;
    let ciphertext = d.length_prefixed(le, "encrypted data")?;
    if d.remaining() != 0 {
        return Err(KeystoreError::corrupt(format!(
            "{} unexpected bytes at the end of the data block",
            d.remaining()
        )));
    }
    if salt.is_empty() {
        return Err(KeystoreError::corrupt("the salt is empty"));
    }
    if iv.len() != IV_LEN {
        return Err(KeystoreError::corrupt(format!(
            "IV length {} (Elasticsearch writes {IV_LEN})",
            iv.len()
        )));
    }
    if ciphertext.len() < TAG_LEN {
        return Err(KeystoreError::corrupt(format!(
            "encrypted data of {} bytes is shorter than the {TAG_LEN}-byte GCM tag",
            ciphertext.len()
        )));
    }

    let checksum_offset = r.pos + 8;
    let footer_magic = r.u32_be().unwrap_or_default();
    if footer_magic != FOOTER_MAGIC {
        return Err(KeystoreError::corrupt(format!(
            "codec footer mismatch: actual footer={footer_magic:#010x} vs expected footer={FOOTER_MAGIC:#010x}"
        )));
    }
    let algorithm = r.u32_be().unwrap_or(u32::MAX);
    if algorithm != 0 {
        return Err(KeystoreError::corrupt(format!(
            "codec footer mismatch: unknown checksum algorithm {algorithm}"
        )));
    }
    let stored = r.u64_be().unwrap_or(u64::MAX);
    let expected = u32::try_from(stored)
        .map_err(|_| KeystoreError::corrupt(format!("illegal CRC-32 checksum: {stored:#x}")))?;
    let actual = crc32fast::hash(bytes.get(..checksum_offset).unwrap_or_default());
    if actual != expected {
        return Err(KeystoreError::ChecksumMismatch {
            origin: Default::default(),
            expected,
            actual,
        });
    }

    Ok(Container {
        header: Header {
            version,
            has_password,
        },
        salt,
        iv,
        ciphertext,
    })
}

/// Serialize an encrypted keystore. `ciphertext` includes the GCM tag.
pub fn write_container(
    header: Header,
    salt: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, KeystoreError> {
    let le = header.version.little_endian();
    let int = |n: usize| -> Result<[u8; 4], KeystoreError> {
        let n = i32::try_from(n)
            .map_err(|_| KeystoreError::Crypto("keystore data exceeds the format's 2 GiB limit"))?;
        Ok(if le { n.to_le_bytes() } else { n.to_be_bytes() })
    };
    let data_len = 4 + salt.len() + 4 + iv.len() + 4 + ciphertext.len();
    let mut out = Vec::with_capacity(DATA_OFFSET + data_len + FOOTER_LEN);
    out.extend_from_slice(&CODEC_MAGIC.to_be_bytes());
    out.push(CODEC_NAME.len() as u8);
    out.extend_from_slice(CODEC_NAME.as_bytes());
    out.extend_from_slice(&header.version.number().to_be_bytes());
    out.push(u8::from(header.has_password));
    out.extend_from_slice(&int(data_len)?);
    for field in [salt, iv, ciphertext] {
        out.extend_from_slice(&int(field.len())?);
        out.extend_from_slice(field);
    }
    out.extend_from_slice(&FOOTER_MAGIC.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&u64::from(crc).to_be_bytes());
    Ok(out)
}

/// One decrypted entry: its name and its value bytes (zeroized on drop).
pub type Entry = (String, Zeroizing<Vec<u8>>);

/// Decode the decrypted payload (Java `DataOutput`, always big-endian).
///
/// Entries are returned in file order; a name appearing twice is returned twice (the caller
/// keeps the last one, as Elasticsearch's `HashMap::put` does).
pub fn parse_entries(
    version: FormatVersion,
    plaintext: &[u8],
) -> Result<Vec<Entry>, KeystoreError> {
    let mut r = Reader::new(plaintext);
    let count = r.i32(false).ok_or_else(|| {
        KeystoreError::corrupt("the decrypted data is too short for an entry count")
    })?;
    let count = usize::try_from(count)
        .map_err(|_| KeystoreError::corrupt(format!("negative entry count {count}")))?;
    // The reservation's bytes never exceed the bytes left, whatever the count claims (an
    // entry takes at least 6 input bytes but `size_of::<Entry>()` in the vector); entries
    // that really are there grow the vector as they are read.
    let mut entries = Vec::with_capacity(count.min(r.remaining() / std::mem::size_of::<Entry>()));
    for index in 0..count {
        let name_len = r.u16_be().ok_or_else(|| {
            KeystoreError::corrupt(format!("entry {index} of {count} is missing"))
        })?;
        let name = r.take(usize::from(name_len)).ok_or_else(|| {
            KeystoreError::corrupt(format!("the name of entry {index} is truncated"))
        })?;
        let name = std::str::from_utf8(name)
            .map_err(|_| {
                KeystoreError::corrupt(format!("the name of entry {index} is not valid UTF-8"))
            })?
            .to_owned();
        if version == FormatVersion::V3 {
            // Format 3 stored the entry type ("STRING" or "FILE"); values are raw bytes either way.
            let type_len = r.u16_be().ok_or_else(|| {
                KeystoreError::corrupt(format!("the type of setting [{name}] is missing"))
            })?;
            r.take(usize::from(type_len)).ok_or_else(|| {
                KeystoreError::corrupt(format!("the type of setting [{name}] is truncated"))
            })?;
        }
        let value_len = r.i32(false).ok_or_else(|| {
            KeystoreError::corrupt(format!("the value length of setting [{name}] is missing"))
        })?;
        let value_len = usize::try_from(value_len).map_err(|_| {
            KeystoreError::corrupt(format!(
                "negative value length {value_len} for setting [{name}]"
            ))
        })?;
        if value_len > r.remaining() {
            return Err(KeystoreError::corrupt(format!(
                "the value length {value_len} of setting [{name}] exceeds the {} bytes left",
                r.remaining()
            )));
        }
        let value = r.take(value_len).ok_or_else(|| {
            KeystoreError::corrupt(format!("the value of setting [{name}] is truncated"))
        })?;
        entries.push((name, Zeroizing::new(value.to_vec())));
    }
    if r.remaining() != 0 {
        return Err(KeystoreError::corrupt(format!(
            "{} unexpected bytes after the last entry",
            r.remaining()
        )));
    }
    Ok(entries)
}

/// Exact byte length of the payload [`write_entries`] produces, or `TooLarge`.
pub fn entries_len<'a>(
    entries: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> Result<usize, KeystoreError> {
    let mut total: usize = 4;
    for (name, value) in entries {
        let too_large = || KeystoreError::TooLarge {
            name: name.to_owned(),
            len: value.len(),
        };
        total = total
            .checked_add(2 + name.len() + 4)
            .and_then(|t| t.checked_add(value.len()))
            .filter(|t| *t <= MAX_PLAINTEXT_LEN)
            .ok_or_else(too_large)?;
    }
    Ok(total)
}

/// Encode entries as the plaintext payload (format 4 and later: no type strings).
///
/// Names must already be valid setting names (ASCII, so their modified UTF-8 is the bytes
/// themselves). The buffer is allocated once at its final size (plus `extra_capacity`, which
/// lets the caller append the GCM tag without reallocating) so no partial copy of the
/// secrets is left behind in freed memory.
pub fn write_entries<'a>(
    entries: impl Iterator<Item = (&'a str, &'a [u8])> + Clone,
    extra_capacity: usize,
) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    let total = entries_len(entries.clone())?;
    let count = entries.clone().count();
    let mut out = Zeroizing::new(Vec::with_capacity(total + extra_capacity));
    let count = i32::try_from(count).map_err(|_| KeystoreError::Crypto("too many entries"))?;
    out.extend_from_slice(&count.to_be_bytes());
    for (name, value) in entries {
        let name_len =
            u16::try_from(name.len()).map_err(|_| KeystoreError::InvalidSettingName {
                name: name.to_owned(),
            })?;
        // entries_len bounded the total by MAX_PLAINTEXT_LEN < i32::MAX.
        let value_len = i32::try_from(value.len()).map_err(|_| KeystoreError::TooLarge {
            name: name.to_owned(),
            len: value.len(),
        })?;
        out.extend_from_slice(&name_len.to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&value_len.to_be_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_character_in_a_damaged_name_does_not_break_the_one_line_message() {
        // One entry named "a\nb" whose value length runs past the end of the data.
        let mut plaintext = 1i32.to_be_bytes().to_vec();
        plaintext.extend_from_slice(&3u16.to_be_bytes());
        plaintext.extend_from_slice(b"a\nb");
        plaintext.extend_from_slice(&1000i32.to_be_bytes());
        let err = parse_entries(FormatVersion::V6, &plaintext).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text:?}");
        assert!(text.contains(r"[a\nb]"), "{text}");
    }

    #[test]
    fn overhead_matches_the_documented_156_bytes() {
        assert_eq!(HEADER_LEN, 31);
        assert_eq!(FILE_OVERHEAD, 156);
    }

    #[test]
    fn es_versions_map_to_the_format_they_consider_current() {
        let v = |s| FormatVersion::for_es_version(s).ok();
        assert_eq!(v("7.17"), Some(FormatVersion::V4));
        assert_eq!(v("7"), Some(FormatVersion::V4));
        assert_eq!(v("8.0"), Some(FormatVersion::V5));
        assert_eq!(v("8.13.4"), Some(FormatVersion::V5));
        assert_eq!(v("8.14"), Some(FormatVersion::V6));
        assert_eq!(v("8.19.2"), Some(FormatVersion::V6));
        assert_eq!(v("9.1"), Some(FormatVersion::V6));
        assert_eq!(v("10.0"), Some(FormatVersion::V6));
        assert_eq!(v("6.8"), None);
        assert_eq!(v("x.y"), None);
        assert_eq!(v(""), None);
        assert_eq!(v("8.x"), None);
    }

    #[test]
    fn format_version_strings_and_numbers() {
        assert_eq!("6".parse::<FormatVersion>().ok(), Some(FormatVersion::V6));
        assert_eq!("3".parse::<FormatVersion>().ok(), Some(FormatVersion::V3));
        assert!("7".parse::<FormatVersion>().is_err());
        assert!("v6".parse::<FormatVersion>().is_err());
        assert_eq!(FormatVersion::LATEST, FormatVersion::V6);
        assert_eq!(FormatVersion::V6.iterations(), 210_000);
        assert_eq!(FormatVersion::V5.iterations(), 10_000);
        assert!(!FormatVersion::V3.is_writable());
        for n in 3..=6 {
            assert_eq!(FormatVersion::from_number(n).map(|v| v.number()), Some(n));
        }
        assert_eq!(FormatVersion::from_number(2), None);
    }

    #[test]
    fn container_round_trip_in_both_byte_orders() {
        for version in [FormatVersion::V4, FormatVersion::V5, FormatVersion::V6] {
            let header = Header {
                version,
                has_password: true,
            };
            let bytes = write_container(header, &[7; SALT_LEN], &[9; IV_LEN], &[1; 40]).unwrap();
            assert_eq!(bytes.len(), FILE_OVERHEAD + 40 - TAG_LEN);
            let c = parse_container(&bytes).unwrap();
            assert_eq!(c.header, header);
            assert_eq!(c.salt, &[7; SALT_LEN]);
            assert_eq!(c.iv, &[9; IV_LEN]);
            assert_eq!(c.ciphertext, &[1; 40]);
        }
    }

    #[test]
    fn entries_round_trip_and_reject_trailing_bytes() {
        let a = b"x".as_slice();
        let items = [("a.b", a), ("empty", b"".as_slice())];
        let pt = write_entries(items.iter().copied(), 0).unwrap();
        let parsed = parse_entries(FormatVersion::V6, &pt).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].0, "a.b");
        assert_eq!(parsed[0].1.as_slice(), b"x");
        let mut longer = pt.to_vec();
        longer.push(0);
        assert!(matches!(
            parse_entries(FormatVersion::V6, &longer),
            Err(KeystoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn huge_counts_and_lengths_do_not_allocate() {
        let mut pt = i32::MAX.to_be_bytes().to_vec();
        pt.extend_from_slice(&[0, 1, b'a']);
        pt.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            parse_entries(FormatVersion::V6, &pt),
            Err(KeystoreError::Corrupt { .. })
        ));
    }
}

//! The keystore format versions, as plain data: the error type names a version (a version
//! that can be read but not written), so this sits below both `error` and `format`, keeping
//! the two free of an import cycle. Parsing from text and choosing a version for an
//! Elasticsearch release answer with errors, so they live in `format`.

use std::fmt;

/// A keystore format version this implementation can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FormatVersion {
    /// ES 6.3–6.7: entries carry a type string; read only.
    V3,
    /// ES 6.8 and 7.x.
    V4,
    /// ES 8.0–8.13: little-endian data-block ints.
    V5,
    /// ES 8.14 and later: 210,000 PBKDF2 iterations.
    V6,
}

impl FormatVersion {
    /// The version current Elasticsearch writes.
    pub const LATEST: FormatVersion = FormatVersion::V6;

    /// The version stored in a file header, if it is one this implementation reads.
    pub fn from_number(n: i32) -> Option<FormatVersion> {
        match n {
            3 => Some(FormatVersion::V3),
            4 => Some(FormatVersion::V4),
            5 => Some(FormatVersion::V5),
            6 => Some(FormatVersion::V6),
            _ => None,
        }
    }

    /// The version number as stored in the file (3 to 6).
    pub fn number(self) -> i32 {
        match self {
            FormatVersion::V3 => 3,
            FormatVersion::V4 => 4,
            FormatVersion::V5 => 5,
            FormatVersion::V6 => 6,
        }
    }

    /// PBKDF2-HMAC-SHA512 iteration count Elasticsearch uses for this version.
    pub fn iterations(self) -> u32 {
        match self {
            FormatVersion::V6 => 210_000,
            _ => 10_000,
        }
    }

    /// Whether this implementation writes the version (3 is read-only, as in ES ≥ 6.8).
    pub fn is_writable(self) -> bool {
        self != FormatVersion::V3
    }

    /// Whether the data-block ints are little-endian (Lucene ≥ 9, format ≥ 5).
    pub fn little_endian(self) -> bool {
        self >= FormatVersion::V5
    }
}

impl fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

//! Reading an HTTP answer's body into memory that is wiped on drop, within a size limit.
//!
//! Token answers hold an access token and `addPassword` answers hold a client secret, so the
//! body must not leave copies behind: `reqwest::Response::bytes()` collects into a buffer
//! of its own that is freed unwiped, and a `Vec` that grows leaves each old allocation
//! unwiped. Here the body is read chunk by chunk straight into one [`Zeroizing`] vector
//! whose capacity is set up front (from `Content-Length`, never past the limit) and, when it
//! must grow, is moved into a new zeroizing vector so the old allocation is wiped too.
//!
//! The size of an answer is a number from outside and is bounded: a `Content-Length` over
//! the limit is refused before anything is read, and a body without one is refused as soon
//! as it passes the limit.
//!
//! What cannot be wiped from here: hyper's read buffer and rustls' decrypted records (their
//! memory is theirs, reused and freed inside those crates), and a chunk that still shares
//! hyper's read buffer when we are done with it (only a chunk we own alone can be wiped).

use crate::secret::{Zeroize, Zeroizing};

/// The largest Microsoft Graph answer accepted. The biggest ones this tool reads are Graph's
/// own service principal with its `appRoles` (a few hundred KiB) and pages of at most 999
/// small objects; 4 MiB leaves ample room and still bounds what a server can make us hold.
pub const MAX_GRAPH_BODY: usize = 4 * 1024 * 1024;

/// The largest token endpoint answer accepted (tokens, device codes, OAuth errors). An
/// access token is a JWT of a few KiB (more with many group claims, still far below this).
pub const MAX_TOKEN_BODY: usize = 64 * 1024;

/// How much room a body without `Content-Length` gets at first (doubling from there).
const FIRST_CAPACITY: usize = 16 * 1024;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// `Content-Length` announced more than the limit; nothing was read.
    #[error("the answer announces {declared} bytes (Content-Length), more than the {} accepted", size(*limit))]
    DeclaredTooLarge { declared: u64, limit: usize },
    /// The body went past the limit while it was read.
    #[error("the answer is larger than the {} accepted", size(*limit))]
    TooLarge { limit: usize },
    /// The connection failed while the body was read.
    #[error("the answer could not be read")]
    Read(#[source] reqwest::Error),
}

/// What [`read_body`] counted, for the debug log and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BodyStats {
    /// Chunks received.
    pub chunks: usize,
    /// Chunks that were ours alone and were wiped after copying.
    pub wiped: usize,
    /// Times the buffer had to move to a larger one (the old one is wiped).
    pub moves: usize,
}

/// Read `response`'s body, at most `limit` bytes, into wiped-on-drop memory.
pub async fn read_body(
    response: reqwest::Response,
    limit: usize,
) -> Result<Zeroizing<Vec<u8>>, BodyError> {
    read_body_counted(response, limit)
        .await
        .map(|(body, _)| body)
}

/// [`read_body`], also saying how many chunks could be wiped.
pub async fn read_body_counted(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(Zeroizing<Vec<u8>>, BodyStats), BodyError> {
    let first = match response.content_length() {
        Some(declared) if declared > limit as u64 => {
            return Err(BodyError::DeclaredTooLarge { declared, limit })
        }
        // An honest Content-Length gets exactly its size: the vector never grows.
        Some(declared) => usize::try_from(declared).unwrap_or(limit),
        None => FIRST_CAPACITY.min(limit),
    };
    let mut body = Zeroizing::new(Vec::with_capacity(first));
    let mut stats = BodyStats::default();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        stats.chunks += 1;
        let needed = body.len().saturating_add(chunk.len());
        if needed > limit {
            return Err(BodyError::TooLarge { limit });
        }
        if needed > body.capacity() {
            // Grow by moving into a new zeroizing vector: `Vec`'s own growth would free the
            // old allocation without wiping it.
            let capacity = needed.max(body.capacity().saturating_mul(2)).min(limit);
            let mut bigger = Zeroizing::new(Vec::with_capacity(capacity));
            bigger.extend_from_slice(&body);
            body = bigger;
            stats.moves += 1;
        }
        body.extend_from_slice(&chunk);
        // A chunk we hold alone can be wiped; one that still shares hyper's read buffer
        // cannot be reached from here (see the module comment).
        if let Ok(mut owned) = chunk.try_into_mut() {
            owned.as_mut().zeroize();
            stats.wiped += 1;
        }
    }
    Ok((body, stats))
}

/// `4194304` → `4 MiB`, `65536` → `64 KiB`, otherwise bytes.
fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(MAX_GRAPH_BODY), "4 MiB");
        assert_eq!(size(MAX_TOKEN_BODY), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
        let e = BodyError::DeclaredTooLarge {
            declared: 5_000_000,
            limit: MAX_GRAPH_BODY,
        };
        assert_eq!(
            e.to_string(),
            "the answer announces 5000000 bytes (Content-Length), more than the 4 MiB accepted"
        );
    }
}

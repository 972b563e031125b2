//! Key derivation and AES-GCM for the keystore, and the parallel derivation that makes an
//! update cost about one key derivation instead of two.
//!
//! key = PBKDF2-HMAC-SHA512(password as UTF-8, salt, iterations, 16 bytes) → AES-128-GCM,
//! 12-byte IV, 128-bit tag, AAD = the salt. Derived keys and plaintexts live in zeroizing
//! buffers; ciphertexts, salts and IVs are not secret.
//!
//! Why the parallel derivation: every save draws a fresh salt, so an update (load, change,
//! save) needs the key for the old salt *and* one for a new salt. The second does not
//! depend on the file's contents, only on the password, so it is computed on a second
//! thread while the first one runs, and kept for the save.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::error::KeystoreError;
use super::format::{Container, IV_LEN, SALT_LEN, TAG_LEN};
use crate::secret::SecretString;

/// AES-128: Elasticsearch asks PBKDF2 for 128 bits.
pub const KEY_LEN: usize = 16;

/// PBKDF2-HMAC-SHA512 with a 16-byte output, as `PBKDF2WithHmacSHA512` in Elasticsearch.
pub fn derive_key(password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; KEY_LEN]> {
    super::kdf::pbkdf2_hmac_sha512::<KEY_LEN>(password, salt, iterations)
}

/// Fill `buf` from the operating system's CSPRNG; an error instead of a panic if it fails.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), KeystoreError> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|e| KeystoreError::Random(e.to_string()))
}

/// A key derived for a freshly drawn salt, ready for exactly one save.
pub struct SaveKey {
    salt: [u8; SALT_LEN],
    key: Zeroizing<[u8; KEY_LEN]>,
    iterations: u32,
}

impl std::fmt::Debug for SaveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaveKey")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl SaveKey {
    /// Draw a fresh salt and derive its key on the current thread.
    pub fn derive(password: &SecretString, iterations: u32) -> Result<SaveKey, KeystoreError> {
        let mut salt = [0u8; SALT_LEN];
        random_bytes(&mut salt)?;
        Ok(Self::derive_with_salt(password, salt, iterations))
    }

    fn derive_with_salt(password: &SecretString, salt: [u8; SALT_LEN], iterations: u32) -> SaveKey {
        let key = derive_key(password.expose_secret().as_bytes(), &salt, iterations);
        SaveKey {
            salt,
            key,
            iterations,
        }
    }

    /// The PBKDF2 iteration count the key was derived with.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The fresh salt the key was derived for.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// Encrypt the payload in place under this key with a fresh IV; returns the IV and
    /// `ciphertext || tag`. Consumes the key so a salt is never used for two saves.
    pub fn seal(
        self,
        mut payload: Zeroizing<Vec<u8>>,
    ) -> Result<([u8; IV_LEN], Vec<u8>), KeystoreError> {
        let mut iv = [0u8; IV_LEN];
        random_bytes(&mut iv)?;
        let cipher = Aes128Gcm::new_from_slice(self.key.as_ref())
            .map_err(|_| KeystoreError::Crypto("AES-128 key of the wrong length"))?;
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(&iv), &self.salt, payload.as_mut_slice())
            .map_err(|_| KeystoreError::Crypto("AES-GCM refused the payload size"))?;
        // The buffer now holds ciphertext only; the caller reserved room for the tag, so this
        // push does not reallocate.
        payload.extend_from_slice(tag.as_slice());
        Ok((iv, std::mem::take(&mut *payload)))
    }
}

/// Decrypt a verified container with an already derived key. A tag failure means a wrong
/// password or altered ciphertext.
pub fn open(
    key: &[u8; KEY_LEN],
    container: &Container<'_>,
) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    let split = container
        .ciphertext
        .len()
        .checked_sub(TAG_LEN)
        .ok_or_else(|| KeystoreError::corrupt("encrypted data shorter than the GCM tag"))?;
    let (body, tag) = container.ciphertext.split_at(split);
    if container.iv.len() != IV_LEN {
        return Err(KeystoreError::corrupt("IV of the wrong length"));
    }
    let cipher = Aes128Gcm::new_from_slice(key)
        .map_err(|_| KeystoreError::Crypto("AES-128 key of the wrong length"))?;
    let mut buf = Zeroizing::new(body.to_vec());
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(container.iv),
            container.salt,
            buf.as_mut_slice(),
            Tag::from_slice(tag),
        )
        .map_err(|_| KeystoreError::wrong_password())?;
    Ok(buf)
}

/// Derive the key for `salt` and, on a second thread at the same time, a [`SaveKey`] for a
/// fresh salt with `next_iterations` (the iteration count the next save will use).
///
/// If the second thread cannot be started, the save key is simply not pre-derived (`None`)
/// and the save derives it itself: slower, never wrong.
pub fn derive_with_next(
    password: &SecretString,
    salt: &[u8],
    iterations: u32,
    next_iterations: u32,
) -> Result<(Zeroizing<[u8; KEY_LEN]>, Option<SaveKey>), KeystoreError> {
    let mut next_salt = [0u8; SALT_LEN];
    random_bytes(&mut next_salt)?;
    let (key, next) = std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("keystore-kdf".to_owned())
            .spawn_scoped(scope, || {
                SaveKey::derive_with_salt(password, next_salt, next_iterations)
            });
        let key = derive_key(password.expose_secret().as_bytes(), salt, iterations);
        let next = helper.ok().and_then(|h| h.join().ok());
        (key, next)
    });
    Ok((key, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_sha512_matches_a_known_vector() {
        // RFC 6070-style vector for HMAC-SHA512 ("password"/"salt", 1 iteration), first 16 bytes.
        let key = derive_key(b"password", b"salt", 1);
        assert_eq!(
            key.as_ref(),
            &[
                0x86, 0x7f, 0x70, 0xcf, 0x1a, 0xde, 0x02, 0xcf, 0xf3, 0x75, 0x25, 0x99, 0xa3, 0xa5,
                0x3d, 0xc4
            ]
        );
    }

    #[test]
    fn seal_then_open_round_trips_and_detects_tampering() {
        let pw = SecretString::from("pw".to_owned());
        let key = SaveKey::derive(&pw, 1).unwrap();
        let salt = *key.salt();
        let raw = derive_key(b"pw", &salt, 1);
        let mut payload = Zeroizing::new(Vec::with_capacity(5 + TAG_LEN));
        payload.extend_from_slice(b"hello");
        let (iv, ct) = key.seal(payload).unwrap();
        let c = Container {
            header: super::super::format::Header {
                version: super::super::format::FormatVersion::V6,
                has_password: true,
            },
            salt: &salt,
            iv: &iv,
            ciphertext: &ct,
        };
        assert_eq!(open(&raw, &c).unwrap().as_slice(), b"hello");
        let mut bad = ct.clone();
        bad[0] ^= 1;
        let c2 = Container {
            ciphertext: &bad,
            ..c
        };
        assert!(matches!(
            open(&raw, &c2),
            Err(KeystoreError::WrongPasswordOrTampered { .. })
        ));
    }

    #[test]
    fn parallel_derivation_gives_the_same_keys_as_sequential() {
        let pw = SecretString::from("pässword".to_owned());
        let (key, next) = derive_with_next(&pw, b"some salt", 3, 5).unwrap();
        assert_eq!(*key, *derive_key("pässword".as_bytes(), b"some salt", 3));
        let next = next.unwrap();
        assert_eq!(next.iterations(), 5);
        assert_eq!(
            *next.key,
            *derive_key("pässword".as_bytes(), next.salt(), 5)
        );
    }
}

//! Client secrets as Entra makes them, and how the fake remembers them (a digest, never the
//! value: the value exists only in the one response that hands it out).

use rand::Rng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Characters Entra uses in generated secrets.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-";

/// A new secret shaped like Entra's: 3 characters, `8Q~`, then 34 characters (40 in all).
pub fn generate() -> Zeroizing<String> {
    let mut rng = rand::thread_rng();
    let mut s = Zeroizing::new(String::with_capacity(40));
    for i in 0..37 {
        if i == 3 {
            s.push_str("8Q~");
        }
        s.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
    }
    s
}

/// What the tenant stores to recognise a secret later.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The `hint` Graph shows for a secret: its first three characters.
pub fn hint(secret: &str) -> String {
    secret.chars().take(3).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_matches_entra() {
        let s = generate();
        assert_eq!(s.len(), 40);
        assert_eq!(&s[3..6], "8Q~");
        assert!(s.bytes().all(|b| ALPHABET.contains(&b)));
        assert_eq!(hint(&s), s[..3]);
        assert_ne!(*generate(), *s);
        assert_eq!(digest(&s), digest(&s.clone()));
    }
}

//! JWT-shaped access tokens: `base64url(header).base64url(claims).base64url(HS256 signature)`.
//!
//! Real Entra tokens are RS256-signed; clients must treat them as opaque except for reading
//! claims, so the algorithm does not matter to them. HMAC with a per-tenant random key lets
//! the fake verify its own tokens without any key distribution.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// The claims the fake puts in (and reads back from) an app-only access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub appid: String,
    pub appidacr: String,
    pub idtyp: String,
    pub oid: String,
    pub sub: String,
    pub tid: String,
    /// Values of the granted Graph app roles. Entra leaves the claim out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    pub uti: String,
    pub ver: String,
}

/// Why a presented bearer token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed,
    BadSignature,
    Expired,
}

/// Signs and verifies this tenant's tokens.
pub struct Signer {
    // One SHA-256 block, so the key is used as-is (no pre-hashing) and `KeyInit::new` applies.
    key: Zeroizing<[u8; 64]>,
}

impl Signer {
    pub fn random() -> Self {
        let mut key = Zeroizing::new([0u8; 64]);
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), key.as_mut());
        Signer { key }
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as hmac::digest::KeyInit>::new(self.key.as_ref().into())
    }

    /// Encode and sign `claims`.
    pub fn sign(&self, claims: &Claims) -> Zeroizing<String> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256","kid":"fake-tenant"}"#);
        // Serializing a struct of strings and integers cannot fail.
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{body}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Zeroizing::new(format!("{signing_input}.{sig}"))
    }

    /// Check the signature and lifetime of `token` and return its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenRejection> {
        let mut parts = token.split('.');
        let (Some(header), Some(body), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRejection::Malformed);
        };
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenRejection::Malformed)?;
        let mut mac = self.mac();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| TokenRejection::BadSignature)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenRejection::Malformed)?;
        let claims: Claims =
            serde_json::from_slice(&body).map_err(|_| TokenRejection::Malformed)?;
        if claims.exp <= now {
            return Err(TokenRejection::Expired);
        }
        Ok(claims)
    }
}

/// Read the claims of a token without checking its signature (what a client does with its
/// own token). Returns `None` when it is not JWT-shaped.
pub fn decode_unverified(token: &str) -> Option<Claims> {
    let body = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            aud: "https://graph.microsoft.com".into(),
            iss: "https://sts.windows.net/t/".into(),
            iat: 0,
            nbf: 0,
            exp,
            appid: "app".into(),
            appidacr: "1".into(),
            idtyp: "app".into(),
            oid: "sp".into(),
            sub: "sp".into(),
            tid: "t".into(),
            roles: vec!["User.Read.All".into()],
            uti: "u".into(),
            ver: "1.0".into(),
        }
    }

    #[test]
    fn round_trip_and_tamper_detection() {
        let signer = Signer::random();
        let token = signer.sign(&claims(100));
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(signer.verify(&token, 50), Ok(claims(100)));
        assert_eq!(signer.verify(&token, 100), Err(TokenRejection::Expired));
        assert_eq!(decode_unverified(&token), Some(claims(100)));

        let other = Signer::random();
        assert_eq!(other.verify(&token, 50), Err(TokenRejection::BadSignature));

        let mut forged = claims(100);
        forged.roles.push("Directory.ReadWrite.All".into());
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap_or_default());
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &forged_body;
        assert_eq!(
            signer.verify(&parts.join("."), 50),
            Err(TokenRejection::BadSignature)
        );
        assert_eq!(
            signer.verify("not-a-token", 50),
            Err(TokenRejection::Malformed)
        );
    }
}

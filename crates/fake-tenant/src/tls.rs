//! HTTPS for the fake tenant: a server identity (certificate chain + private key, PEM), and
//! a throwaway test CA that signs a certificate for the loopback names, so tests and the
//! standalone `fake-tenant --tls` exercise the client's real certificate verification
//! instead of plain http.
//!
//! The server side uses the same rustls (and the same `ring` crypto provider) that reqwest
//! already links, so HTTPS adds no second TLS stack.

use std::fmt;
use std::io;
use std::sync::Arc;

use chrono::{Datelike, Utc};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use secrecy::{ExposeSecret, SecretString};

/// Names a test server certificate is valid for: what `127.0.0.1:PORT`, `[::1]:PORT` and
/// `localhost:PORT` URLs are checked against.
pub const LOOPBACK_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// How long test certificates are valid (the CA and the server certificate): long enough
/// for a standalone fake tenant left running, short enough that a leaked test CA is useless
/// soon.
const VALIDITY_DAYS: i64 = 90;

/// A server's TLS identity: its certificate chain (leaf first) and private key, both PEM.
/// The key is held as a secret: `Debug` shows the chain's size only.
#[derive(Clone)]
pub struct TlsIdentity {
    cert_chain_pem: String,
    key_pem: SecretString,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_chain_pem_bytes", &self.cert_chain_pem.len())
            .field("key_pem", &"[REDACTED]")
            .finish()
    }
}

impl TlsIdentity {
    /// An identity from PEM text: `cert_chain_pem` holds one or more `CERTIFICATE` blocks
    /// (the server's first), `key_pem` one PKCS#8, PKCS#1 or SEC1 private key. Checked when
    /// the server starts.
    pub fn from_pem(cert_chain_pem: impl Into<String>, key_pem: SecretString) -> TlsIdentity {
        TlsIdentity {
            cert_chain_pem: cert_chain_pem.into(),
            key_pem,
        }
    }

    /// The certificate chain, PEM (not secret).
    pub fn cert_chain_pem(&self) -> &str {
        &self.cert_chain_pem
    }

    /// A rustls server configuration for this identity: TLS 1.2 and 1.3 with the `ring`
    /// provider, HTTP/1.1 announced by ALPN (the fake tenant's server speaks HTTP/1.1 only).
    pub(crate) fn server_config(&self) -> io::Result<Arc<rustls::ServerConfig>> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let chain = CertificateDer::pem_slice_iter(self.cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("TLS certificate chain is not valid PEM: {e}")))?;
        if chain.is_empty() {
            return Err(invalid(
                "TLS certificate chain holds no CERTIFICATE block".into(),
            ));
        }
        // The parse error names the PEM problem, never the key's bytes.
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.expose_secret().as_bytes())
            .map_err(|e| invalid(format!("TLS private key is not a valid PEM key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("TLS configuration refused: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| invalid(format!("TLS certificate and key do not fit together: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A throwaway certificate authority and a server identity it signed for
/// [`LOOPBACK_NAMES`], made fresh (new keys) on every call. Trust `ca_cert_pem` in the
/// client (`--ca-cert FILE`, `SSL_CERT_FILE=FILE`) and serve `server`.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate, PEM (not secret; its key is dropped once the server certificate
    /// is signed, so nothing else can ever be signed by it).
    pub ca_cert_pem: String,
    /// The server's certificate chain (leaf only: clients trust the CA directly) and key.
    pub server: TlsIdentity,
}

impl TestPki {
    /// Generate a CA (ECDSA P-256) and a server certificate for 127.0.0.1, ::1 and
    /// localhost, valid from yesterday for 90 days.
    pub fn generate() -> io::Result<TestPki> {
        Self::generate_for(&LOOPBACK_NAMES)
    }

    /// The same, for other names (IP addresses become IP subject alternative names).
    pub fn generate_for(names: &[&str]) -> io::Result<TestPki> {
        let failed = |what: &str, e: rcgen::Error| io::Error::other(format!("{what}: {e}"));

        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| failed("test CA parameters", e))?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "msgraph-keystore fake tenant test CA",
        );
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut ca_params);
        let ca_key = rcgen::KeyPair::generate().map_err(|e| failed("test CA key", e))?;
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(|e| failed("test CA certificate", e))?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names)
            .map_err(|e| failed("server certificate names", e))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "msgraph-keystore fake tenant");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        set_validity(&mut params);
        let key = rcgen::KeyPair::generate().map_err(|e| failed("server key", e))?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| failed("server certificate", e))?;

        Ok(TestPki {
            ca_cert_pem: ca_cert.pem(),
            server: TlsIdentity::from_pem(cert.pem(), SecretString::from(key.serialize_pem())),
        })
    }
}

/// Valid from yesterday (so clocks a little behind still accept it) to `VALIDITY_DAYS`
/// later; whole days are all a test certificate needs.
fn set_validity(params: &mut rcgen::CertificateParams) {
    let day = |offset_days: i64| {
        let d = (Utc::now() + chrono::Duration::days(offset_days)).date_naive();
        // Month and day come from a real date: always 1–12 and 1–31.
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    params.not_before = day(-1);
    params.not_after = day(VALIDITY_DAYS);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_loads_and_hides_its_key() {
        let pki = TestPki::generate().expect("generate");
        assert!(pki.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pki.server.cert_chain_pem().contains("BEGIN CERTIFICATE"));
        pki.server.server_config().expect("server config");
        let key = pki.server.key_pem.expose_secret().to_string();
        let shown = format!("{:?} {pki:?}", pki.server);
        assert!(!shown.contains(&key), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }

    #[test]
    fn every_call_makes_a_new_ca() {
        let a = TestPki::generate().expect("a");
        let b = TestPki::generate().expect("b");
        assert_ne!(a.ca_cert_pem, b.ca_cert_pem);
    }

    #[test]
    fn bad_pem_is_an_invalid_input_error_without_the_key() {
        let pki = TestPki::generate().expect("generate");
        let no_chain = TlsIdentity::from_pem("junk", pki.server.key_pem.clone());
        let e = no_chain.server_config().expect_err("no certificate");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let bad_key = TlsIdentity::from_pem(
            pki.server.cert_chain_pem(),
            SecretString::from(
                "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----\n"
                    .to_string(),
            ),
        );
        let e = bad_key.server_config().expect_err("bad key");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(!e.to_string().contains("c2VjcmV0LWtleQ"), "{e}");
        // A key that is fine but belongs to another certificate.
        let other = TestPki::generate().expect("other");
        let mismatched =
            TlsIdentity::from_pem(pki.server.cert_chain_pem(), other.server.key_pem.clone());
        assert!(mismatched.server_config().is_err());
    }
}

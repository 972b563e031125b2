//! Feed arbitrary bytes to every keystore parser: the file container (header, lengths,
//! footer, CRC), full decryption with the empty password, and the decrypted-payload decoder
//! of each format (which a fuzzer could otherwise never reach through AES-GCM).
//! Any panic, abort or out-of-memory is a bug: every input must give `Ok` or a typed error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use msgraph_keystore::keystore::format::{self, FormatVersion};
use msgraph_keystore::keystore::Keystore;
use msgraph_keystore::secret::SecretString;

fuzz_target!(|data: &[u8]| {
    if let Ok(container) = format::parse_container(data) {
        // A structurally valid input must survive being written back unchanged.
        let rewritten = format::write_container(
            container.header,
            container.salt,
            container.iv,
            container.ciphertext,
        )
        .expect("re-serializing a parsed container");
        assert_eq!(rewritten, data, "parse/write round trip changed the bytes");
        let _ = Keystore::decrypt_read_only(data, &SecretString::from(String::new()));
    }
    let _ = Keystore::parse_header(data);
    for version in [
        FormatVersion::V3,
        FormatVersion::V4,
        FormatVersion::V5,
        FormatVersion::V6,
    ] {
        let _ = format::parse_entries(version, data);
    }
});

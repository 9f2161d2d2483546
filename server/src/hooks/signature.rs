//! GitHub's body signature: `X-Hub-Signature-256: sha256=<hex>` of
//! HMAC-SHA256 over the raw body, compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "x-hub-signature-256";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error(
        "this webhook requires a signed body: send X-Hub-Signature-256: sha256=<hex of HMAC-SHA256 of the body>"
    )]
    Missing,
    #[error("X-Hub-Signature-256 must look like sha256=<64 hex digits>")]
    Malformed,
    #[error(
        "the body's signature does not match: sign the exact bytes sent with the webhook's signing secret"
    )]
    Mismatch,
}

pub fn verify(key: &str, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let given = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
        .filter(|bytes| bytes.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// The header value for a body, as a sender computes it.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_key_over_the_exact_body_verifies() {
        // GitHub's documented example.
        let example = sign("It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(
            example,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let body = br#"{"tag":"v2"}"#;
        let good = sign("key", body);
        assert_eq!(verify("key", Some(&good), body), Ok(()));
        assert_eq!(verify("other", Some(&good), body), Err(SignatureError::Mismatch));
        assert_eq!(
            verify("key", Some(&good), br#"{"tag":"v3"}"#),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify("key", None, body), Err(SignatureError::Missing));
        assert_eq!(
            verify("key", Some("sha1=abc"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("key", Some("sha256=zz"), body),
            Err(SignatureError::Malformed)
        );
    }
}

//! Random secrets (API tokens, setup links) and their stored form. They carry
//! 256 bits of entropy, so a plain SHA-256 is a sound stored form; comparison
//! is in constant time.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes as 64 hex characters.
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// A short random id (96 bits) for rows that users see and type.
pub fn new_id() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    hex::encode(bytes)
}

/// What an API token's holder sends: `shoal_<token id>_<secret>`. The id
/// finds the row; the secret is checked against its digest.
pub fn token_string(id: &str, secret: &str) -> String {
    format!("{TOKEN_PREFIX}{id}_{secret}")
}

/// The token id and the secret in what a client sent, if it has the shape
/// of an API token.
pub fn parse_token(sent: &str) -> Option<(&str, &str)> {
    sent.strip_prefix(TOKEN_PREFIX)?.split_once('_')
}

const TOKEN_PREFIX: &str = "shoal_";

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn matches(secret: &str, stored_digest: &str) -> bool {
    digest(secret).as_bytes().ct_eq(stored_digest.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_match_only_their_digest() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        let stored = digest(&a);
        assert!(matches(&a, &stored));
        assert!(!matches(&b, &stored));
        assert!(!stored.contains(&a));
    }

    #[test]
    fn a_token_string_parses_back_into_its_id_and_secret() {
        let sent = token_string("abc123", "s3cr3t");
        assert_eq!(parse_token(&sent), Some(("abc123", "s3cr3t")));
        assert_eq!(parse_token("Bearer abc"), None);
    }
}

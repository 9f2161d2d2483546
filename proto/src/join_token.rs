//! Join tokens: `SHOAL-1-<CA digest>-<secret>`.
//!
//! The digest is the SHA-256 of the cluster CA certificate (DER), so a
//! joining agent can check the CA a server presents before it trusts that
//! server with the secret; the secret proves the right to join. This is the
//! trust-on-join of Swarm's `SWMTKN`.

use std::{fmt, str::FromStr};

use sha2::{Digest, Sha256};

const PREFIX: &str = "SHOAL-";
pub const VERSION: u32 = 1;
/// Both parts are 32 bytes in lowercase hex.
const PART_LEN: usize = 64;

#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    pub ca_digest: String,
    pub secret: String,
}

/// The digest a join token carries for a CA certificate in DER form.
pub fn ca_digest(ca_certificate_der: &[u8]) -> String {
    hex::encode(Sha256::digest(ca_certificate_der))
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinTokenError {
    #[error(
        "this is not a join token: they look like SHOAL-1-<64 hex digits>-<64 hex digits>; \
         copy it again from the console (Nodes, Join tokens)"
    )]
    Malformed,
    #[error(
        "this join token has version {0}, which this agent does not know; use an agent as new as the server"
    )]
    UnknownVersion(String),
}

impl FromStr for JoinToken {
    type Err = JoinTokenError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let rest = raw.trim().strip_prefix(PREFIX).ok_or(JoinTokenError::Malformed)?;
        let mut parts = rest.split('-');
        let (Some(version), Some(digest), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoinTokenError::Malformed);
        };
        if version != VERSION.to_string() {
            return if version.chars().all(|c| c.is_ascii_digit()) && !version.is_empty() {
                Err(JoinTokenError::UnknownVersion(version.to_owned()))
            } else {
                Err(JoinTokenError::Malformed)
            };
        }
        let is_part = |s: &str| s.len() == PART_LEN && s.chars().all(|c| c.is_ascii_hexdigit());
        if !is_part(digest) || !is_part(secret) {
            return Err(JoinTokenError::Malformed);
        }
        Ok(Self {
            ca_digest: digest.to_ascii_lowercase(),
            secret: secret.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{VERSION}-{}-{}", self.ca_digest, self.secret)
    }
}

/// Never print the secret by accident (logs, panics).
impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_digest", &self.ca_digest)
            .field("secret", &"…")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> JoinToken {
        JoinToken {
            ca_digest: ca_digest(b"a certificate"),
            secret: "ab".repeat(32),
        }
    }

    #[test]
    fn a_token_survives_formatting_and_parsing() {
        let text = token().to_string();
        assert!(text.starts_with("SHOAL-1-"), "{text}");
        assert_eq!(text.len(), "SHOAL-1-".len() + 64 + 1 + 64);
        assert_eq!(text.parse::<JoinToken>().unwrap(), token());
        assert_eq!(format!("  {text}\n").parse::<JoinToken>().unwrap(), token());
    }

    #[test]
    fn the_digest_is_sha256_hex() {
        assert_eq!(
            ca_digest(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn broken_tokens_are_refused() {
        let good = token().to_string();
        for bad in [
            "",
            "SWMTKN-1-abc-def",
            &good[..good.len() - 1],
            &good.replace("SHOAL-1-", "SHOAL-1--"),
            &format!("{good}-extra"),
            &good.replace('a', "g"),
        ] {
            assert_eq!(
                bad.parse::<JoinToken>(),
                Err(JoinTokenError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            good.replace("SHOAL-1-", "SHOAL-2-").parse::<JoinToken>(),
            Err(JoinTokenError::UnknownVersion("2".into()))
        );
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let shown = format!("{:?}", token());
        assert!(!shown.contains(&token().secret), "{shown}");
    }
}

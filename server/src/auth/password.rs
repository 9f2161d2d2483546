//! Password hashing with argon2id, off the async runtime's worker threads:
//! one hash takes tens of milliseconds of CPU on purpose.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use tokio::sync::Semaphore;

use crate::error::AppError;

/// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Password hashes running at once. Each takes ~19 MiB and a core for a
/// moment; more at once would only queue on the cores while holding memory.
static HASHING: Semaphore = Semaphore::const_new(4);

pub async fn hash(password: String) -> Result<String, AppError> {
    let _turn = HASHING
        .acquire()
        .await
        .expect("the hashing semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| AppError::Internal(format!("hashing a password: {error}")))
    })
    .await
    .map_err(|error| AppError::Internal(format!("the hashing task failed: {error}")))?
}

/// Checks a password against a stored hash. With no stored hash (unknown
/// user) a dummy hash is checked instead, so the answer takes as long either
/// way and does not reveal which usernames exist.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    let _turn = HASHING
        .acquire()
        .await
        .expect("the hashing semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&stored)
            .map_err(|error| AppError::Internal(format!("a stored password hash is malformed: {error}")))?;
        Ok(hasher().verify_password(password.as_bytes(), &parsed).is_ok() && stored != DUMMY_HASH)
    })
    .await
    .map_err(|error| AppError::Internal(format!("the hashing task failed: {error}")))?
}

/// An argon2id hash of a random string nobody knows, with the same parameters.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2hvYWxkdW1teXNhbHQ$Wm4sQ0uGQ2zT3Yq3Jv5m0m8fH0d0n6G7u0d1m0n0y2s";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_at_least_owasp_parameters() {
        let hash = hash("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(
            verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse battery".into(), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_are_checked_against_a_dummy_and_never_match() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify("anything at all".into(), None).await.unwrap());
    }
}

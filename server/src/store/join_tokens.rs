use shoal_proto::{Millis, node::NodeRole};
use sqlx::Row;

use super::{Store, StoreError, now_millis};

/// A join token as stored: the nonce its secret is derived from and the
/// secret's digest, never the secret.
#[derive(Clone, Debug)]
pub struct JoinTokenRow {
    pub role: NodeRole,
    pub nonce: String,
    pub secret_hash: String,
    pub rotated_at: Millis,
}

impl Store {
    /// Stores a first token for `role` unless one exists (several servers
    /// starting at once agree on the first one written).
    pub async fn create_join_token(
        &self,
        role: NodeRole,
        nonce: &str,
        secret_hash: &str,
    ) -> Result<(), StoreError> {
        Ok(sqlx::query(
            "INSERT INTO join_tokens (role, nonce, secret_hash, rotated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (role) DO NOTHING",
        )
        .bind(role.as_str())
        .bind(nonce)
        .bind(secret_hash)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .map(drop)?)
    }

    pub async fn rotate_join_token(
        &self,
        role: NodeRole,
        nonce: &str,
        secret_hash: &str,
    ) -> Result<(), StoreError> {
        Ok(sqlx::query(
            "UPDATE join_tokens SET nonce = $1, secret_hash = $2, rotated_at = $3 WHERE role = $4",
        )
        .bind(nonce)
        .bind(secret_hash)
        .bind(now_millis())
        .bind(role.as_str())
        .execute(&self.pool)
        .await
        .map(drop)?)
    }

    pub async fn join_tokens(&self) -> Result<Vec<JoinTokenRow>, StoreError> {
        let rows = sqlx::query("SELECT role, nonce, secret_hash, rotated_at FROM join_tokens ORDER BY role")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                Ok(JoinTokenRow {
                    role: role.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    nonce: row.try_get("nonce")?,
                    secret_hash: row.try_get("secret_hash")?,
                    rotated_at: row.try_get("rotated_at")?,
                })
            })
            .collect()
    }
}

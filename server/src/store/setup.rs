use super::{Store, StoreError, now_millis};
use shoal_proto::Millis;

impl Store {
    /// Replaces any earlier unused setup link: only the newest one works.
    pub async fn replace_setup_token(&self, token_hash: &str, expires_at: Millis) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM setup_tokens WHERE used_at IS NULL")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(now_millis())
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        Ok(tx.commit().await?)
    }

    pub async fn setup_token_usable(&self, token_hash: &str, now: Millis) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Marks the link used; false when it was not usable (already used,
    /// expired, unknown), so two concurrent setups cannot both succeed.
    pub async fn consume_setup_token(&self, token_hash: &str, now: Millis) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE setup_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}

use shoal_proto::{
    Millis,
    auth::{ApiToken, Role},
};
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_millis};

#[derive(Clone, Debug)]
pub struct TokenRecord {
    pub token: ApiToken,
    pub user_id: String,
    pub secret_hash: String,
}

const COLUMNS: &str =
    "id, user_id, name, role, secret_hash, created_at, expires_at, last_used_at, revoked_at";

fn from_row(row: &AnyRow) -> Result<TokenRecord, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(TokenRecord {
        token: ApiToken {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: role.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        },
        user_id: row.try_get("user_id")?,
        secret_hash: row.try_get("secret_hash")?,
    })
}

pub struct NewTokenRow<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub secret_hash: &'a str,
    pub expires_at: Option<Millis>,
}

impl Store {
    pub async fn insert_token(&self, new: NewTokenRow<'_>) -> Result<TokenRecord, StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, role, secret_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.id)
        .bind(new.user_id)
        .bind(new.name)
        .bind(new.role.as_str())
        .bind(new.secret_hash)
        .bind(now_millis())
        .bind(new.expires_at)
        .execute(&self.pool)
        .await?;
        self.token_by_id(new.id)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    pub async fn token_by_id(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1");
        self.find_one(&sql, id, from_row).await
    }

    pub async fn tokens_of_user(&self, user_id: &str) -> Result<Vec<ApiToken>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC");
        let rows = sqlx::query(&sql).bind(user_id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| from_row(row).map(|record| record.token))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn touch_token(&self, id: &str, at: Millis) -> Result<(), StoreError> {
        Ok(
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(&self.pool)
                .await
                .map(drop)?,
        )
    }

    pub async fn revoke_token(&self, id: &str) -> Result<(), StoreError> {
        Ok(
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_millis())
                .bind(id)
                .execute(&self.pool)
                .await
                .map(drop)?,
        )
    }
}

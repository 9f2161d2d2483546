use shoal_proto::{
    Millis,
    auth::{Role, User},
};
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_millis};

/// A user row with the fields only the server sees.
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
    pub session_epoch: i64,
}

const COLUMNS: &str =
    "id, username, password_hash, role, disabled_at, session_epoch, created_at, last_login_at";

fn from_row(row: &AnyRow) -> Result<UserRecord, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(UserRecord {
        user: User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            role: role.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
            created_at: row.try_get("created_at")?,
            last_login_at: row.try_get("last_login_at")?,
        },
        password_hash: row.try_get("password_hash")?,
        session_epoch: row.try_get("session_epoch")?,
    })
}

impl Store {
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn insert_user(
        &self,
        id: &str,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<UserRecord, StoreError> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .map_err(StoreError::unique(|| format!("a user named {username}")))?;
        self.user_by_id(id)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        self.find_one(&sql, id, from_row).await
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
        self.find_one(&sql, username, from_row).await
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY username");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| from_row(row).map(|record| record.user))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Active admins other than `except`: the last admin must stay.
    pub async fn other_active_admins(&self, except: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1",
        )
        .bind(except)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn set_user_role(&self, id: &str, role: Role) -> Result<(), StoreError> {
        Ok(sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map(drop)?)
    }

    /// Disabling also ends the user's sessions, through the epoch.
    pub async fn set_user_disabled(&self, id: &str, disabled: bool) -> Result<(), StoreError> {
        let disabled_at = disabled.then(now_millis);
        Ok(
            sqlx::query("UPDATE users SET disabled_at = $1, session_epoch = session_epoch + 1 WHERE id = $2")
                .bind(disabled_at)
                .bind(id)
                .execute(&self.pool)
                .await
                .map(drop)?,
        )
    }

    /// A new password ends every session of the user.
    pub async fn set_user_password(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        Ok(sqlx::query(
            "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1 WHERE id = $2",
        )
        .bind(password_hash)
        .bind(id)
        .execute(&self.pool)
        .await
        .map(drop)?)
    }

    pub async fn touch_user_login(&self, id: &str, at: Millis) -> Result<(), StoreError> {
        Ok(sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map(drop)?)
    }

    pub async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Whether a console session is still stored (not logged out or expired
    /// away); sessions live in tower-sessions' table of the same database.
    pub async fn session_exists(&self, id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tower_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}

use shoal_proto::{
    Millis,
    webhook::{Delivery, Outcome, Webhook},
};
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, decode_error};

/// Deliveries kept per webhook; older ones are dropped as new ones arrive.
const DELIVERIES_KEPT: i64 = 200;

#[derive(Clone, Debug)]
pub struct WebhookRecord {
    pub webhook: Webhook,
    pub secret_hash: String,
    pub signing_secret: Option<String>,
}

const COLUMNS: &str = "id, service_id, name, secret_hash, signing_secret, allow_pattern, enabled, \
                       created_at, created_by, last_delivery_at";

fn from_row(row: &AnyRow) -> Result<WebhookRecord, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let signing_secret: Option<String> = row.try_get("signing_secret")?;
    Ok(WebhookRecord {
        webhook: Webhook {
            path: format!("/hooks/{id}"),
            id,
            service_id: row.try_get("service_id")?,
            name: row.try_get("name")?,
            allow: row.try_get("allow_pattern")?,
            signed: signing_secret.is_some(),
            enabled: row.try_get::<i64, _>("enabled")? != 0,
            created_at: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
            last_delivery_at: row.try_get("last_delivery_at")?,
        },
        secret_hash: row.try_get("secret_hash")?,
        signing_secret,
    })
}

const DELIVERY_COLUMNS: &str =
    "id, webhook_id, received_at, source, delivery_id, format, status, outcome, reason, image, rollout_id";

fn delivery_from_row(row: &AnyRow) -> Result<Delivery, sqlx::Error> {
    let outcome: String = row.try_get("outcome")?;
    let status: i64 = row.try_get("status")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        received_at: row.try_get("received_at")?,
        source: row.try_get("source")?,
        delivery_id: row.try_get("delivery_id")?,
        format: row.try_get("format")?,
        status: u16::try_from(status).map_err(decode_error)?,
        outcome: outcome
            .parse()
            .map_err(|e: String| decode_error(std::io::Error::other(e)))?,
        reason: row.try_get("reason")?,
        image: row.try_get("image")?,
        rollout_id: row.try_get("rollout_id")?,
    })
}

/// What a delivery id already did.
#[derive(Clone, Debug)]
pub struct Settled {
    pub outcome: Outcome,
    pub image: Option<String>,
    pub rollout_id: Option<String>,
}

pub struct NewWebhookRow<'a> {
    pub id: &'a str,
    pub service_id: &'a str,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub signing_secret: Option<&'a str>,
    pub allow: &'a str,
    pub created_by: &'a str,
    pub created_at: Millis,
}

impl Store {
    pub async fn insert_webhook(&self, new: NewWebhookRow<'_>) -> Result<WebhookRecord, StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (id, service_id, name, secret_hash, signing_secret, allow_pattern, \
             enabled, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)",
        )
        .bind(new.id)
        .bind(new.service_id)
        .bind(new.name)
        .bind(new.secret_hash)
        .bind(new.signing_secret)
        .bind(new.allow)
        .bind(new.created_at)
        .bind(new.created_by)
        .execute(&self.pool)
        .await
        .map_err(StoreError::unique(|| {
            format!("a webhook named {:?} on this service", new.name)
        }))?;
        self.webhook(new.id)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    pub async fn webhook(&self, id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1");
        self.find_one(&sql, id, from_row).await
    }

    pub async fn webhooks_of_service(&self, service_id: &str) -> Result<Vec<Webhook>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE service_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(service_id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| from_row(row).map(|r| r.webhook))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn update_webhook(
        &self,
        id: &str,
        name: &str,
        allow: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhooks SET name = $1, allow_pattern = $2, enabled = $3 WHERE id = $4")
            .bind(name)
            .bind(allow)
            .bind(i64::from(enabled))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::unique(|| {
                format!("a webhook named {name:?} on this service")
            }))?;
        Ok(())
    }

    pub async fn set_webhook_secrets(
        &self,
        id: &str,
        secret_hash: &str,
        signing_secret: Option<&str>,
    ) -> Result<(), StoreError> {
        Ok(
            sqlx::query("UPDATE webhooks SET secret_hash = $1, signing_secret = $2 WHERE id = $3")
                .bind(secret_hash)
                .bind(signing_secret)
                .bind(id)
                .execute(&self.pool)
                .await
                .map(drop)?,
        )
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        for table in ["webhook_deliveries", "webhook_settled_ids"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE webhook_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let deleted = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// Records a delivery and drops the webhook's oldest beyond the kept number.
    pub async fn insert_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, received_at, source, delivery_id, format, \
             status, outcome, reason, image, rollout_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&delivery.id)
        .bind(&delivery.webhook_id)
        .bind(delivery.received_at)
        .bind(&delivery.source)
        .bind(delivery.delivery_id.as_deref())
        .bind(delivery.format.as_deref())
        .bind(i64::from(delivery.status))
        .bind(delivery.outcome.as_str())
        .bind(&delivery.reason)
        .bind(delivery.image.as_deref())
        .bind(delivery.rollout_id.as_deref())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE webhooks SET last_delivery_at = $1 WHERE id = $2")
            .bind(delivery.received_at)
            .bind(&delivery.webhook_id)
            .execute(&mut *tx)
            .await?;
        if let Some(key) = &delivery.delivery_id
            && matches!(delivery.outcome, Outcome::Deployed | Outcome::Unchanged)
        {
            sqlx::query(
                "INSERT INTO webhook_settled_ids (webhook_id, delivery_id, outcome, image, rollout_id, settled_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&delivery.webhook_id)
            .bind(key)
            .bind(delivery.outcome.as_str())
            .bind(delivery.image.as_deref())
            .bind(delivery.rollout_id.as_deref())
            .bind(delivery.received_at)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND id NOT IN \
             (SELECT id FROM webhook_deliveries WHERE webhook_id = $1 \
              ORDER BY received_at DESC, id DESC LIMIT $2)",
        )
        .bind(&delivery.webhook_id)
        .bind(DELIVERIES_KEPT)
        .execute(&mut *tx)
        .await?;
        Ok(tx.commit().await?)
    }

    /// Newest first.
    pub async fn deliveries(&self, webhook_id: &str, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
             ORDER BY received_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(webhook_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(delivery_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// What the earlier delivery with this sender-given id did, if it
    /// deployed or found nothing to do: a repeat of it must not deploy
    /// again, however long ago it came.
    pub async fn settled_delivery(
        &self,
        webhook_id: &str,
        delivery_id: &str,
    ) -> Result<Option<Settled>, StoreError> {
        let row = sqlx::query(
            "SELECT outcome, image, rollout_id FROM webhook_settled_ids \
             WHERE webhook_id = $1 AND delivery_id = $2",
        )
        .bind(webhook_id)
        .bind(delivery_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let outcome: String = row.try_get("outcome")?;
        Ok(Some(Settled {
            outcome: outcome
                .parse()
                .map_err(|e: String| StoreError::Db(decode_error(std::io::Error::other(e))))?,
            image: row.try_get("image")?,
            rollout_id: row.try_get("rollout_id")?,
        }))
    }
}

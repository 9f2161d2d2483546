//! Service networks as stored: a name and its options. Which services are
//! on one is read from their specs, not stored twice.

use shoal_proto::network::Network;
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError};

const COLUMNS: &str = "id, name, encrypted, proxy_protocol, created_at";

fn from_row(row: &AnyRow) -> Result<Network, sqlx::Error> {
    Ok(Network {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        encrypted: row.try_get::<i64, _>("encrypted")? != 0,
        proxy_protocol: row.try_get::<i64, _>("proxy_protocol")? != 0,
        created_at: row.try_get("created_at")?,
        services: Vec::new(),
    })
}

impl Store {
    /// Stores a new network; one of the same name is a conflict.
    pub async fn insert_network(&self, network: &Network) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO networks ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(&network.id)
        .bind(&network.name)
        .bind(i64::from(network.encrypted))
        .bind(i64::from(network.proxy_protocol))
        .bind(network.created_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::unique(|| {
            format!("a network named {:?}", network.name)
        }))?;
        Ok(())
    }

    /// By name.
    pub async fn list_networks(&self) -> Result<Vec<Network>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM networks ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// By id or, failing that, by name.
    pub async fn find_network(&self, id_or_name: &str) -> Result<Option<Network>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM networks WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC");
        self.find_one(&sql, id_or_name, from_row).await
    }

    /// False if it was not there.
    pub async fn delete_network(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM networks WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

use std::collections::BTreeMap;

use shoal_proto::{
    Millis,
    node::{Availability, Node, NodeRole, NodeStatus, Platform, Resources},
    wire::Inventory,
};
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, as_bigint, decode_error, now_millis};

/// A node as stored. Its `status` is always `unknown` here: the live status
/// comes from `presence`.
#[derive(Clone, Debug)]
pub struct NodeRecord {
    pub node: Node,
    pub cert_fingerprint: String,
}

/// Whose certificate a removed node's was.
#[derive(Clone, Debug)]
pub struct RemovedNode {
    pub node_id: String,
    pub hostname: String,
}

pub struct NewNodeRow<'a> {
    pub id: &'a str,
    pub role: NodeRole,
    /// What the node said about itself; operator labels start empty.
    pub engine_labels: &'a BTreeMap<String, String>,
    pub cert_fingerprint: &'a str,
    pub address: &'a str,
    pub inventory: &'a Inventory,
}

const COLUMNS: &str = "id, hostname, role, availability, labels, engine_labels, cert_fingerprint, address, \
     os, arch, cpus, memory_bytes, engine_version, agent_version, joined_at, last_heartbeat_at";

fn from_row(row: &AnyRow) -> Result<NodeRecord, sqlx::Error> {
    let role: String = row.try_get("role")?;
    let availability: String = row.try_get("availability")?;
    let labels: String = row.try_get("labels")?;
    let engine_labels: String = row.try_get("engine_labels")?;
    let count = |column: &str| -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or_default())
    };
    Ok(NodeRecord {
        node: Node {
            id: row.try_get("id")?,
            hostname: row.try_get("hostname")?,
            role: role.parse().map_err(decode_error)?,
            availability: availability.parse().map_err(decode_error)?,
            labels: serde_json::from_str(&labels).map_err(decode_error)?,
            engine_labels: serde_json::from_str(&engine_labels).map_err(decode_error)?,
            status: NodeStatus::Unknown,
            address: row.try_get("address")?,
            platform: Platform {
                os: row.try_get("os")?,
                arch: row.try_get("arch")?,
            },
            resources: Resources {
                cpus: count("cpus")?,
                memory_bytes: count("memory_bytes")?,
            },
            engine_version: row.try_get("engine_version")?,
            agent_version: row.try_get("agent_version")?,
            last_heartbeat_at: row.try_get("last_heartbeat_at")?,
            joined_at: row.try_get("joined_at")?,
        },
        cert_fingerprint: row.try_get("cert_fingerprint")?,
    })
}

fn labels_json(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".to_owned())
}

impl Store {
    pub async fn insert_node(&self, new: NewNodeRow<'_>) -> Result<NodeRecord, StoreError> {
        let inventory = new.inventory;
        sqlx::query(
            "INSERT INTO nodes (id, hostname, role, availability, labels, engine_labels, cert_fingerprint, \
             address, os, arch, cpus, memory_bytes, engine_version, agent_version, joined_at) \
             VALUES ($1, $2, $3, $4, '{}', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(new.id)
        .bind(&inventory.hostname)
        .bind(new.role.as_str())
        .bind(Availability::Active.as_str())
        .bind(labels_json(new.engine_labels))
        .bind(new.cert_fingerprint)
        .bind(new.address)
        .bind(&inventory.os)
        .bind(&inventory.arch)
        .bind(as_bigint(inventory.cpus))
        .bind(as_bigint(inventory.memory_bytes))
        .bind(&inventory.engine_version)
        .bind(&inventory.agent_version)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        self.node_by_id(new.id)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    pub async fn list_nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM nodes ORDER BY hostname, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn node_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM nodes")
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn node_by_id(&self, id: &str) -> Result<Option<NodeRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM nodes WHERE id = $1");
        self.find_one(&sql, id, from_row).await
    }

    /// The node that goes by `hostname`, ignoring case as constraints do.
    pub async fn node_by_hostname(&self, hostname: &str) -> Result<Option<NodeRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM nodes WHERE lower(hostname) = lower($1)");
        self.find_one(&sql, hostname, from_row).await
    }

    pub async fn node_by_fingerprint(&self, fingerprint: &str) -> Result<Option<NodeRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM nodes WHERE cert_fingerprint = $1");
        self.find_one(&sql, fingerprint, from_row).await
    }

    pub async fn removed_node(&self, fingerprint: &str) -> Result<Option<RemovedNode>, StoreError> {
        let row = sqlx::query("SELECT node_id, hostname FROM removed_nodes WHERE cert_fingerprint = $1")
            .bind(fingerprint)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(RemovedNode {
                node_id: row.try_get("node_id")?,
                hostname: row.try_get("hostname")?,
            })
        })
        .transpose()
    }

    pub async fn set_node_spec(
        &self,
        id: &str,
        availability: Availability,
        labels: &BTreeMap<String, String>,
        address: &str,
    ) -> Result<(), StoreError> {
        Ok(
            sqlx::query("UPDATE nodes SET availability = $1, labels = $2, address = $3 WHERE id = $4")
                .bind(availability.as_str())
                .bind(labels_json(labels))
                .bind(address)
                .bind(id)
                .execute(&self.pool)
                .await
                .map(drop)?,
        )
    }

    pub async fn set_node_role(&self, id: &str, role: NodeRole) -> Result<(), StoreError> {
        Ok(sqlx::query("UPDATE nodes SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map(drop)?)
    }

    /// What a node reports at every connect. Its hostname and address are
    /// fixed at join and not among them.
    pub async fn set_node_inventory(&self, id: &str, inventory: &Inventory) -> Result<(), StoreError> {
        Ok(sqlx::query(
            "UPDATE nodes SET os = $1, arch = $2, cpus = $3, memory_bytes = $4, engine_version = $5, \
             agent_version = $6 WHERE id = $7",
        )
        .bind(&inventory.os)
        .bind(&inventory.arch)
        .bind(as_bigint(inventory.cpus))
        .bind(as_bigint(inventory.memory_bytes))
        .bind(&inventory.engine_version)
        .bind(&inventory.agent_version)
        .bind(id)
        .execute(&self.pool)
        .await
        .map(drop)?)
    }

    pub async fn set_node_heartbeat(&self, id: &str, at: Millis) -> Result<(), StoreError> {
        Ok(
            sqlx::query("UPDATE nodes SET last_heartbeat_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(&self.pool)
                .await
                .map(drop)?,
        )
    }

    /// Deletes the node and remembers its certificate as removed, together.
    pub async fn remove_node(&self, record: &NodeRecord) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO removed_nodes (cert_fingerprint, node_id, hostname, removed_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&record.cert_fingerprint)
        .bind(&record.node.id)
        .bind(&record.node.hostname)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(&record.node.id)
            .execute(&mut *tx)
            .await?;
        Ok(tx.commit().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_node_is_stored_changed_and_removed() {
        let (_dir, store) = store().await;
        let inventory = Inventory {
            hostname: "node-1".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            cpus: 4,
            memory_bytes: 8 << 30,
            engine_version: "20.10.24".into(),
            agent_version: "0.1.0".into(),
            advertise_addr: None,
        };
        let labels = BTreeMap::from([("zone".to_owned(), "a".to_owned())]);
        let record = store
            .insert_node(NewNodeRow {
                id: "n1",
                role: NodeRole::Manager,
                engine_labels: &labels,
                cert_fingerprint: "fp1",
                address: "10.0.0.1",
                inventory: &inventory,
            })
            .await
            .unwrap();
        assert_eq!(record.node.role, NodeRole::Manager);
        assert_eq!(record.node.availability, Availability::Active);
        // What the node said about itself is not an operator's label.
        assert_eq!(record.node.engine_labels, labels);
        assert!(record.node.labels.is_empty());
        assert_eq!(record.node.resources.memory_bytes, 8 << 30);
        let by_name = store.node_by_hostname("NODE-1").await.unwrap().unwrap();
        assert_eq!(by_name.node.id, "n1");

        store
            .set_node_spec("n1", Availability::Drain, &labels, "10.0.0.9")
            .await
            .unwrap();
        store.set_node_role("n1", NodeRole::Worker).await.unwrap();
        store.set_node_heartbeat("n1", 1234).await.unwrap();
        let found = store.node_by_fingerprint("fp1").await.unwrap().unwrap();
        assert_eq!(found.node.availability, Availability::Drain);
        assert_eq!(found.node.labels, labels);
        assert_eq!(found.node.address, "10.0.0.9");
        assert_eq!(found.node.role, NodeRole::Worker);
        assert_eq!(found.node.last_heartbeat_at, Some(1234));

        store.remove_node(&found).await.unwrap();
        assert!(store.node_by_id("n1").await.unwrap().is_none());
        assert!(store.list_nodes().await.unwrap().is_empty());
        let removed = store.removed_node("fp1").await.unwrap().unwrap();
        assert_eq!(
            (removed.node_id.as_str(), removed.hostname.as_str()),
            ("n1", "node-1")
        );
    }
}

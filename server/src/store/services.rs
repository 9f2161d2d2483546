//! Services and their numbered, immutable revisions.

use std::net::Ipv4Addr;

use shoal_proto::{
    Millis,
    network::virtual_address,
    service::{Rollout, ServiceSpec},
};
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, as_bigint, decode_error, rollouts};

/// A service with its current revision's spec.
#[derive(Clone, Debug)]
pub struct ServiceRecord {
    pub id: String,
    pub name: String,
    pub revision: u64,
    pub spec: ServiceSpec,
    /// Its virtual address, chosen at creation and kept until it is purged.
    pub address: Ipv4Addr,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub deleted_at: Option<Millis>,
}

#[derive(Clone, Debug)]
pub struct RevisionRecord {
    pub number: u64,
    pub spec: ServiceSpec,
    pub author: String,
    pub created_at: Millis,
}

const SELECT: &str = "SELECT s.id, s.name, s.revision, s.vip_index, s.created_at, s.updated_at, s.deleted_at, r.spec \
     FROM services s JOIN service_revisions r ON r.service_id = s.id AND r.number = s.revision";

fn spec_from(row: &AnyRow) -> Result<ServiceSpec, sqlx::Error> {
    let spec: String = row.try_get("spec")?;
    serde_json::from_str(&spec).map_err(decode_error)
}

fn number(row: &AnyRow, column: &str) -> Result<u64, sqlx::Error> {
    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or_default())
}

fn from_row(row: &AnyRow) -> Result<ServiceRecord, sqlx::Error> {
    Ok(ServiceRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        revision: number(row, "revision")?,
        spec: spec_from(row)?,
        address: address_from(row)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

fn address_from(row: &AnyRow) -> Result<Ipv4Addr, sqlx::Error> {
    let index = row.try_get::<i64, _>("vip_index")?;
    u32::try_from(index)
        .ok()
        .and_then(virtual_address)
        .ok_or_else(|| decode_error(BadIndex(index)))
}

#[derive(Debug, thiserror::Error)]
#[error("virtual address index {0} is out of range")]
struct BadIndex(i64);

/// The lowest virtual address index no service row holds: 1 if free, else
/// the first one above a taken index that is itself free. Part of the
/// insert, so two creations cannot pick the same one (and the unique index
/// would refuse it if they did).
const FREE_INDEX: &str = "(SELECT MIN(free) FROM ( \
         SELECT 1 AS free WHERE NOT EXISTS (SELECT 1 FROM services WHERE vip_index = 1) \
         UNION ALL \
         SELECT taken.vip_index + 1 FROM services taken WHERE taken.vip_index IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM services next WHERE next.vip_index = taken.vip_index + 1) \
     ) AS candidates)";

fn revision_from_row(row: &AnyRow) -> Result<RevisionRecord, sqlx::Error> {
    Ok(RevisionRecord {
        number: number(row, "number")?,
        spec: spec_from(row)?,
        author: row.try_get("author")?,
        created_at: row.try_get("created_at")?,
    })
}

fn spec_json(spec: &ServiceSpec) -> String {
    serde_json::to_string(spec).expect("a service spec serializes to JSON")
}

impl Store {
    /// Stores a new service as revision 1, with the lowest free virtual
    /// address; a live service of the same name is a conflict.
    pub async fn insert_service(
        &self,
        id: &str,
        spec: &ServiceSpec,
        author: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO services (id, name, revision, vip_index, created_at, updated_at) \
             VALUES ($1, $2, 1, {FREE_INDEX}, $3, $3)"
        ))
        .bind(id)
        .bind(&spec.name)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::unique(|| format!("a service named {:?}", spec.name)))?;
        sqlx::query(
            "INSERT INTO service_revisions (service_id, number, spec, author, created_at) \
             VALUES ($1, 1, $2, $3, $4)",
        )
        .bind(id)
        .bind(spec_json(spec))
        .bind(author)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Ok(tx.commit().await?)
    }

    /// Adds revision `current + 1`, if the service is still at `current`,
    /// with the rollout that brings it out (superseding a running one).
    pub async fn add_revision(
        &self,
        id: &str,
        current: u64,
        spec: &ServiceSpec,
        author: &str,
        now: Millis,
        rollout: Option<(&Rollout, &str)>,
    ) -> Result<u64, StoreError> {
        let next = current + 1;
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE services SET revision = $1, updated_at = $2 \
             WHERE id = $3 AND revision = $4 AND deleted_at IS NULL",
        )
        .bind(as_bigint(next))
        .bind(now)
        .bind(id)
        .bind(as_bigint(current))
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Err(StoreError::Stale);
        }
        sqlx::query(
            "INSERT INTO service_revisions (service_id, number, spec, author, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(as_bigint(next))
        .bind(spec_json(spec))
        .bind(author)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some((rollout, event)) = rollout {
            let reason = format!("revision {next} replaced it (rollout {})", rollout.id);
            rollouts::supersede(&mut tx, id, &reason, now).await?;
            rollouts::insert(&mut tx, rollout, event).await?;
        }
        tx.commit().await?;
        Ok(next)
    }

    /// A live service by id or, failing that, by name.
    pub async fn find_service(&self, id_or_name: &str) -> Result<Option<ServiceRecord>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE s.deleted_at IS NULL AND (s.id = $1 OR s.name = $1) ORDER BY s.id = $1 DESC"
        );
        self.find_one(&sql, id_or_name, from_row).await
    }

    /// Any service by id, deleted ones included: the orchestrator's view.
    pub async fn service_by_id(&self, id: &str) -> Result<Option<ServiceRecord>, StoreError> {
        let sql = format!("{SELECT} WHERE s.id = $1");
        self.find_one(&sql, id, from_row).await
    }

    pub async fn list_services(&self) -> Result<Vec<ServiceRecord>, StoreError> {
        let sql = format!("{SELECT} WHERE s.deleted_at IS NULL ORDER BY s.name");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Every service the orchestrator looks after, deleted ones still
    /// stopping their tasks included.
    pub async fn service_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM services")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Newest first.
    pub async fn revisions(&self, id: &str) -> Result<Vec<RevisionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, spec, author, created_at FROM service_revisions \
             WHERE service_id = $1 ORDER BY number DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(revision_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn revision(&self, id: &str, number: u64) -> Result<Option<RevisionRecord>, StoreError> {
        Ok(sqlx::query(
            "SELECT number, spec, author, created_at FROM service_revisions \
             WHERE service_id = $1 AND number = $2",
        )
        .bind(id)
        .bind(as_bigint(number))
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(revision_from_row)
        .transpose()?)
    }

    /// Marks a live service deleted; false if it was not live.
    pub async fn mark_service_deleted(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE services SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets a deleted service whose tasks have all stopped.
    pub async fn purge_service(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM rollout_events WHERE rollout_id IN (SELECT id FROM rollouts WHERE service_id = $1)",
            "DELETE FROM rollout_failures WHERE rollout_id IN (SELECT id FROM rollouts WHERE service_id = $1)",
            "DELETE FROM rollouts WHERE service_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM task_events WHERE task_id IN (SELECT id FROM tasks WHERE service_id = $1)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for sql in [
            "DELETE FROM tasks WHERE service_id = $1",
            "DELETE FROM service_revisions WHERE service_id = $1",
            "DELETE FROM services WHERE id = $1 AND deleted_at IS NOT NULL",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        Ok(tx.commit().await?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(name: &str) -> ServiceSpec {
        serde_json::from_value(json!({ "name": name, "image": "shoal-demo:v1" })).unwrap()
    }

    async fn address_of(store: &Store, id: &str) -> Ipv4Addr {
        store.service_by_id(id).await.unwrap().unwrap().address
    }

    #[tokio::test]
    async fn a_virtual_address_is_the_lowest_free_one_and_held_until_the_service_is_purged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        let at = |last: u8| Ipv4Addr::new(127, 128, 0, last);
        for (id, name) in [("a", "alpha"), ("b", "beta"), ("c", "gamma")] {
            store.insert_service(id, &spec(name), "ada", 1).await.unwrap();
        }
        assert_eq!(address_of(&store, "a").await, at(1));
        assert_eq!(address_of(&store, "b").await, at(2));
        assert_eq!(address_of(&store, "c").await, at(3));

        // Deleted but still stopping its tasks: its address is still its own.
        assert!(store.mark_service_deleted("b", 2).await.unwrap());
        store.insert_service("d", &spec("delta"), "ada", 3).await.unwrap();
        assert_eq!(address_of(&store, "d").await, at(4));

        // Purged: the lowest free address is the one it had.
        store.purge_service("b").await.unwrap();
        store.insert_service("e", &spec("beta"), "ada", 4).await.unwrap();
        assert_eq!(address_of(&store, "e").await, at(2));
        // A new revision keeps it.
        store
            .add_revision("e", 1, &spec("beta"), "ada", 5, None)
            .await
            .unwrap();
        assert_eq!(address_of(&store, "e").await, at(2));
    }
}

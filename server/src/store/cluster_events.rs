//! The cluster's recent history: a bounded, append-only list of notable
//! transitions that the dashboard shows.

use shoal_proto::{
    Millis,
    dashboard::{ClusterEvent, ClusterEventKind},
};
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, as_bigint, decode_error};

/// How many lines are kept; older ones are dropped as new ones come.
pub const CLUSTER_EVENTS_KEPT: u64 = 500;

/// A line to add. `dedup_key` names a transition that happens once (a
/// rollout's start, its end): recording it again is a no-op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewClusterEvent {
    pub at: Millis,
    pub kind: ClusterEventKind,
    pub subject_id: String,
    pub subject_name: String,
    pub message: String,
    pub dedup_key: Option<String>,
}

const COLUMNS: &str = "id, at, kind, subject_id, subject_name, message";

fn from_row(row: &AnyRow) -> Result<ClusterEvent, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(ClusterEvent {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        kind: ClusterEventKind::parse(&kind)
            .ok_or_else(|| decode_error(std::io::Error::other(format!("cluster event kind {kind:?}"))))?,
        subject_id: row.try_get("subject_id")?,
        subject_name: row.try_get("subject_name")?,
        message: row.try_get("message")?,
    })
}

impl Store {
    /// Adds a line and drops the oldest beyond [`CLUSTER_EVENTS_KEPT`]; the
    /// line as stored, or `None` when its `dedup_key` was recorded before.
    pub async fn record_cluster_event(
        &self,
        new: &NewClusterEvent,
    ) -> Result<Option<ClusterEvent>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO cluster_events (at, kind, subject_id, subject_name, message, dedup_key) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(new.at)
        .bind(new.kind.as_str())
        .bind(&new.subject_id)
        .bind(&new.subject_name)
        .bind(&new.message)
        .bind(&new.dedup_key)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cluster_events WHERE id = (SELECT MAX(id) FROM cluster_events)"
        ))
        .fetch_one(&mut *tx)
        .await?;
        let event = from_row(&row)?;
        sqlx::query(
            "DELETE FROM cluster_events WHERE id NOT IN \
             (SELECT id FROM cluster_events ORDER BY at DESC, id DESC LIMIT $1)",
        )
        .bind(as_bigint(CLUSTER_EVENTS_KEPT))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(event))
    }

    /// The newest `limit` lines, newest first.
    pub async fn cluster_events(&self, limit: u64) -> Result<Vec<ClusterEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cluster_events ORDER BY at DESC, id DESC LIMIT $1"
        ))
        .bind(as_bigint(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The kind of the newest line about `subject_id`, if any is kept.
    pub async fn last_cluster_event_kind(
        &self,
        subject_id: &str,
    ) -> Result<Option<ClusterEventKind>, StoreError> {
        let kind: Option<String> = sqlx::query_scalar(
            "SELECT kind FROM cluster_events WHERE subject_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(subject_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(kind.as_deref().and_then(ClusterEventKind::parse))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("shoal.db").display());
        let store = Store::open(&url).await.unwrap();
        (dir, store)
    }

    fn line(at: Millis, key: Option<&str>) -> NewClusterEvent {
        NewClusterEvent {
            at,
            kind: ClusterEventKind::NodeDown,
            subject_id: "n1".into(),
            subject_name: "node-1".into(),
            message: format!("down at {at}"),
            dedup_key: key.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn a_transition_with_an_identity_is_recorded_once() {
        let (_dir, store) = store().await;
        assert!(
            store
                .record_cluster_event(&line(1, Some("k")))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .record_cluster_event(&line(2, Some("k")))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .record_cluster_event(&line(3, None))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .record_cluster_event(&line(4, None))
                .await
                .unwrap()
                .is_some()
        );
        let events = store.cluster_events(10).await.unwrap();
        let times: Vec<Millis> = events.iter().map(|e| e.at).collect();
        assert_eq!(times, [4, 3, 1]);
        assert_eq!(
            store.last_cluster_event_kind("n1").await.unwrap(),
            Some(ClusterEventKind::NodeDown)
        );
        assert_eq!(store.last_cluster_event_kind("n2").await.unwrap(), None);
    }

    #[tokio::test]
    async fn only_the_newest_lines_are_kept() {
        let (_dir, store) = store().await;
        for at in 0..(CLUSTER_EVENTS_KEPT as i64 + 5) {
            store.record_cluster_event(&line(at, None)).await.unwrap();
        }
        let events = store.cluster_events(1000).await.unwrap();
        assert_eq!(events.len() as u64, CLUSTER_EVENTS_KEPT);
        assert_eq!(events.last().unwrap().at, 5);
    }
}

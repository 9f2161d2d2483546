//! Rollouts, their timelines and the tasks that failed them.

use std::{
    collections::{BTreeSet, HashMap, hash_map::Entry},
    sync::LazyLock,
};

use shoal_proto::{
    Millis,
    service::{Rollout, RolloutEvent, RolloutState, RolloutStep, ServiceSpec, UpdateOrder},
};
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{ServiceRecord, Store, StoreError, TaskRecord, as_bigint, decode_error};

const COLUMNS: &str = "id, service_id, service_name, from_revision, to_revision, rollback_revision, state, reason, \
     trigger, actor, total, updated, failed, started_at, phase_started_at, updated_at, ended_at";

/// SQL for "running or paused", from the states' own rule.
static ACTIVE: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<String> = RolloutState::ALL
        .into_iter()
        .filter(|state| state.is_active())
        .map(|state| format!("'{}'", state.as_str()))
        .collect();
    format!("state IN ({})", names.join(", "))
});

fn count(row: &AnyRow, column: &str) -> Result<u64, sqlx::Error> {
    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or_default())
}

fn state_of(row: &AnyRow) -> Result<RolloutState, sqlx::Error> {
    let state: String = row.try_get("state")?;
    RolloutState::parse(&state)
        .ok_or_else(|| decode_error(std::io::Error::other(format!("rollout state {state:?}"))))
}

fn from_row(row: &AnyRow) -> Result<Rollout, sqlx::Error> {
    let rollback: Option<i64> = row.try_get("rollback_revision")?;
    Ok(Rollout {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        service_name: row.try_get("service_name")?,
        from_revision: count(row, "from_revision")?,
        to_revision: count(row, "to_revision")?,
        rollback_revision: rollback.and_then(|r| u64::try_from(r).ok()),
        state: state_of(row)?,
        reason: row.try_get("reason")?,
        trigger: row.try_get("trigger")?,
        actor: row.try_get("actor")?,
        total: count(row, "total")?,
        updated: count(row, "updated")?,
        failed: count(row, "failed")?,
        // Filled in from the revision's config by whoever shows it.
        parallelism: 0,
        order: UpdateOrder::StopFirst,
        started_at: row.try_get("started_at")?,
        phase_started_at: row.try_get("phase_started_at")?,
        updated_at: row.try_get("updated_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

pub(super) async fn record_event(
    conn: &mut AnyConnection,
    rollout_id: &str,
    at: Millis,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO rollout_events (rollout_id, at, message) VALUES ($1, $2, $3)")
        .bind(rollout_id)
        .bind(at)
        .bind(message)
        .execute(conn)
        .await
        .map(drop)
}

/// Ends whatever rollout of the service is running, in favour of `by`.
pub(super) async fn supersede(
    conn: &mut AnyConnection,
    service_id: &str,
    reason: &str,
    now: Millis,
) -> Result<(), sqlx::Error> {
    let active = &*ACTIVE;
    let row = sqlx::query(&format!(
        "SELECT id, state FROM rollouts WHERE service_id = $1 AND {active}"
    ))
    .bind(service_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let id: String = row.try_get("id")?;
    let from = state_of(&row)?;
    let Ok(to) = from.after(RolloutStep::Supersede) else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE rollouts SET state = $1, reason = $2, updated_at = $3, ended_at = $3 WHERE id = $4 AND state = $5",
    )
    .bind(to.as_str())
    .bind(reason)
    .bind(now)
    .bind(&id)
    .bind(from.as_str())
    .execute(&mut *conn)
    .await?;
    record_event(conn, &id, now, &format!("superseded: {reason}")).await
}

pub(super) async fn insert(
    conn: &mut AnyConnection,
    rollout: &Rollout,
    first_event: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO rollouts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(&rollout.id)
    .bind(&rollout.service_id)
    .bind(&rollout.service_name)
    .bind(as_bigint(rollout.from_revision))
    .bind(as_bigint(rollout.to_revision))
    .bind(rollout.rollback_revision.map(as_bigint))
    .bind(rollout.state.as_str())
    .bind(&rollout.reason)
    .bind(&rollout.trigger)
    .bind(&rollout.actor)
    .bind(as_bigint(rollout.total))
    .bind(as_bigint(rollout.updated))
    .bind(as_bigint(rollout.failed))
    .bind(rollout.started_at)
    .bind(rollout.phase_started_at)
    .bind(rollout.updated_at)
    .bind(rollout.ended_at)
    .execute(&mut *conn)
    .await?;
    record_event(conn, &rollout.id, rollout.started_at, first_event).await
}

/// A step of a rollout, taken only if it is still in `from` (and the step
/// is allowed from there).
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutMove {
    pub from: RolloutState,
    pub step: RolloutStep,
    pub reason: Option<String>,
    /// For the timeline.
    pub event: String,
}

impl Store {
    pub async fn rollout(&self, id: &str) -> Result<Option<Rollout>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM rollouts WHERE id = $1");
        self.find_one(&sql, id, from_row).await
    }

    pub async fn active_rollout(&self, service_id: &str) -> Result<Option<Rollout>, StoreError> {
        let active = &*ACTIVE;
        let sql = format!("SELECT {COLUMNS} FROM rollouts WHERE service_id = $1 AND {active}");
        self.find_one(&sql, service_id, from_row).await
    }

    /// The newest rollout of the service that has ended.
    pub async fn last_ended_rollout(&self, service_id: &str) -> Result<Option<Rollout>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM rollouts WHERE service_id = $1 AND ended_at IS NOT NULL \
             ORDER BY ended_at DESC, started_at DESC LIMIT 1"
        );
        self.find_one(&sql, service_id, from_row).await
    }

    /// Every rollout running or paused, oldest first.
    pub async fn active_rollouts(&self) -> Result<Vec<Rollout>, StoreError> {
        let active = &*ACTIVE;
        let sql = format!("SELECT {COLUMNS} FROM rollouts WHERE {active} ORDER BY started_at, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The `limit` rollouts that started or changed last, newest first.
    pub async fn recent_rollouts(&self, limit: u64) -> Result<Vec<Rollout>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM rollouts ORDER BY updated_at DESC, id LIMIT $1");
        let rows = sqlx::query(&sql)
            .bind(as_bigint(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Newest first.
    pub async fn rollouts_of_service(&self, service_id: &str) -> Result<Vec<Rollout>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM rollouts WHERE service_id = $1 ORDER BY started_at DESC, id");
        let rows = sqlx::query(&sql).bind(service_id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Oldest first.
    pub async fn rollout_events(&self, id: &str) -> Result<Vec<RolloutEvent>, StoreError> {
        let rows =
            sqlx::query("SELECT at, message FROM rollout_events WHERE rollout_id = $1 ORDER BY at, id")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(RolloutEvent {
                    at: row.try_get("at")?,
                    message: row.try_get("message")?,
                })
            })
            .collect()
    }

    pub async fn add_rollout_event(&self, id: &str, at: Millis, message: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(record_event(&mut conn, id, at, message).await?)
    }

    /// Takes a step of a rollout if it is still where the caller saw it;
    /// the state it moved to, or `None` if it did not move.
    pub async fn move_rollout(
        &self,
        id: &str,
        change: &RolloutMove,
        now: Millis,
    ) -> Result<Option<RolloutState>, StoreError> {
        let Ok(to) = change.from.after(change.step) else {
            return Ok(None);
        };
        let ended = (!to.is_active()).then_some(now);
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE rollouts SET state = $1, reason = $2, updated_at = $3, ended_at = $4 WHERE id = $5 AND state = $6",
        )
        .bind(to.as_str())
        .bind(&change.reason)
        .bind(now)
        .bind(ended)
        .bind(id)
        .bind(change.from.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        record_event(&mut tx, id, now, &change.event).await?;
        tx.commit().await?;
        Ok(Some(to))
    }

    /// The counts shown in lists; whether they changed.
    pub async fn set_rollout_counts(
        &self,
        id: &str,
        (total, updated, failed): (u64, u64, u64),
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE rollouts SET total = $1, updated = $2, failed = $3, updated_at = $4 \
             WHERE id = $5 AND (total <> $1 OR updated <> $2 OR failed <> $3)",
        )
        .bind(as_bigint(total))
        .bind(as_bigint(updated))
        .bind(as_bigint(failed))
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Counts a task as a failure of a rollout, once; whether it is new.
    pub async fn record_rollout_failure(
        &self,
        id: &str,
        task_id: &str,
        message: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO rollout_failures (rollout_id, task_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(task_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        record_event(&mut tx, id, now, message).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn rollout_failures(&self, id: &str) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT task_id FROM rollout_failures WHERE rollout_id = $1")
                .bind(id)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

impl Store {
    /// Turns an updating rollout into a rollback: a new revision with the
    /// spec it started from, and the rollout heading there. Returns the new
    /// revision's number, or `None` if the rollout or the service moved on.
    pub async fn roll_back(
        &self,
        rollout: &Rollout,
        current_revision: u64,
        spec: &ServiceSpec,
        reason: &str,
        now: Millis,
    ) -> Result<Option<u64>, StoreError> {
        let Ok(to) = rollout.state.after(RolloutStep::RollBack) else {
            return Ok(None);
        };
        let next = current_revision + 1;
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE rollouts SET state = $1, reason = $2, rollback_revision = $3, \
             phase_started_at = $4, updated_at = $4 WHERE id = $5 AND state = $6",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(as_bigint(next))
        .bind(now)
        .bind(&rollout.id)
        .bind(rollout.state.as_str())
        .execute(&mut *tx)
        .await?;
        let bumped = sqlx::query(
            "UPDATE services SET revision = $1, updated_at = $2 WHERE id = $3 AND revision = $4 AND deleted_at IS NULL",
        )
        .bind(as_bigint(next))
        .bind(now)
        .bind(&rollout.service_id)
        .bind(as_bigint(current_revision))
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 || bumped.rows_affected() == 0 {
            return Ok(None);
        }
        // The rollback is a phase of its own: the update's failures do not
        // count against it.
        sqlx::query("DELETE FROM rollout_failures WHERE rollout_id = $1")
            .bind(&rollout.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO service_revisions (service_id, number, spec, author, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&rollout.service_id)
        .bind(as_bigint(next))
        .bind(serde_json::to_string(spec).expect("a service spec serializes to JSON"))
        .bind(format!("system (rollback of rollout {})", rollout.id))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = format!(
            "rolling back to revision {} as revision {next}: {reason}",
            rollout.from_revision
        );
        record_event(&mut tx, &rollout.id, now, &event).await?;
        tx.commit().await?;
        Ok(Some(next))
    }
}

impl Store {
    /// The specs of the service's current revision, of the revisions its
    /// tasks run and of those the rollout names.
    pub async fn revision_specs(
        &self,
        service: &ServiceRecord,
        tasks: &[TaskRecord],
        rollout: Option<&Rollout>,
    ) -> Result<HashMap<u64, ServiceSpec>, StoreError> {
        let mut wanted: BTreeSet<u64> = tasks.iter().map(|r| r.task.revision).collect();
        if let Some(rollout) = rollout {
            wanted.extend([
                rollout.from_revision,
                rollout.to_revision,
                rollout.config_revision(),
            ]);
        }
        let mut specs = HashMap::from([(service.revision, service.spec.clone())]);
        for number in wanted {
            if let Entry::Vacant(entry) = specs.entry(number)
                && let Some(revision) = self.revision(&service.id, number).await?
            {
                entry.insert(revision.spec);
            }
        }
        Ok(specs)
    }

    /// After a resume: the failures so far no longer count, and the progress
    /// deadline starts again.
    pub async fn forgive_rollout_failures(&self, id: &str, now: Millis) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM rollout_failures WHERE rollout_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE rollouts SET phase_started_at = $1, failed = 0 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Ok(tx.commit().await?)
    }
}

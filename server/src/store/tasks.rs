//! Tasks and their state transitions. Writes from the orchestrator and
//! reports from agents race; each write is guarded by the state it expects,
//! so states only move forward whoever writes first.

use shoal_proto::{
    Millis,
    service::{DesiredState, Task, TaskEvent, TaskState},
    wire::TaskReport,
};
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{Store, StoreError, as_bigint, decode_error};

/// A task as stored: what users see plus what the scheduler needs.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    pub task: Task,
    pub reserved_nano_cpus: i64,
    pub reserved_memory: i64,
    /// Host-mode published ports it holds on its node, as `18080/tcp`.
    pub host_ports: Vec<String>,
    /// Since when it has been running and healthy (or running without a
    /// health check), continuously.
    pub ready_since: Option<Millis>,
    /// A health check or probe that has neither passed nor failed yet.
    pub health_starting: bool,
    /// It was reported unhealthy at least once.
    pub ever_unhealthy: bool,
}

/// One change the orchestrator makes to the tasks.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskWrite {
    Insert(Box<TaskRecord>),
    /// A pending task found a node.
    Assign {
        id: String,
        node_id: String,
        message: String,
    },
    /// A pending task still waits; the reason may have changed.
    StillPending {
        id: String,
        message: String,
    },
    /// Stop the task: its node stops the container, then reports `shutdown`.
    Shutdown {
        id: String,
        message: String,
    },
    /// The task's node is gone: nobody will report on it again.
    Orphan {
        id: String,
        message: String,
    },
    /// Old history beyond what is kept.
    Delete {
        id: String,
    },
}

const COLUMNS: &str = "id, service_id, service_name, slot, node_id, revision, desired_state, state, message, \
     error, container_id, exit_code, healthy, ports, reserved_nano_cpus, reserved_memory, host_ports, \
     created_at, updated_at, ready_since, health_starting, ever_unhealthy";

/// SQL for "has not ended".
const LIVE: &str = "state NOT IN ('complete', 'failed', 'shutdown', 'rejected', 'orphaned')";

fn from_row(row: &AnyRow) -> Result<TaskRecord, sqlx::Error> {
    let desired: String = row.try_get("desired_state")?;
    let state: String = row.try_get("state")?;
    let ports: String = row.try_get("ports")?;
    let host_ports: String = row.try_get("host_ports")?;
    let slot: Option<i64> = row.try_get("slot")?;
    let revision: i64 = row.try_get("revision")?;
    let healthy: Option<i64> = row.try_get("healthy")?;
    Ok(TaskRecord {
        task: Task {
            id: row.try_get("id")?,
            service_id: row.try_get("service_id")?,
            service_name: row.try_get("service_name")?,
            slot: slot.and_then(|slot| u64::try_from(slot).ok()),
            node_id: row.try_get("node_id")?,
            revision: u64::try_from(revision).unwrap_or_default(),
            desired_state: DesiredState::parse(&desired)
                .ok_or_else(|| decode_error(std::io::Error::other(format!("desired state {desired:?}"))))?,
            state: state.parse().map_err(decode_error)?,
            message: row.try_get("message")?,
            error: row.try_get("error")?,
            container_id: row.try_get("container_id")?,
            exit_code: row.try_get("exit_code")?,
            healthy: healthy.map(|h| h != 0),
            ports: serde_json::from_str(&ports).map_err(decode_error)?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        },
        reserved_nano_cpus: row.try_get("reserved_nano_cpus")?,
        reserved_memory: row.try_get("reserved_memory")?,
        host_ports: serde_json::from_str(&host_ports).map_err(decode_error)?,
        ready_since: row.try_get("ready_since")?,
        health_starting: row.try_get::<i64, _>("health_starting")? != 0,
        ever_unhealthy: row.try_get::<i64, _>("ever_unhealthy")? != 0,
    })
}

fn short(container_id: &str) -> &str {
    container_id.get(..12).unwrap_or(container_id)
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("task fields serialize to JSON")
}

async fn record_event(
    conn: &mut AnyConnection,
    id: &str,
    state: TaskState,
    message: &str,
    at: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO task_events (task_id, state, message, at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(state.as_str())
        .bind(message)
        .bind(at)
        .execute(conn)
        .await
        .map(drop)
}

/// Applies one write; whether it changed anything.
async fn write(conn: &mut AnyConnection, change: &TaskWrite, now: Millis) -> Result<bool, sqlx::Error> {
    let (sql, id, message, event) = match change {
        TaskWrite::Insert(record) => {
            insert(conn, record).await?;
            let task = &record.task;
            record_event(conn, &task.id, task.state, &task.message, task.created_at).await?;
            return Ok(true);
        }
        TaskWrite::Delete { id } => {
            sqlx::query("DELETE FROM task_events WHERE task_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            let done = sqlx::query("DELETE FROM tasks WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            return Ok(done.rows_affected() > 0);
        }
        TaskWrite::Assign { id, node_id, message } => {
            let done = sqlx::query(
                "UPDATE tasks SET node_id = $1, state = 'assigned', message = $2, updated_at = $3 \
                 WHERE id = $4 AND state = 'pending' AND desired_state = 'running'",
            )
            .bind(node_id)
            .bind(message)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            record_event(conn, id, TaskState::Assigned, message, now).await?;
            return Ok(true);
        }
        TaskWrite::StillPending { id, message } => (
            "UPDATE tasks SET message = $1, updated_at = $2 WHERE id = $3 AND state = 'pending' AND message <> $1",
            id,
            message,
            None,
        ),
        // A task no node has started can end at once.
        TaskWrite::Shutdown { id, message } => {
            let unstarted = sqlx::query(
                "UPDATE tasks SET desired_state = 'shutdown', state = 'shutdown', message = $1, updated_at = $2 \
                 WHERE id = $3 AND state IN ('new', 'pending')",
            )
            .bind(message)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if unstarted.rows_affected() > 0 {
                record_event(conn, id, TaskState::Shutdown, message, now).await?;
                return Ok(true);
            }
            (
                "UPDATE tasks SET desired_state = 'shutdown', message = $1, updated_at = $2 \
                 WHERE id = $3 AND desired_state = 'running'",
                id,
                message,
                None,
            )
        }
        TaskWrite::Orphan { id, message } => (
            "UPDATE tasks SET desired_state = 'shutdown', state = 'orphaned', message = $1, updated_at = $2 \
             WHERE id = $3 AND state NOT IN ('complete', 'failed', 'shutdown', 'rejected', 'orphaned')",
            id,
            message,
            Some(TaskState::Orphaned),
        ),
    };
    let done = sqlx::query(sql)
        .bind(message)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    if let Some(state) = event {
        record_event(conn, id, state, message, now).await?;
    }
    Ok(true)
}

async fn insert(conn: &mut AnyConnection, record: &TaskRecord) -> Result<(), sqlx::Error> {
    let task = &record.task;
    sqlx::query(&format!(
        "INSERT INTO tasks ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20, $21, $22)"
    ))
    .bind(&task.id)
    .bind(&task.service_id)
    .bind(&task.service_name)
    .bind(task.slot.map(as_bigint))
    .bind(&task.node_id)
    .bind(as_bigint(task.revision))
    .bind(task.desired_state.as_str())
    .bind(task.state.as_str())
    .bind(&task.message)
    .bind(&task.error)
    .bind(&task.container_id)
    .bind(task.exit_code)
    .bind(task.healthy.map(i64::from))
    .bind(json(&task.ports))
    .bind(record.reserved_nano_cpus)
    .bind(record.reserved_memory)
    .bind(json(&record.host_ports))
    .bind(task.created_at)
    .bind(task.updated_at)
    .bind(record.ready_since)
    .bind(i64::from(record.health_starting))
    .bind(i64::from(record.ever_unhealthy))
    .execute(conn)
    .await
    .map(drop)
}

/// Which tasks `GET /api/v1/tasks` lists.
#[derive(Clone, Debug, Default)]
pub struct TaskQuery<'a> {
    pub service_id: Option<&'a str>,
    pub node_id: Option<&'a str>,
    pub state: Option<TaskState>,
}

impl Store {
    /// Applies the orchestrator's writes in one transaction; returns the ids
    /// of the tasks that changed.
    pub async fn apply_task_writes(
        &self,
        writes: &[TaskWrite],
        now: Millis,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut changed = Vec::new();
        for change in writes {
            if write(&mut tx, change, now).await? {
                let id = match change {
                    TaskWrite::Insert(record) => &record.task.id,
                    TaskWrite::Assign { id, .. }
                    | TaskWrite::StillPending { id, .. }
                    | TaskWrite::Shutdown { id, .. }
                    | TaskWrite::Orphan { id, .. }
                    | TaskWrite::Delete { id } => id,
                };
                changed.push(id.clone());
            }
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Records what a node reports about one of its tasks, if it moves the
    /// task forward or tells something new; returns the task as it is now.
    pub async fn apply_task_report(
        &self,
        node_id: &str,
        report: &TaskReport,
        now: Millis,
    ) -> Result<Option<TaskRecord>, StoreError> {
        // Two tries: a concurrent orchestrator write may move the task between
        // reading it and writing the report.
        for _ in 0..2 {
            let Some(current) = self.task(&report.task_id).await? else {
                return Ok(None);
            };
            let task = &current.task;
            let replaced;
            let report = match (&task.container_id, &report.container_id) {
                // The container the task had vanished while the agent was
                // away, and the agent made another: the task failed, and its
                // end removes the stand-in.
                (Some(known), Some(other)) if known != other && !task.state.is_terminal() => {
                    replaced = TaskReport {
                        state: TaskState::Failed,
                        message: format!(
                            "its container {} disappeared while the node's agent was away",
                            short(known)
                        ),
                        error: Some("container lost".into()),
                        container_id: Some(known.clone()),
                        ..report.clone()
                    };
                    &replaced
                }
                _ => report,
            };
            if task.node_id.as_deref() != Some(node_id) || !task.state.can_become(report.state) {
                return Ok(None);
            }
            let healthy = report.healthy;
            let ready = report.state == TaskState::Running
                && match healthy {
                    Some(healthy) => healthy,
                    None => !report.health_starting,
                };
            let ready_since = if ready {
                current.ready_since.or(Some(now))
            } else {
                None
            };
            let ever_unhealthy = current.ever_unhealthy || healthy == Some(false);
            let container_id = report.container_id.clone().or_else(|| task.container_id.clone());
            let exit_code = report.exit_code.or(task.exit_code);
            let unchanged = task.state == report.state
                && task.message == report.message
                && task.error == report.error
                && task.healthy == healthy
                && current.health_starting == report.health_starting
                && task.container_id == container_id
                && task.exit_code == exit_code
                && (report.ports.is_empty() || task.ports == report.ports);
            if unchanged {
                return Ok(None);
            }
            let ports = if report.ports.is_empty() {
                &task.ports
            } else {
                &report.ports
            };
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query(
                "UPDATE tasks SET state = $1, message = $2, error = $3, container_id = $4, exit_code = $5, \
                 healthy = $6, ports = $7, updated_at = $8, ready_since = $9, health_starting = $10, \
                 ever_unhealthy = $11 WHERE id = $12 AND state = $13",
            )
            .bind(report.state.as_str())
            .bind(&report.message)
            .bind(&report.error)
            .bind(&container_id)
            .bind(exit_code)
            .bind(healthy.map(i64::from))
            .bind(json(ports))
            .bind(now)
            .bind(ready_since)
            .bind(i64::from(report.health_starting))
            .bind(i64::from(ever_unhealthy))
            .bind(&task.id)
            .bind(task.state.as_str())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                continue;
            }
            if task.state != report.state {
                record_event(&mut tx, &task.id, report.state, &report.message, now).await?;
            }
            tx.commit().await?;
            return self.task(&report.task_id).await;
        }
        Ok(None)
    }

    pub async fn task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tasks WHERE id = $1");
        self.find_one(&sql, id, from_row).await
    }

    /// All of a service's tasks, history included, oldest first.
    pub async fn tasks_of_service(&self, service_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tasks WHERE service_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(service_id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Tasks that hold a place on a node: placed and not ended.
    pub async fn placed_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tasks WHERE node_id IS NOT NULL AND {LIVE}");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// What a node should run or stop: its tasks that have not ended.
    pub async fn node_assignments(&self, node_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM tasks WHERE node_id = $1 AND {LIVE} ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(node_id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Newest first.
    pub async fn list_tasks(&self, query: &TaskQuery<'_>) -> Result<Vec<TaskRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tasks WHERE ($1 IS NULL OR service_id = $1) AND ($2 IS NULL OR node_id = $2) \
             AND ($3 IS NULL OR state = $3) ORDER BY service_name, slot, created_at DESC, id"
        );
        let rows = sqlx::query(&sql)
            .bind(query.service_id)
            .bind(query.node_id)
            .bind(query.state.map(TaskState::as_str))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Oldest first.
    pub async fn task_events(&self, id: &str) -> Result<Vec<TaskEvent>, StoreError> {
        let rows =
            sqlx::query("SELECT state, message, at FROM task_events WHERE task_id = $1 ORDER BY at, id")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                Ok(TaskEvent {
                    state: state.parse().map_err(decode_error)?,
                    message: row.try_get("message")?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use shoal_proto::service::Task;

    use super::*;

    async fn store_with_task(state: TaskState, container: Option<&str>) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("shoal.db").display()))
            .await
            .unwrap();
        let spec = serde_json::from_value(serde_json::json!({"name": "web", "image": "x"})).unwrap();
        store.insert_service("s1", &spec, "op", 1).await.unwrap();
        let record = TaskRecord {
            task: Task {
                id: "t1".into(),
                service_id: "s1".into(),
                service_name: "web".into(),
                slot: Some(1),
                node_id: Some("n1".into()),
                revision: 1,
                desired_state: DesiredState::Running,
                state,
                message: "scheduled".into(),
                error: None,
                container_id: container.map(str::to_owned),
                exit_code: None,
                healthy: None,
                ports: Vec::new(),
                created_at: 1,
                updated_at: 1,
            },
            reserved_nano_cpus: 0,
            reserved_memory: 0,
            host_ports: Vec::new(),
            ready_since: None,
            health_starting: false,
            ever_unhealthy: false,
        };
        store
            .apply_task_writes(&[TaskWrite::Insert(Box::new(record))], 1)
            .await
            .unwrap();
        (dir, store)
    }

    fn report(state: TaskState, container: Option<&str>) -> TaskReport {
        TaskReport {
            task_id: "t1".into(),
            state,
            message: format!("now {state}"),
            error: None,
            container_id: container.map(str::to_owned),
            exit_code: None,
            healthy: None,
            health_starting: false,
            ports: Vec::new(),
        }
    }

    #[tokio::test]
    async fn reports_move_tasks_forward_only_and_record_each_transition() {
        let (_dir, store) = store_with_task(TaskState::Assigned, None).await;
        let running = store
            .apply_task_report("n1", &report(TaskState::Running, Some("c1")), 5)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(running.task.state, TaskState::Running);
        assert_eq!(running.task.container_id.as_deref(), Some("c1"));
        assert!(
            store
                .apply_task_report("n1", &report(TaskState::Starting, Some("c1")), 6)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .apply_task_report("n2", &report(TaskState::Failed, Some("c1")), 6)
                .await
                .unwrap()
                .is_none(),
            "another node's report is ignored"
        );
        store
            .apply_task_report("n1", &report(TaskState::Failed, Some("c1")), 7)
            .await
            .unwrap()
            .unwrap();
        assert!(
            store
                .apply_task_report("n1", &report(TaskState::Running, Some("c1")), 8)
                .await
                .unwrap()
                .is_none()
        );
        let states: Vec<TaskState> = store
            .task_events("t1")
            .await
            .unwrap()
            .iter()
            .map(|e| e.state)
            .collect();
        assert_eq!(
            states,
            [TaskState::Assigned, TaskState::Running, TaskState::Failed]
        );
    }

    #[tokio::test]
    async fn a_stand_in_for_a_vanished_container_fails_the_task() {
        let (_dir, store) = store_with_task(TaskState::Running, Some("c1")).await;
        let after = store
            .apply_task_report("n1", &report(TaskState::Running, Some("c2")), 5)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.task.state, TaskState::Failed);
        assert_eq!(after.task.container_id.as_deref(), Some("c1"));
        assert!(
            after.task.message.contains("disappeared"),
            "{}",
            after.task.message
        );
    }
}

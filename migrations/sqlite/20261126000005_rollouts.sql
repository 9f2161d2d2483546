-- Rollouts: a service moving to a new revision batch by batch. Progress is
-- not stored as counters that could drift: the orchestrator derives it from
-- the tasks each pass, so a restarted server carries on where it was.

CREATE TABLE rollouts (
    id TEXT PRIMARY KEY NOT NULL,
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    service_name TEXT NOT NULL,
    from_revision BIGINT NOT NULL,
    to_revision BIGINT NOT NULL,
    rollback_revision BIGINT,
    state TEXT NOT NULL,
    reason TEXT,
    trigger TEXT NOT NULL,
    actor TEXT NOT NULL,
    -- The last counts the orchestrator derived, for lists.
    total BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    -- When the current phase (updating, or rolling back) began: the
    -- progress deadline counts from here.
    phase_started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    ended_at BIGINT
);

CREATE INDEX rollouts_by_service ON rollouts (service_id, started_at);

-- At most one rollout per service is running or paused.
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (service_id)
    WHERE state IN ('updating', 'paused', 'rollback_started', 'rollback_paused');

CREATE TABLE rollout_events (
    id INTEGER PRIMARY KEY,
    rollout_id TEXT NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    message TEXT NOT NULL
);

CREATE INDEX rollout_events_by_rollout ON rollout_events (rollout_id);

-- Tasks that counted as failures of a rollout, once each.
CREATE TABLE rollout_failures (
    rollout_id TEXT NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    PRIMARY KEY (rollout_id, task_id)
);

-- Since when a task has been running and healthy (or running without a
-- health check), continuously: what the monitor window is measured from.
ALTER TABLE tasks ADD COLUMN ready_since BIGINT;
-- A health check or probe that has neither passed nor failed yet.
ALTER TABLE tasks ADD COLUMN health_starting BIGINT NOT NULL DEFAULT 0;
-- The task was reported unhealthy at least once.
ALTER TABLE tasks ADD COLUMN ever_unhealthy BIGINT NOT NULL DEFAULT 0;

-- Services, their immutable revisions, and their tasks with each task's
-- state transitions. Times are Unix milliseconds.

CREATE TABLE services (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- The number of the current revision.
    revision BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Set when deleted: the row stays until every task has stopped, so the
    -- orchestrator can still shut them down.
    deleted_at BIGINT
);

-- A deleted service still stopping its tasks does not hold on to its name.
CREATE UNIQUE INDEX services_live_name ON services (name) WHERE deleted_at IS NULL;

CREATE TABLE service_revisions (
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    -- The ServiceSpec as JSON.
    spec TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (service_id, number)
);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    service_name TEXT NOT NULL,
    -- Replicated services: the slot. Global services: NULL (node_id keys).
    slot BIGINT,
    node_id TEXT,
    revision BIGINT NOT NULL,
    desired_state TEXT NOT NULL CHECK (desired_state IN ('running', 'shutdown')),
    state TEXT NOT NULL,
    message TEXT NOT NULL,
    error TEXT,
    container_id TEXT,
    exit_code BIGINT,
    -- NULL: no health check; 0 or 1 otherwise.
    healthy BIGINT,
    -- JSON list of the host ports the container's ports are bound to.
    ports TEXT NOT NULL,
    -- What the task sets aside on its node, for the scheduler.
    reserved_nano_cpus BIGINT NOT NULL,
    reserved_memory BIGINT NOT NULL,
    -- JSON list of host-mode published ports ("18080/tcp") it occupies.
    host_ports TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX tasks_by_service ON tasks (service_id);
CREATE INDEX tasks_by_node ON tasks (node_id);

CREATE TABLE task_events (
    -- Orders transitions within one millisecond.
    id INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    message TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE INDEX task_events_by_task ON task_events (task_id);

-- The cluster's recent history for the dashboard: nodes going down and
-- coming back, rollouts starting and ending. Written by one recorder that
-- listens to the event bus; kept to the newest few hundred rows.
-- `dedup_key` makes recording idempotent where a transition has an identity
-- (a rollout starts once, ends once), so replaying events after a restart or
-- a lagging listener does not write a line twice.

CREATE TABLE cluster_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_name TEXT NOT NULL,
    message TEXT NOT NULL,
    dedup_key TEXT UNIQUE
);

CREATE INDEX cluster_events_at ON cluster_events (at);
CREATE INDEX cluster_events_by_subject ON cluster_events (subject_id, id);

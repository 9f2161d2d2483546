-- Cluster-wide facts that exist once per cluster, such as its id.
CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

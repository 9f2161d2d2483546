-- Nodes, the join tokens that admit them, and the identities of removed nodes.
-- Times are Unix milliseconds. A node's live status (ready/down) is not
-- stored: it belongs to the connection and is known only while it lasts.

CREATE TABLE nodes (
    id TEXT PRIMARY KEY NOT NULL,
    hostname TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('worker', 'manager')),
    availability TEXT NOT NULL CHECK (availability IN ('active', 'pause', 'drain')),
    -- A JSON object of label keys to values.
    labels TEXT NOT NULL,
    -- SHA-256 (hex) of the node's client certificate: what ties a connection
    -- to its node.
    cert_fingerprint TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    os TEXT NOT NULL,
    arch TEXT NOT NULL,
    cpus BIGINT NOT NULL,
    memory_bytes BIGINT NOT NULL,
    engine_version TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    last_heartbeat_at BIGINT
);

-- Certificates of removed nodes, so that a reconnect is refused with the
-- reason instead of as an unknown certificate.
CREATE TABLE removed_nodes (
    cert_fingerprint TEXT PRIMARY KEY NOT NULL,
    node_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    removed_at BIGINT NOT NULL
);

-- One join token per role. The secret itself is never stored: it is derived
-- from the CA key and the nonce when an admin views it; only its SHA-256
-- digest is kept to check joins. Rotating replaces the nonce.
CREATE TABLE join_tokens (
    role TEXT PRIMARY KEY NOT NULL CHECK (role IN ('worker', 'manager')),
    nonce TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    rotated_at BIGINT NOT NULL
);

-- Webhooks: a registry or CI job asking for a deploy of one service. The
-- bearer secret is stored as a digest; the signing secret must stay readable
-- because checking an HMAC needs the key itself.

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY NOT NULL,
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    signing_secret TEXT,
    allow_pattern TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    last_delivery_at BIGINT
);

CREATE UNIQUE INDEX webhooks_by_service_name ON webhooks (service_id, name);

-- Every request to a webhook's URL, kept to the newest few hundred per webhook.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    received_at BIGINT NOT NULL,
    source TEXT NOT NULL,
    delivery_id TEXT,
    format TEXT,
    status BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    image TEXT,
    rollout_id TEXT
);

CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, received_at);
CREATE INDEX webhook_deliveries_by_delivery_id ON webhook_deliveries (webhook_id, delivery_id);

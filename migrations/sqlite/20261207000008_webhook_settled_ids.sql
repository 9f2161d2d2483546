-- Delivery ids that deployed or found nothing to do, kept as long as their
-- webhook: a signed body sent again is refused however old it is, even after
-- the delivery history (the newest few hundred) has let it go.

CREATE TABLE webhook_settled_ids (
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    image TEXT,
    rollout_id TEXT,
    settled_at BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, delivery_id)
);

INSERT OR IGNORE INTO webhook_settled_ids (webhook_id, delivery_id, outcome, image, rollout_id, settled_at)
SELECT webhook_id, delivery_id, outcome, image, rollout_id, received_at
FROM webhook_deliveries
WHERE delivery_id IS NOT NULL AND outcome IN ('deployed', 'unchanged')
ORDER BY received_at;

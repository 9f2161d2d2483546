-- Service networks, and each service's virtual address.
--
-- A network is a name services list in their spec (`networks`); services
-- on a shared one reach each other by name. Its options apply to every
-- hop on it. Names are DNS labels (tasks resolve `SERVICE.NETWORK`).

CREATE TABLE networks (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    -- 0 or 1: cross-node hops wrapped in mutual TLS.
    encrypted BIGINT NOT NULL,
    -- 0 or 1: tasks receive a PROXY protocol v2 header.
    proxy_protocol BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The index of the service's virtual address (proto::network::
-- virtual_address): chosen once when the service is created, the lowest
-- one free, and held until the service's row is purged (after its last
-- task stopped), so no client can reach one service at an address that
-- named another a moment ago.
ALTER TABLE services ADD COLUMN vip_index BIGINT CHECK (vip_index BETWEEN 1 AND 8388606);

-- Services from before networks existed get 1, 2, 3, … in creation order.
UPDATE services SET vip_index = (
    SELECT COUNT(*) FROM services earlier
    WHERE earlier.created_at < services.created_at
       OR (earlier.created_at = services.created_at AND earlier.id <= services.id)
);

CREATE UNIQUE INDEX services_vip_index ON services (vip_index);

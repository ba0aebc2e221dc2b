-- Historians sharing one fleet: the nodes that take part and one lease per device. A lease
-- names its owner, is valid until expires_at (the database's clock) and carries a fencing
-- number that grows at every change of owner. A planned handover is an offer: the owner
-- sets handover_at and polls the slots before it; the next owner polls from valid_from
-- (= that instant) on, so both follow the device's one wall-clock grid.
CREATE TABLE cluster_nodes (
    name          text PRIMARY KEY,
    api_address   text        NOT NULL,
    version       text        NOT NULL,
    started_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    state         text        NOT NULL CHECK (state IN ('active', 'leaving'))
);

CREATE TABLE device_leases (
    device_id      bigint PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    owner          text,
    expires_at     timestamptz,
    valid_from     timestamptz,
    handover_at    timestamptz,
    fencing        bigint      NOT NULL DEFAULT 0,
    previous_owner text,
    changed_at     timestamptz,
    change_kind    text CHECK (change_kind IN ('claim', 'handover', 'failover'))
);

CREATE INDEX device_leases_owner ON device_leases (owner);

COMMENT ON TABLE cluster_nodes IS 'Historians sharing the fleet; a node is alive while expires_at is ahead';
COMMENT ON COLUMN cluster_nodes.expires_at IS 'Last heartbeat plus the lease length';
COMMENT ON COLUMN cluster_nodes.state IS 'active, or leaving (handing its devices over; not counted in fair shares)';
COMMENT ON TABLE device_leases IS 'One lease per enabled device polled in cluster mode';
COMMENT ON COLUMN device_leases.owner IS 'Node that polls the device while expires_at is ahead';
COMMENT ON COLUMN device_leases.valid_from IS 'First wall-clock slot instant that is the owner''s';
COMMENT ON COLUMN device_leases.handover_at IS 'Set while offered: the owner polls the slots before this instant';
COMMENT ON COLUMN device_leases.fencing IS 'Grows at every change of owner';

-- A device deleted while it has readings stays in the table, marked with the time it was
-- removed, so its history can still be asked for by its id (readings name devices by id).
-- It is no longer polled and its name may be taken by a new device, so names are unique
-- among devices not removed only. SQLite cannot drop a column constraint in place, so the
-- table is rebuilt; migrations run with foreign key enforcement off, so dropping the old
-- table neither cascades to the register maps nor trips the readings' references, which
-- name the new table once it has the old one's name.
CREATE TABLE devices_v31 (
    id                        INTEGER PRIMARY KEY,
    name                      TEXT    NOT NULL,
    host                      TEXT    NOT NULL,
    port                      INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    unit_id                   INTEGER NOT NULL CHECK (unit_id BETWEEN 0 AND 255),
    poll_interval_ms          INTEGER NOT NULL CHECK (poll_interval_ms > 0),
    enabled                   INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at                TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at                TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    transport                 TEXT    NOT NULL DEFAULT 'tcp'
        CHECK (transport IN ('tcp', 'rtu_over_tcp', 'rtu')),
    serial_baud_rate          INTEGER CHECK (serial_baud_rate BETWEEN 300 AND 4000000),
    serial_parity             TEXT    CHECK (serial_parity IN ('none', 'even', 'odd')),
    serial_stop_bits          INTEGER CHECK (serial_stop_bits IN (1, 2)),
    serial_data_bits          INTEGER CHECK (serial_data_bits IN (7, 8)),
    request_timeout_ms        INTEGER CHECK (request_timeout_ms > 0),
    max_registers_per_read    INTEGER NOT NULL DEFAULT 125
        CHECK (max_registers_per_read BETWEEN 1 AND 125),
    max_gap                   INTEGER NOT NULL DEFAULT 0 CHECK (max_gap BETWEEN 0 AND 124),
    pause_between_requests_ms INTEGER NOT NULL DEFAULT 0
        CHECK (pause_between_requests_ms >= 0),
    removed_at                TEXT -- when the device was removed; NULL while it is listed
);
INSERT INTO devices_v31 (id, name, host, port, unit_id, poll_interval_ms, enabled,
    created_at, updated_at, transport, serial_baud_rate, serial_parity, serial_stop_bits,
    serial_data_bits, request_timeout_ms, max_registers_per_read, max_gap,
    pause_between_requests_ms)
SELECT id, name, host, port, unit_id, poll_interval_ms, enabled, created_at, updated_at,
    transport, serial_baud_rate, serial_parity, serial_stop_bits, serial_data_bits,
    request_timeout_ms, max_registers_per_read, max_gap, pause_between_requests_ms
FROM devices;
DROP TABLE devices;
ALTER TABLE devices_v31 RENAME TO devices;
CREATE UNIQUE INDEX devices_current_name ON devices (name) WHERE removed_at IS NULL;

-- Dropping the table dropped its triggers: the catalogue counter must still move.
CREATE TRIGGER devices_inserted AFTER INSERT ON devices
BEGIN UPDATE device_catalog_version SET version = version + 1; END;
CREATE TRIGGER devices_updated AFTER UPDATE ON devices
BEGIN UPDATE device_catalog_version SET version = version + 1; END;
CREATE TRIGGER devices_deleted AFTER DELETE ON devices
BEGIN UPDATE device_catalog_version SET version = version + 1; END;

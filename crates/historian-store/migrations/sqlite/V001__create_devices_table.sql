-- Devices polled by the historian. In embedded mode the config file is the source and is
-- copied here at start-up; readings reference devices by id.
CREATE TABLE devices (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    host             TEXT    NOT NULL,
    port             INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    unit_id          INTEGER NOT NULL CHECK (unit_id BETWEEN 0 AND 255),
    poll_interval_ms INTEGER NOT NULL CHECK (poll_interval_ms > 0),
    enabled          INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

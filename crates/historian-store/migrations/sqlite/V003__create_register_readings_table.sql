-- Every reading the historian polled. The key holds the same columns as the plan's
-- (timestamp, device_id, register_address), ordered (device_id, register_address,
-- timestamp) and clustered (WITHOUT ROWID): the table is its own
-- (device_id, register_address, timestamp DESC) index, so no second B-tree costs disk.
-- timestamp: microseconds since the Unix epoch, UTC, taken when the poll began.
-- register_name, data_type and unit are copied from the map so queries need no join.
CREATE TABLE register_readings (
    timestamp        INTEGER NOT NULL,
    device_id        INTEGER NOT NULL REFERENCES devices (id),
    register_address INTEGER NOT NULL,
    value            REAL,
    quality          TEXT    NOT NULL CHECK (quality IN ('good', 'bad', 'uncertain')),
    register_name    TEXT    NOT NULL,
    data_type        TEXT    NOT NULL,
    unit             TEXT    NOT NULL,
    PRIMARY KEY (device_id, register_address, timestamp)
) WITHOUT ROWID;

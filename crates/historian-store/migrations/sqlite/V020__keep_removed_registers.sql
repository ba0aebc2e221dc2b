-- A register taken out of a device's map stays in the table, marked with the time it left,
-- so its history can still be asked for by address and by name. Its name may then be
-- reused by a current register, so names are unique among current registers only; SQLite
-- cannot drop a table constraint in place, so the small map table is rebuilt.
CREATE TABLE device_register_map_v20 (
    device_id        INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL, -- order in the map as written
    register_address INTEGER NOT NULL CHECK (
        register_address BETWEEN 1 AND 465536
        OR (register_address BETWEEN 30000100 AND 46553615 AND register_address % 100 < 16)),
    register_name    TEXT    NOT NULL,
    data_type        TEXT    NOT NULL,
    word_order       TEXT    NOT NULL DEFAULT 'ABCD',
    scale            REAL    NOT NULL DEFAULT 1.0,
    "offset"         REAL    NOT NULL DEFAULT 0.0,
    unit             TEXT    NOT NULL DEFAULT '',
    min_value        REAL,
    max_value        REAL,
    not_available    INTEGER,
    string_length    INTEGER CHECK (string_length BETWEEN 1 AND 125), -- registers of a string
    poll_interval_ms INTEGER CHECK (poll_interval_ms > 0), -- slower interval of this register
    scale_factor     TEXT, -- the register of this map holding its power-of-ten exponent
    removed_at       TEXT, -- when the register left the map; NULL while it is in it
    PRIMARY KEY (device_id, register_address)
) WITHOUT ROWID;
INSERT INTO device_register_map_v20 (device_id, position, register_address, register_name,
    data_type, word_order, scale, "offset", unit, min_value, max_value, not_available,
    string_length, poll_interval_ms, scale_factor)
SELECT device_id, position, register_address, register_name, data_type, word_order, scale,
    "offset", unit, min_value, max_value, not_available, string_length, poll_interval_ms,
    scale_factor
FROM device_register_map;
DROP TABLE device_register_map;
ALTER TABLE device_register_map_v20 RENAME TO device_register_map;
CREATE UNIQUE INDEX device_register_map_current_name
    ON device_register_map (device_id, register_name) WHERE removed_at IS NULL;

-- Dropping the table dropped its triggers: the catalogue counter must still move.
CREATE TRIGGER device_register_map_inserted AFTER INSERT ON device_register_map
BEGIN UPDATE device_catalog_version SET version = version + 1; END;
CREATE TRIGGER device_register_map_updated AFTER UPDATE ON device_register_map
BEGIN UPDATE device_catalog_version SET version = version + 1; END;
CREATE TRIGGER device_register_map_deleted AFTER DELETE ON device_register_map
BEGIN UPDATE device_catalog_version SET version = version + 1; END;

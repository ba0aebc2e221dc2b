-- Strings over N registers, booleans kept in one bit of a register, and slower poll
-- intervals per register.
-- A bit of a register is named by an eight-digit reference, reference * 100 + bit
-- (bit 3 of 400001 is 40000103). SQLite cannot change a CHECK in place, so the small map
-- table is rebuilt with the wider address check and the new string_length column.
CREATE TABLE device_register_map_v6 (
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
    PRIMARY KEY (device_id, register_address),
    UNIQUE (device_id, register_name)
) WITHOUT ROWID;
INSERT INTO device_register_map_v6 (device_id, position, register_address, register_name,
    data_type, word_order, scale, "offset", unit, min_value, max_value, not_available)
SELECT device_id, position, register_address, register_name, data_type, word_order, scale,
    "offset", unit, min_value, max_value, not_available
FROM device_register_map;
DROP TABLE device_register_map;
ALTER TABLE device_register_map_v6 RENAME TO device_register_map;
-- A string reading keeps its text here with value NULL; numeric readings leave it NULL.
ALTER TABLE register_readings ADD COLUMN value_text TEXT;

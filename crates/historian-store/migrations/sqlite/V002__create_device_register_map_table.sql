-- Each device's register map. register_address is the six-digit Modicon reference
-- (table digit * 100000 + wire address + 1: holding 0 = 400001, input 0 = 300001), so one
-- integer names a register without ambiguity across the four Modbus tables.
CREATE TABLE device_register_map (
    device_id        INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL, -- order in the map as written
    register_address INTEGER NOT NULL CHECK (register_address BETWEEN 1 AND 465536),
    register_name    TEXT    NOT NULL,
    data_type        TEXT    NOT NULL,
    word_order       TEXT    NOT NULL DEFAULT 'ABCD',
    scale            REAL    NOT NULL DEFAULT 1.0,
    "offset"         REAL    NOT NULL DEFAULT 0.0,
    unit             TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (device_id, register_address),
    UNIQUE (device_id, register_name)
) WITHOUT ROWID;

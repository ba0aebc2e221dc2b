-- `CHECK (quality IN ('good', 'bad', 'uncertain'))` made SQLite build and drop an
-- ephemeral table for the IN list on every inserted row: a profile of the historian
-- (callgrind, 2,000 readings/s into SQLite) put about half of all instructions there.
-- The same rule written as comparisons costs nothing. SQLite cannot change a CHECK in
-- place, so the table is rebuilt with the same columns, key and foreign key.
CREATE TABLE register_readings_v8 (
    timestamp        INTEGER NOT NULL,
    device_id        INTEGER NOT NULL REFERENCES devices (id),
    register_address INTEGER NOT NULL,
    value            REAL,
    quality          TEXT    NOT NULL
                     CHECK (quality = 'good' OR quality = 'bad' OR quality = 'uncertain'),
    register_name    TEXT    NOT NULL,
    data_type        TEXT    NOT NULL,
    unit             TEXT    NOT NULL,
    value_text       TEXT,
    PRIMARY KEY (device_id, register_address, timestamp)
) WITHOUT ROWID;
INSERT INTO register_readings_v8 (timestamp, device_id, register_address, value, quality,
    register_name, data_type, unit, value_text)
SELECT timestamp, device_id, register_address, value, quality, register_name, data_type,
    unit, value_text
FROM register_readings;
DROP TABLE register_readings;
ALTER TABLE register_readings_v8 RENAME TO register_readings;

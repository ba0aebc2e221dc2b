-- Narrow rows: the readings table keeps only what differs from one reading to the next
-- (time, device, register, value, quality, text of a string); a register's name, data
-- type and unit are kept once per register in register_labels, and the view
-- register_readings joins them back under the columns the table had, for SQL users and
-- Grafana.
--
-- Measured on 3,000,000 readings copied into a TimescaleDB hypertable: the three text
-- columns cost about a third of the rate of COPY, and a reading's heap row shrinks from
-- about 92 B to about 60 B.
--
-- The table is renamed, not copied: its chunks or partitions, compressed chunks,
-- compression settings, policies and continuous aggregates all follow a rename, and
-- dropping a column rewrites nothing (rows written before keep the bytes until their
-- chunk or partition is dropped or recompressed).
--
-- A query of the view that does not ask for register_name, data_type or unit never
-- touches register_labels (the join is to a unique key, so the planner removes it) and
-- reads exactly what it read from the table; one that does asks one row of
-- register_labels per register.

-- Names, types and units per register, kept after the register leaves the map so that
-- its history keeps them: filled from the readings (the newest name of each register),
-- then from the map, which wins.
CREATE TABLE register_labels (
    device_id        BIGINT  NOT NULL,
    register_address INTEGER NOT NULL,
    register_name    TEXT    NOT NULL,
    data_type        TEXT    NOT NULL,
    unit             TEXT    NOT NULL,
    PRIMARY KEY (device_id, register_address)
);

INSERT INTO register_labels (device_id, register_address, register_name, data_type, unit)
SELECT DISTINCT ON (device_id, register_address)
       device_id, register_address, register_name, data_type, unit
FROM register_readings
ORDER BY device_id, register_address, "timestamp" DESC;

INSERT INTO register_labels (device_id, register_address, register_name, data_type, unit)
SELECT device_id, register_address, register_name, data_type, unit FROM device_register_map
ON CONFLICT (device_id, register_address) DO UPDATE
    SET register_name = EXCLUDED.register_name,
        data_type     = EXCLUDED.data_type,
        unit          = EXCLUDED.unit;

COMMENT ON TABLE register_labels IS 'Name, data type and unit of every register that is or was in a map; kept by triggers on device_register_map';

-- One statement-level upsert per change of the map (thousands of rows at a time when a
-- fleet is synchronised), never one per row.
CREATE FUNCTION historian_keep_register_labels() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO register_labels (device_id, register_address, register_name, data_type, unit)
    SELECT device_id, register_address, register_name, data_type, unit FROM changed
    ON CONFLICT (device_id, register_address) DO UPDATE
        SET register_name = EXCLUDED.register_name,
            data_type     = EXCLUDED.data_type,
            unit          = EXCLUDED.unit
        WHERE (register_labels.register_name, register_labels.data_type, register_labels.unit)
              IS DISTINCT FROM (EXCLUDED.register_name, EXCLUDED.data_type, EXCLUDED.unit);
    RETURN NULL;
END
$$;

CREATE TRIGGER device_register_map_labels_inserted
    AFTER INSERT ON device_register_map REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION historian_keep_register_labels();
CREATE TRIGGER device_register_map_labels_updated
    AFTER UPDATE ON device_register_map REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION historian_keep_register_labels();

ALTER TABLE register_readings RENAME TO readings;
ALTER TABLE readings
    DROP COLUMN register_name,
    DROP COLUMN data_type,
    DROP COLUMN unit;

COMMENT ON TABLE readings IS 'Every polled Modbus reading, narrow (name, type and unit in register_labels); a TimescaleDB hypertable when the extension is available';

CREATE VIEW register_readings AS
SELECT r."timestamp", r.device_id, r.register_address, r.value, r.quality,
       l.register_name, l.data_type, l.unit, r.value_text
FROM readings r
LEFT JOIN register_labels l
       ON l.device_id = r.device_id AND l.register_address = r.register_address;

COMMENT ON VIEW register_readings IS 'Every polled Modbus reading with its register''s name, data type and unit (readings joined to register_labels)';
COMMENT ON COLUMN register_readings."timestamp" IS 'Instant the poll began (UTC)';
COMMENT ON COLUMN register_readings.device_id IS 'The polled device (devices.id)';
COMMENT ON COLUMN register_readings.register_address IS 'Six-digit Modicon reference: 400001 = holding register 0, 300001 = input register 0, 100001 = discrete input 0, 1 = coil 0; a bit of a register is reference * 100 + bit (40000103 = bit 3 of 400001)';
COMMENT ON COLUMN register_readings.value IS 'Engineering value (raw * scale + offset); NULL when the read failed';
COMMENT ON COLUMN register_readings.quality IS 'good; bad when the read failed; uncertain when out of range or not a number';
COMMENT ON COLUMN register_readings.register_name IS 'Register name (the map''s, or the last one it had there)';
COMMENT ON COLUMN register_readings.data_type IS 'Data type (the map''s, or the last one it had there)';
COMMENT ON COLUMN register_readings.unit IS 'Engineering unit (the map''s, or the last one it had there)';
COMMENT ON COLUMN register_readings.value_text IS 'Text of a string register (value is NULL for those)';

-- Writers of the former table keep working: a row inserted into the view goes to
-- readings (its name, type and unit come from the map).
CREATE FUNCTION historian_insert_register_reading() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO readings ("timestamp", device_id, register_address, value, quality, value_text)
    VALUES (NEW."timestamp", NEW.device_id, NEW.register_address, NEW.value, NEW.quality,
            NEW.value_text);
    RETURN NEW;
END
$$;

CREATE TRIGGER register_readings_insert
    INSTEAD OF INSERT ON register_readings
    FOR EACH ROW EXECUTE FUNCTION historian_insert_register_reading();

-- Deleting a device: refused while it has readings; its labels go with it otherwise.
CREATE OR REPLACE FUNCTION historian_keep_device_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM readings WHERE device_id = OLD.id) THEN
        RAISE EXCEPTION 'device % (id %) has readings and is kept; disable it instead',
                        OLD.name, OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    DELETE FROM register_labels WHERE device_id = OLD.id;
    RETURN OLD;
END
$$;

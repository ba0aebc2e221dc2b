-- A register's name, data type and unit are read from the map itself, which keeps every
-- register that was ever in it (V020 marks removed ones instead of deleting them);
-- register_labels keeps only what no map row describes: registers whose readings outlived
-- their map row (removed from a map before it kept removed registers, or map rows deleted
-- by hand).
--
-- The statement triggers that copied every map row written into register_labels go: on a
-- fleet's first start (240,000 map rows at 3,200 devices of 75 registers) they were about
-- 40 % of the server's time for the map (2.5-2.7 s with them, 1.45-1.6 s without).
DROP TRIGGER IF EXISTS device_register_map_labels_inserted ON device_register_map;
DROP TRIGGER IF EXISTS device_register_map_labels_updated ON device_register_map;
DROP FUNCTION IF EXISTS historian_keep_register_labels();

DELETE FROM register_labels l
USING device_register_map m
WHERE m.device_id = l.device_id AND m.register_address = l.register_address;

COMMENT ON TABLE register_labels IS 'Name, data type and unit of registers whose map row is gone (deleted by hand, or removed before maps kept removed registers); every other register''s come from device_register_map';

-- A map row deleted leaves its labels here, so the history of its register keeps its name.
-- The device's own deletion removes them again (historian_keep_device_history, V024,
-- deletes the map first, then the labels).
CREATE FUNCTION historian_keep_deleted_labels() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO register_labels (device_id, register_address, register_name, data_type, unit)
    SELECT device_id, register_address, register_name, data_type, unit FROM gone
    ON CONFLICT (device_id, register_address) DO UPDATE
        SET register_name = EXCLUDED.register_name,
            data_type     = EXCLUDED.data_type,
            unit          = EXCLUDED.unit;
    RETURN NULL;
END
$$;

CREATE TRIGGER device_register_map_labels_deleted
    AFTER DELETE ON device_register_map REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION historian_keep_deleted_labels();

-- The view takes labels from the map, then from register_labels; a query that asks for
-- no label column still touches neither (both joins are to unique keys).
CREATE OR REPLACE VIEW register_readings AS
SELECT r."timestamp", r.device_id, r.register_address, r.value, r.quality,
       COALESCE(m.register_name, l.register_name) AS register_name,
       COALESCE(m.data_type, l.data_type) AS data_type,
       COALESCE(m.unit, l.unit) AS unit,
       r.value_text
FROM readings r
LEFT JOIN device_register_map m
       ON m.device_id = r.device_id AND m.register_address = r.register_address
LEFT JOIN register_labels l
       ON l.device_id = r.device_id AND l.register_address = r.register_address;

COMMENT ON VIEW register_readings IS 'Every polled Modbus reading with its register''s name, data type and unit (readings joined to device_register_map, else register_labels)';

COMMENT ON TABLE readings IS 'Every polled Modbus reading, narrow (name, type and unit in device_register_map); a TimescaleDB hypertable when the extension is available';

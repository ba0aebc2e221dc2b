-- The register map no longer references devices through a foreign key.
--
-- A fleet's first start writes one map row per register of every device (240,000 rows
-- for 3,200 devices of 75 registers), and the key's check, a look-up in devices with a
-- row lock for each map row, was about half of what the server spent per row. What it
-- guarded stays guarded:
-- - a map row of a device that does not exist: the historian writes a device's row
--   before its map, in the same transaction;
-- - a deleted device's map: the delete trigger removes it, as the key's ON DELETE
--   CASCADE did, whoever deletes the device.
ALTER TABLE device_register_map DROP CONSTRAINT IF EXISTS device_register_map_device_id_fkey;

-- Deleting a device: refused while it has readings; its map and labels go with it
-- otherwise.
CREATE OR REPLACE FUNCTION historian_keep_device_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM readings WHERE device_id = OLD.id) THEN
        RAISE EXCEPTION 'device % (id %) has readings and is kept; disable it instead',
                        OLD.name, OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    DELETE FROM device_register_map WHERE device_id = OLD.id;
    DELETE FROM register_labels WHERE device_id = OLD.id;
    RETURN OLD;
END
$$;

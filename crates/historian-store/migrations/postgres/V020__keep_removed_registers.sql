-- A register taken out of a device's map stays in the table, marked with the time it left,
-- so its history can still be asked for by address and by name (and the readings stay
-- joined to their name, type and unit). Its name may then be reused by a current
-- register, so names are unique among current registers only.
ALTER TABLE device_register_map
    ADD COLUMN removed_at TIMESTAMPTZ,
    DROP CONSTRAINT device_register_map_device_id_register_name_key;
CREATE UNIQUE INDEX device_register_map_current_name
    ON device_register_map (device_id, register_name) WHERE removed_at IS NULL;

COMMENT ON COLUMN device_register_map.removed_at IS 'When the register left the map; NULL while it is in it. Removed registers are kept so their history stays addressable';

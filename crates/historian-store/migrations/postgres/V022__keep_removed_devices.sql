-- A device deleted while it has readings stays in the table, marked with the time it was
-- removed, so its history can still be asked for by its id (readings name devices by id).
-- It is no longer polled and its name may be taken by a new device, so names are unique
-- among devices not removed only.
ALTER TABLE devices
    ADD COLUMN removed_at TIMESTAMPTZ,
    DROP CONSTRAINT devices_name_key;
CREATE UNIQUE INDEX devices_current_name ON devices (name) WHERE removed_at IS NULL;

COMMENT ON COLUMN devices.name IS 'Device name, e.g. main-sel-751; unique among devices not removed';
COMMENT ON COLUMN devices.removed_at IS 'When the device was deleted while it had readings; NULL while it is in the catalogue. Removed devices are kept so their history stays addressable by id';

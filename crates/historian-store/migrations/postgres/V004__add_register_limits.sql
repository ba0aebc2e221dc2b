-- Expected range and "not available" marker of each register.
ALTER TABLE device_register_map
    ADD COLUMN min_value     DOUBLE PRECISION,
    ADD COLUMN max_value     DOUBLE PRECISION,
    ADD COLUMN not_available BIGINT;

COMMENT ON COLUMN device_register_map.min_value IS 'Engineering values below this are stored with quality uncertain';
COMMENT ON COLUMN device_register_map.max_value IS 'Engineering values above this are stored with quality uncertain';
COMMENT ON COLUMN device_register_map.not_available IS 'Raw value the device sends for no measurement (e.g. 65535); stored as bad';

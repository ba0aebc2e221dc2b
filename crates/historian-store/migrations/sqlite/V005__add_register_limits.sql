-- Expected range and "not available" marker of each register (see ValueLimits).
ALTER TABLE device_register_map ADD COLUMN min_value REAL;
ALTER TABLE device_register_map ADD COLUMN max_value REAL;
ALTER TABLE device_register_map ADD COLUMN not_available INTEGER;

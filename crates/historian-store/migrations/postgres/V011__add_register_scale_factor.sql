-- A register may take a power-of-ten exponent from another register of its map (SunSpec
-- *_SF points), read in the same poll. The map is checked before it is stored, so the
-- column holds the name of a register of the same device.
ALTER TABLE device_register_map ADD COLUMN scale_factor TEXT;

COMMENT ON COLUMN device_register_map.scale_factor IS 'Name of the register of the same device holding this one''s power-of-ten exponent: value = raw * 10^exponent * scale + offset; NULL: none';

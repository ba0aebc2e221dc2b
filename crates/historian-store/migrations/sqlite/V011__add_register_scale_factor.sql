-- A register may take a power-of-ten exponent from another register of its map (SunSpec
-- *_SF points), read in the same poll: the name of that register of the same device.
ALTER TABLE device_register_map ADD COLUMN scale_factor TEXT;

-- Strings over N registers, and booleans kept in one bit of a register.
-- A bit of a register is named by an eight-digit reference, reference * 100 + bit
-- (bit 3 of 400001 is 40000103), so the address checks widen to admit those.
ALTER TABLE device_register_map
    DROP CONSTRAINT device_register_map_register_address_check,
    ADD CONSTRAINT device_register_map_register_address_check CHECK (
        register_address BETWEEN 1 AND 465536
        OR (register_address BETWEEN 30000100 AND 46553615 AND register_address % 100 < 16)),
    ADD COLUMN string_length INTEGER CHECK (string_length BETWEEN 1 AND 125);

COMMENT ON COLUMN device_register_map.string_length IS 'For a string: registers it spans, two characters each';

ALTER TABLE register_readings
    DROP CONSTRAINT register_readings_register_address_check;
ALTER TABLE register_readings
    ADD CONSTRAINT register_readings_register_address_check CHECK (
        register_address BETWEEN 1 AND 465536
        OR (register_address BETWEEN 30000100 AND 46553615 AND register_address % 100 < 16));

-- A string reading keeps its text here with value NULL; numeric readings leave it NULL.
ALTER TABLE register_readings ADD COLUMN value_text TEXT;

COMMENT ON COLUMN register_readings.value_text IS 'Text of a string register (value is NULL for those)';
COMMENT ON COLUMN register_readings.register_address IS 'Six-digit Modicon reference: 400001 = holding register 0, 300001 = input register 0, 100001 = discrete input 0, 1 = coil 0; a bit of a register is reference * 100 + bit (40000103 = bit 3 of 400001)';

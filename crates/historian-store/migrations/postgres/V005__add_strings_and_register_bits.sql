-- Strings over N registers, booleans kept in one bit of a register, and slower poll
-- intervals per register.
-- A bit of a register is named by an eight-digit reference, reference * 100 + bit
-- (bit 3 of 400001 is 40000103), so the address checks widen to admit those.
ALTER TABLE device_register_map
    DROP CONSTRAINT device_register_map_register_address_check,
    ADD CONSTRAINT device_register_map_register_address_check CHECK (
        register_address BETWEEN 1 AND 465536
        OR (register_address BETWEEN 30000100 AND 46553615 AND register_address % 100 < 16)),
    ADD COLUMN string_length INTEGER CHECK (string_length BETWEEN 1 AND 125),
    ADD COLUMN poll_interval_ms BIGINT CHECK (poll_interval_ms > 0);

COMMENT ON COLUMN device_register_map.string_length IS 'For a string: registers it spans, two characters each';
COMMENT ON COLUMN device_register_map.poll_interval_ms IS 'Slower poll interval of this register (rounded up to whole device polls); NULL: every device poll';

-- TimescaleDB allows dropping a constraint of a hypertable with compression enabled but
-- refuses adding one (checking it would mean decompressing), so the readings table gets
-- its wider check where it can and otherwise none: addresses come from the register map,
-- whose check above applies everywhere.
ALTER TABLE register_readings
    DROP CONSTRAINT register_readings_register_address_check;
DO $widen$
BEGIN
    ALTER TABLE register_readings
        ADD CONSTRAINT register_readings_register_address_check CHECK (
            register_address BETWEEN 1 AND 465536
            OR (register_address BETWEEN 30000100 AND 46553615 AND register_address % 100 < 16));
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'register_readings keeps no register_address check: %', SQLERRM;
END
$widen$;

-- A string reading keeps its text here with value NULL; numeric readings leave it NULL.
ALTER TABLE register_readings ADD COLUMN value_text TEXT;

COMMENT ON COLUMN register_readings.value_text IS 'Text of a string register (value is NULL for those)';
COMMENT ON COLUMN register_readings.register_address IS 'Six-digit Modicon reference: 400001 = holding register 0, 300001 = input register 0, 100001 = discrete input 0, 1 = coil 0; a bit of a register is reference * 100 + bit (40000103 = bit 3 of 400001)';

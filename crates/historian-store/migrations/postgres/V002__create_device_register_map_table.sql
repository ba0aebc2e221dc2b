-- Each device's register map. register_address is the six-digit Modicon reference
-- (table digit * 100000 + wire address + 1: holding 0 = 400001, input 0 = 300001), so one
-- integer names a register without ambiguity across the four Modbus tables.
CREATE TABLE device_register_map (
    device_id        BIGINT           NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    position         INTEGER          NOT NULL,
    register_address INTEGER          NOT NULL CHECK (register_address BETWEEN 1 AND 465536),
    register_name    TEXT             NOT NULL,
    data_type        TEXT             NOT NULL,
    word_order       TEXT             NOT NULL DEFAULT 'ABCD',
    scale            DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    "offset"         DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    unit             TEXT             NOT NULL DEFAULT '',
    PRIMARY KEY (device_id, register_address),
    UNIQUE (device_id, register_name)
);

COMMENT ON TABLE device_register_map IS 'Register map of each device: what to read and how to decode it';
COMMENT ON COLUMN device_register_map.position IS 'Order of the register in the map as written';
COMMENT ON COLUMN device_register_map.register_address IS 'Six-digit Modicon reference: 400001 = holding register 0, 300001 = input register 0, 100001 = discrete input 0, 1 = coil 0';
COMMENT ON COLUMN device_register_map.word_order IS 'ABCD, CDAB, BADC or DCBA';
COMMENT ON COLUMN device_register_map.scale IS 'Engineering value = raw * scale + offset';

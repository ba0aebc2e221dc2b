-- How each device is reached and read, so that devices managed in the database (through
-- the API or `devices import`) can be RTU over TCP or on a serial port too, with their own
-- time-out and read-planning limits. For transport 'rtu' the host column holds the serial
-- port's path and the serial_* columns its line settings.
ALTER TABLE devices
    ADD COLUMN transport TEXT NOT NULL DEFAULT 'tcp'
        CHECK (transport IN ('tcp', 'rtu_over_tcp', 'rtu')),
    ADD COLUMN serial_baud_rate INTEGER CHECK (serial_baud_rate BETWEEN 300 AND 4000000),
    ADD COLUMN serial_parity TEXT CHECK (serial_parity IN ('none', 'even', 'odd')),
    ADD COLUMN serial_stop_bits SMALLINT CHECK (serial_stop_bits IN (1, 2)),
    ADD COLUMN serial_data_bits SMALLINT CHECK (serial_data_bits IN (7, 8)),
    ADD COLUMN request_timeout_ms INTEGER CHECK (request_timeout_ms > 0),
    ADD COLUMN max_registers_per_read SMALLINT NOT NULL DEFAULT 125
        CHECK (max_registers_per_read BETWEEN 1 AND 125),
    ADD COLUMN max_gap SMALLINT NOT NULL DEFAULT 0 CHECK (max_gap BETWEEN 0 AND 124),
    ADD COLUMN pause_between_requests_ms INTEGER NOT NULL DEFAULT 0
        CHECK (pause_between_requests_ms >= 0),
    ADD CONSTRAINT devices_serial_settings_only_for_rtu CHECK (
        (transport = 'rtu') = (serial_baud_rate IS NOT NULL
            AND serial_parity IS NOT NULL
            AND serial_stop_bits IS NOT NULL
            AND serial_data_bits IS NOT NULL)
    );

COMMENT ON COLUMN devices.transport IS 'tcp (Modbus TCP), rtu_over_tcp (serial gateway) or rtu (local serial port, path in host)';
COMMENT ON COLUMN devices.request_timeout_ms IS 'Per-request time-out; NULL follows the historian default';
COMMENT ON COLUMN devices.max_gap IS 'Unmapped registers one read may bridge';

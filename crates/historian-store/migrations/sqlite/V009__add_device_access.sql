-- How each device is reached and read (see the PostgreSQL migration V007): transport,
-- serial line settings (host holds the port's path for 'rtu'), time-out and planning limits.
ALTER TABLE devices ADD COLUMN transport TEXT NOT NULL DEFAULT 'tcp'
    CHECK (transport IN ('tcp', 'rtu_over_tcp', 'rtu'));
ALTER TABLE devices ADD COLUMN serial_baud_rate INTEGER
    CHECK (serial_baud_rate BETWEEN 300 AND 4000000);
ALTER TABLE devices ADD COLUMN serial_parity TEXT
    CHECK (serial_parity IN ('none', 'even', 'odd'));
ALTER TABLE devices ADD COLUMN serial_stop_bits INTEGER CHECK (serial_stop_bits IN (1, 2));
ALTER TABLE devices ADD COLUMN serial_data_bits INTEGER CHECK (serial_data_bits IN (7, 8));
ALTER TABLE devices ADD COLUMN request_timeout_ms INTEGER CHECK (request_timeout_ms > 0);
ALTER TABLE devices ADD COLUMN max_registers_per_read INTEGER NOT NULL DEFAULT 125
    CHECK (max_registers_per_read BETWEEN 1 AND 125);
ALTER TABLE devices ADD COLUMN max_gap INTEGER NOT NULL DEFAULT 0
    CHECK (max_gap BETWEEN 0 AND 124);
ALTER TABLE devices ADD COLUMN pause_between_requests_ms INTEGER NOT NULL DEFAULT 0
    CHECK (pause_between_requests_ms >= 0);

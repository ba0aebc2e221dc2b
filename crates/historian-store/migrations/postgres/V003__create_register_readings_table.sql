-- Every reading the historian polled.
--
-- With TimescaleDB (when the extension can be created and the session setting
-- historian.timescaledb is not 'off'): a hypertable with 1-day chunks. Without it: a table
-- partitioned by range on "timestamp", whose daily partitions the historian creates ahead
-- of time and drops for retention; a DEFAULT partition takes any row outside them, so no
-- reading is ever refused for its time.
DO $migration$
DECLARE
    wanted    text    := coalesce(nullif(current_setting('historian.timescaledb', true), ''), 'auto');
    use_tsdb  boolean := false;
    -- CREATE EXTENSION ends the session (FATAL, not catchable) unless the library is in
    -- shared_preload_libraries; its settings are registered exactly when it is preloaded.
    preloaded boolean := EXISTS (SELECT 1 FROM pg_settings WHERE name LIKE 'timescaledb.%');
BEGIN
    IF wanted <> 'off' AND preloaded
       AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
            use_tsdb := true;
        EXCEPTION WHEN OTHERS THEN
            IF wanted = 'required' THEN
                RAISE;
            END IF;
            RAISE NOTICE 'timescaledb cannot be created here (%); using plain PostgreSQL', SQLERRM;
        END;
    ELSIF wanted = 'required' THEN
        RAISE EXCEPTION 'timescaledb is required (storage.timescaledb = "required") but this server does not offer it preloaded (shared_preload_libraries)';
    END IF;

    EXECUTE format($ddl$
        CREATE TABLE register_readings (
            "timestamp"      TIMESTAMPTZ      NOT NULL,
            device_id        BIGINT           NOT NULL REFERENCES devices (id),
            register_address INTEGER          NOT NULL CHECK (register_address BETWEEN 1 AND 465536),
            value            DOUBLE PRECISION,
            quality          TEXT             NOT NULL CHECK (quality IN ('good', 'bad', 'uncertain')),
            register_name    TEXT             NOT NULL,
            data_type        TEXT             NOT NULL,
            unit             TEXT             NOT NULL,
            PRIMARY KEY ("timestamp", device_id, register_address)
        ) %s
    $ddl$, CASE WHEN use_tsdb THEN '' ELSE 'PARTITION BY RANGE ("timestamp")' END);

    IF use_tsdb THEN
        PERFORM create_hypertable('register_readings', by_range('timestamp', INTERVAL '1 day'),
                                  create_default_indexes => false);
    ELSE
        CREATE TABLE register_readings_default PARTITION OF register_readings DEFAULT;
    END IF;
END
$migration$;

CREATE INDEX register_readings_device_register_time_idx
    ON register_readings (device_id, register_address, "timestamp" DESC);

COMMENT ON TABLE register_readings IS 'Every polled Modbus reading; a TimescaleDB hypertable when the extension is available';
COMMENT ON COLUMN register_readings."timestamp" IS 'Instant the poll began (UTC)';
COMMENT ON COLUMN register_readings.device_id IS 'The polled device (devices.id)';
COMMENT ON COLUMN register_readings.register_address IS 'Six-digit Modicon reference: 400001 = holding register 0, 300001 = input register 0, 100001 = discrete input 0, 1 = coil 0';
COMMENT ON COLUMN register_readings.value IS 'Engineering value (raw * scale + offset); NULL when the read failed';
COMMENT ON COLUMN register_readings.quality IS 'good; bad when the read failed; uncertain when out of range or not a number';
COMMENT ON COLUMN register_readings.register_name IS 'Register name from the map at the time of the reading (denormalised: no join needed)';
COMMENT ON COLUMN register_readings.data_type IS 'Data type from the map at the time of the reading';
COMMENT ON COLUMN register_readings.unit IS 'Engineering unit from the map at the time of the reading';

-- One register's history read from the index alone.
--
-- The primary key keeps the plan's columns (timestamp, device_id, register_address) but
-- in the order every history query looks them up, (device_id, register_address,
-- timestamp), as the SQLite table is clustered, and carries the columns a series answer
-- needs (value, quality, value_text). A day of one register is then an index-only scan
-- of a few dozen adjacent index pages instead of one heap page per reading: readings
-- arrive in time order for all registers at once, so each of a register's rows sits on a
-- page of its own.
--
-- The (device_id, register_address, timestamp DESC) index held the same keys and goes:
-- writes keep one B-tree with an insertion point per register (now wider) instead of two.
-- Scans by time across all registers (continuous aggregate refreshes, plain roll-ups,
-- retention of the default partition) keep an index: a BRIN summary of time per range of
-- heap pages, which rows appended in time order make exact and which costs next to
-- nothing to maintain (autovacuum summarises each range of pages as it fills).
--
-- TimescaleDB 2.28 allows both on a hypertable with compressed chunks. Where a server
-- refuses, the old layout stays (reads are slower, nothing else changes) and says so.
DO $migration$
BEGIN
    ALTER TABLE register_readings DROP CONSTRAINT register_readings_pkey;
    ALTER TABLE register_readings
        ADD CONSTRAINT register_readings_pkey
        PRIMARY KEY (device_id, register_address, "timestamp")
        INCLUDE (value, quality, value_text);
    DROP INDEX register_readings_device_register_time_idx;
    CREATE INDEX register_readings_timestamp_brin
        ON register_readings USING brin ("timestamp") WITH (autosummarize = on);
EXCEPTION WHEN feature_not_supported OR object_not_in_prerequisite_state THEN
    RAISE WARNING 'register_readings keeps its former keys (history reads stay slower): %', SQLERRM;
END
$migration$;

-- Hours whose roll-ups a late batch made stale (a spool replayed after a long outage, a
-- collector offline for a week): written in the batch's own transaction, only for
-- readings behind the roll-ups, and taken by the next maintenance, which recomputes
-- (plain PostgreSQL) or refreshes (TimescaleDB) exactly these hours and their days.
CREATE TABLE rollup_dirty (
    device_id BIGINT      NOT NULL,
    bucket    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (device_id, bucket)
);

COMMENT ON TABLE rollup_dirty IS 'Hours (per device) that late readings reached after they were rolled up; cleared by maintenance';
COMMENT ON COLUMN rollup_dirty.device_id IS 'The device whose readings arrived late';
COMMENT ON COLUMN rollup_dirty.bucket IS 'Start of the hour (UTC) the late readings fall in';

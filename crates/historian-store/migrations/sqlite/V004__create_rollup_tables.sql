-- Hourly and daily roll-ups (avg, min, max, count, first, last per register), maintained by
-- the historian. bucket: microseconds since the Unix epoch, UTC, start of the hour or day.
-- Every bucket before rollup_watermarks.upto is rolled up; later buckets are computed from
-- raw readings at query time, so answers are never stale.
CREATE TABLE register_readings_hourly (
    bucket           INTEGER NOT NULL,
    device_id        INTEGER NOT NULL,
    register_address INTEGER NOT NULL,
    avg              REAL,
    min              REAL,
    max              REAL,
    count            INTEGER NOT NULL,
    first            REAL,
    last             REAL,
    PRIMARY KEY (device_id, register_address, bucket)
) WITHOUT ROWID;

CREATE TABLE register_readings_daily (
    bucket           INTEGER NOT NULL,
    device_id        INTEGER NOT NULL,
    register_address INTEGER NOT NULL,
    avg              REAL,
    min              REAL,
    max              REAL,
    count            INTEGER NOT NULL,
    first            REAL,
    last             REAL,
    PRIMARY KEY (device_id, register_address, bucket)
) WITHOUT ROWID;

CREATE TABLE rollup_watermarks (
    name TEXT    PRIMARY KEY,
    upto INTEGER NOT NULL
);

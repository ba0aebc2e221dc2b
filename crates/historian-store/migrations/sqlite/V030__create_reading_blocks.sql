-- Closed intervals (an hour) of one register's readings, moved out of register_readings by
-- the compactor into one row each: timestamps, values, quality, text and labels encoded
-- column by column in `payload`, beside the summary of the non-null values so aggregates
-- of whole hours never decode. Keyed like register_readings and clustered (WITHOUT ROWID),
-- so a series' blocks are one key range.
-- start: microseconds since the Unix epoch, UTC, start of the interval.
-- first_time/last_time: the oldest and newest reading's timestamp; readings: how many,
-- nulls included; count, min, max, sum, first, last: of the non-null values.
CREATE TABLE reading_blocks (
    device_id        INTEGER NOT NULL REFERENCES devices (id),
    register_address INTEGER NOT NULL,
    start            INTEGER NOT NULL,
    first_time       INTEGER NOT NULL,
    last_time        INTEGER NOT NULL,
    readings         INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    min              REAL,
    max              REAL,
    sum              REAL,
    first            REAL,
    last             REAL,
    payload          BLOB    NOT NULL,
    PRIMARY KEY (device_id, register_address, start)
) WITHOUT ROWID;

-- Running totals of the blocks (kept by the compactor and retention in the same
-- transactions), so bytes per reading are known without reading every block.
-- bytes: payload bytes plus the row's key and summary columns.
CREATE TABLE reading_block_totals (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    blocks   INTEGER NOT NULL,
    readings INTEGER NOT NULL,
    bytes    INTEGER NOT NULL
);
INSERT INTO reading_block_totals (id, blocks, readings, bytes) VALUES (1, 0, 0, 0);

-- The audit trail (see the PostgreSQL migration V009): one row per accepted change.
-- AUTOINCREMENT so an id is never reused, even after the newest rows are deleted: pages
-- are read newest first by id. time: microseconds since the Unix epoch, UTC.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    time   INTEGER NOT NULL,
    who    TEXT    NOT NULL,
    peer   TEXT,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    before TEXT    CHECK (before IS NULL OR json_valid(before)),
    after  TEXT    CHECK (after IS NULL OR json_valid(after))
);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_target ON audit_log (target, id);

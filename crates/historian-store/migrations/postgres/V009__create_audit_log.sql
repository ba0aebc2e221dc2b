-- The audit trail: one row per accepted change of the configuration (devices through the
-- API or the config file, maintenance runs), with who made it and the state before and
-- after. Rows are only appended; ids grow, so newest first is highest id first. json (not
-- jsonb) keeps the text as written, keys in the API's order.
CREATE TABLE audit_log (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time   TIMESTAMPTZ NOT NULL,
    who    TEXT        NOT NULL,
    peer   TEXT,
    action TEXT        NOT NULL,
    target TEXT        NOT NULL,
    before JSON,
    after  JSON
);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_target ON audit_log (target, id);

COMMENT ON TABLE audit_log IS 'Accepted configuration changes: who, what, before and after';
COMMENT ON COLUMN audit_log.who IS 'token, local (API), config (config file), cli (command line)';
COMMENT ON COLUMN audit_log.action IS 'e.g. device.create, device.update, device.delete, storage.maintenance, config.reload';
COMMENT ON COLUMN audit_log.before IS 'State before the change as the API shows it; NULL for a creation';
COMMENT ON COLUMN audit_log.after IS 'State after the change as the API shows it; NULL for a deletion';

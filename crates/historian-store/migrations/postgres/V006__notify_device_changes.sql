-- Announce every change of the device catalogue to listening historians
-- (LISTEN historian_devices), so that a device or register map edited by another
-- process, the API or `devices import` is polled as edited within one poll interval.
CREATE OR REPLACE FUNCTION historian_notify_devices() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('historian_devices', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER devices_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION historian_notify_devices();

CREATE TRIGGER device_register_map_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_register_map
    FOR EACH STATEMENT EXECUTE FUNCTION historian_notify_devices();

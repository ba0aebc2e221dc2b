-- A counter bumped by every change of the device catalogue, so that a running historian
-- notices a device or register map edited by another process (e.g. `devices import`)
-- by polling one row.
CREATE TABLE device_catalog_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO device_catalog_version (id, version) VALUES (1, 0);

CREATE TRIGGER devices_inserted AFTER INSERT ON devices
BEGIN UPDATE device_catalog_version SET version = version + 1; END;
CREATE TRIGGER devices_updated AFTER UPDATE ON devices
BEGIN UPDATE device_catalog_version SET version = version + 1; END;
CREATE TRIGGER devices_deleted AFTER DELETE ON devices
BEGIN UPDATE device_catalog_version SET version = version + 1; END;
CREATE TRIGGER device_register_map_inserted AFTER INSERT ON device_register_map
BEGIN UPDATE device_catalog_version SET version = version + 1; END;
CREATE TRIGGER device_register_map_updated AFTER UPDATE ON device_register_map
BEGIN UPDATE device_catalog_version SET version = version + 1; END;
CREATE TRIGGER device_register_map_deleted AFTER DELETE ON device_register_map
BEGIN UPDATE device_catalog_version SET version = version + 1; END;

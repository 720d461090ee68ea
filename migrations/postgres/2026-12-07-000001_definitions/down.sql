ALTER TABLE workflows DROP COLUMN definition_version, DROP COLUMN definition_name;
DROP TABLE definitions;

ALTER TABLE workflows DROP COLUMN definition_version;
ALTER TABLE workflows DROP COLUMN definition_name;
DROP TABLE definitions;

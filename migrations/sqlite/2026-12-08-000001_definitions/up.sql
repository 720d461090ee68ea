-- Workflow definitions (as in Postgres; ids, JSON and times as TEXT): a named workflow
-- template per owner, saved in versions (each save a new row; old versions stay readable). A
-- run copies a version's tasks into the workflow it creates, which records the version.

CREATE TABLE definitions (
    id           TEXT    NOT NULL PRIMARY KEY,
    owner_id     TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    description  TEXT,
    input_schema TEXT,
    defaults     TEXT    NOT NULL DEFAULT '{}',
    -- The tasks as POST /api/workflows takes them, defaults not applied.
    tasks        TEXT    NOT NULL,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- One row per version of a name of an owner; also the index of reads by name and version
    -- and of "the latest version of each name".
    UNIQUE (owner_id, name, version)
) STRICT;

-- Lists: an owner's definitions, newest first.
CREATE INDEX definitions_owner_id_idx ON definitions (owner_id, id DESC);

ALTER TABLE workflows ADD COLUMN definition_name TEXT;
ALTER TABLE workflows ADD COLUMN definition_version INTEGER;

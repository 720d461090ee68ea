-- Workflow definitions: a named workflow template per owner, saved in versions (each save a
-- new row; old versions stay readable). A run copies a version's tasks into the workflow it
-- creates, which records the version it came from.

CREATE TABLE definitions (
    id           uuid        PRIMARY KEY,
    owner_id     uuid        NOT NULL,
    name         text        NOT NULL,
    version      integer     NOT NULL CHECK (version >= 1),
    description  text,
    input_schema jsonb,
    defaults     jsonb       NOT NULL DEFAULT '{}',
    -- The tasks as POST /api/workflows takes them, defaults not applied.
    tasks        jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- One row per version of a name of an owner: two concurrent saves of one version cannot
    -- both land (the loser reads again). Also the index of reads by name and version, and of
    -- "the latest version of each name".
    CONSTRAINT definitions_owner_name_version_key UNIQUE (owner_id, name, version)
);

-- Lists: an owner's definitions, newest first.
CREATE INDEX definitions_owner_id_idx ON definitions (owner_id, id DESC);

ALTER TABLE workflows
    ADD COLUMN definition_name    text,
    ADD COLUMN definition_version integer;

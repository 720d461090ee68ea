-- Concurrency keys (see baton-domain's concurrency.rs): at most `concurrency_limit` workflows
-- of one owner with the same `concurrency_key` run at once; a start (or retry) beyond that
-- parks the workflow in the new status 'queued' (its tasks left pending), and admission starts
-- queued workflows oldest first (`queued_at`, then id) as slots free:
--  * concurrency_key: the template as written until the workflow starts, the rendered key
--    from then on; concurrency_limit: 1 to 1000; both or neither;
--  * queued_at: when it was last queued (admission's order).
-- Admission runs in a write transaction (BEGIN IMMEDIATE): the one writer counts the key's
-- running workflows and starts the admitted ones, so two admissions never count the same slot.
--
-- SQLite cannot change the status CHECK of workflows, so the table is rebuilt as the
-- child-workflows migration rebuilt tasks (https://sqlite.org/lang_altertable.html#otheralter),
-- keeping every column, row and index: foreign keys must be off (the store's `migrate` turns
-- them off around its migration transaction and runs `PRAGMA foreign_key_check` before
-- committing; with them on, dropping the old table would delete every task, event and
-- document). Run with foreign keys on, this migration fails here, before changing anything.
CREATE TEMP TABLE baton_foreign_keys_must_be_off (
    foreign_keys INTEGER NOT NULL CHECK (foreign_keys = 0)
) STRICT;
INSERT INTO baton_foreign_keys_must_be_off SELECT foreign_keys FROM pragma_foreign_keys;
DROP TABLE baton_foreign_keys_must_be_off;

CREATE TABLE workflows_new (
    id                TEXT    NOT NULL PRIMARY KEY,
    owner_id          TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed',
                                        'cancelled')),
    input             TEXT    NOT NULL DEFAULT '{}',
    output            TEXT,
    error             TEXT,
    current_position  INTEGER NOT NULL DEFAULT 0,
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at        TEXT,
    finished_at       TEXT,
    unfinished        INTEGER NOT NULL DEFAULT 0,
    output_task       TEXT,
    parent_id         TEXT    REFERENCES workflows (id) ON DELETE CASCADE,
    parent_task_id    TEXT,
    concurrency_key   TEXT,
    concurrency_limit INTEGER CHECK (concurrency_limit BETWEEN 1 AND 1000),
    queued_at         TEXT,
    CHECK ((concurrency_key IS NULL) = (concurrency_limit IS NULL))
) STRICT;

INSERT INTO workflows_new (
    id, owner_id, name, status, input, output, error, current_position, version, created_at,
    updated_at, started_at, finished_at, unfinished, output_task, parent_id, parent_task_id
)
SELECT id, owner_id, name, status, input, output, error, current_position, version, created_at,
       updated_at, started_at, finished_at, unfinished, output_task, parent_id, parent_task_id
  FROM workflows;

DROP TABLE workflows;
ALTER TABLE workflows_new RENAME TO workflows;

-- The indexes as they were (init, child workflows).
CREATE INDEX workflows_owner_id_idx ON workflows (owner_id, id DESC);
CREATE INDEX workflows_status_id_idx ON workflows (status, id DESC);
CREATE INDEX workflows_owner_status_id_idx ON workflows (owner_id, status, id DESC);
CREATE INDEX workflows_parent_id_idx ON workflows (parent_id) WHERE parent_id IS NOT NULL;
-- The queued workflows of a key in admission order; the sweep reads the (owner, key) pairs
-- that have any from it.
CREATE INDEX workflows_queued_key_idx ON workflows (owner_id, concurrency_key, queued_at, id)
    WHERE status = 'queued';
-- How many of a key run.
CREATE INDEX workflows_running_key_idx ON workflows (owner_id, concurrency_key)
    WHERE status = 'running' AND concurrency_key IS NOT NULL;

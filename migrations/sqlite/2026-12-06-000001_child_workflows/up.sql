-- Child workflows (see `TaskType::Workflow` in baton-domain): a task of type 'workflow' starts
-- a workflow of its own, waits for it (pending, one dependency: the child) and takes its
-- output:
--  * workflows: `parent_id` (the workflow that started it; deleted with it, and so, through
--    their own workflow_id, are its tasks, events and documents) and `parent_task_id` (the
--    task of the parent that waits for it; no foreign key: it is the parent's);
--  * tasks: `child_workflow_id` (the child the task waits for, NULL until it started one and
--    again when it is queued for another attempt); its type may be 'workflow'.
--
-- The workflows' columns are added in place (SQLite allows ADD COLUMN with a REFERENCES clause
-- when its default is NULL). SQLite cannot change a CHECK constraint, so tasks is rebuilt as
-- the task-graph migration rebuilt it (https://sqlite.org/lang_altertable.html#otheralter):
-- foreign keys must be off (the store's `migrate` turns them off around its migration
-- transaction and runs `PRAGMA foreign_key_check` before committing; with them on, dropping the
-- old table would delete every event and document of a task). Run with foreign keys on, this
-- migration fails here, before changing anything.
CREATE TEMP TABLE baton_foreign_keys_must_be_off (
    foreign_keys INTEGER NOT NULL CHECK (foreign_keys = 0)
) STRICT;
INSERT INTO baton_foreign_keys_must_be_off SELECT foreign_keys FROM pragma_foreign_keys;
DROP TABLE baton_foreign_keys_must_be_off;

ALTER TABLE workflows ADD COLUMN parent_id TEXT REFERENCES workflows (id) ON DELETE CASCADE;
ALTER TABLE workflows ADD COLUMN parent_task_id TEXT;
-- The children of a workflow (the cancel cascade, and the delete cascade's foreign key).
CREATE INDEX workflows_parent_id_idx ON workflows (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE tasks_new (
    id                 TEXT    NOT NULL PRIMARY KEY,
    workflow_id        TEXT    NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    owner_id           TEXT    NOT NULL,
    -- No CHECK (position >= 0) as in Postgres: SQLite cannot defer the unique positions, so an
    -- edit parks the tasks it moves at negative positions for a moment (see edit.rs).
    position           INTEGER NOT NULL,
    key                TEXT,
    title              TEXT    NOT NULL DEFAULT '',
    type               TEXT    NOT NULL
                       CHECK (type IN ('fetch', 'transform', 'llm', 'store', 'workflow')),
    input              TEXT    NOT NULL,
    resolved_input     TEXT,
    status             TEXT    NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'queued', 'running', 'completed', 'skipped',
                                         'failed', 'cancelled')),
    attempt            INTEGER NOT NULL DEFAULT 0,
    max_attempts       INTEGER NOT NULL CHECK (max_attempts >= 1),
    backoff_initial_ms INTEGER NOT NULL,
    backoff_max_ms     INTEGER NOT NULL,
    backoff_multiplier REAL    NOT NULL,
    timeout_ms         INTEGER NOT NULL,
    output             TEXT,
    error              TEXT,
    available_at       TEXT,
    lease_owner        TEXT,
    lease_expires_at   TEXT,
    version            INTEGER NOT NULL DEFAULT 1,
    created_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at         TEXT,
    finished_at        TEXT,
    depends_on         TEXT,
    run_if             TEXT,
    dependents         TEXT    NOT NULL DEFAULT '[]',
    waiting_on         INTEGER NOT NULL DEFAULT 0,
    for_each           TEXT,
    max_parallel       INTEGER,
    parent_task_id     TEXT    REFERENCES tasks (id) ON DELETE CASCADE,
    element_index      INTEGER,
    item               TEXT,
    elements           INTEGER,
    child_workflow_id  TEXT
) STRICT;

INSERT INTO tasks_new (
    id, workflow_id, owner_id, position, key, title, type, input, resolved_input, status,
    attempt, max_attempts, backoff_initial_ms, backoff_max_ms, backoff_multiplier, timeout_ms,
    output, error, available_at, lease_owner, lease_expires_at, version, created_at, updated_at,
    started_at, finished_at, depends_on, run_if, dependents, waiting_on, for_each, max_parallel,
    parent_task_id, element_index, item, elements
)
SELECT id, workflow_id, owner_id, position, key, title, type, input, resolved_input, status,
       attempt, max_attempts, backoff_initial_ms, backoff_max_ms, backoff_multiplier, timeout_ms,
       output, error, available_at, lease_owner, lease_expires_at, version, created_at,
       updated_at, started_at, finished_at, depends_on, run_if, dependents, waiting_on, for_each,
       max_parallel, parent_task_id, element_index, item, elements
  FROM tasks;

DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;

-- The indexes as they were (init, task graph, fan-out).
CREATE UNIQUE INDEX tasks_workflow_position_key ON tasks (workflow_id, position)
    WHERE parent_task_id IS NULL;
CREATE UNIQUE INDEX tasks_workflow_key_key ON tasks (workflow_id, key);
CREATE INDEX tasks_claim_idx ON tasks (available_at, id) WHERE status = 'queued';
CREATE INDEX tasks_lease_idx ON tasks (lease_expires_at, id) WHERE status = 'running';
CREATE INDEX tasks_owner_id_idx ON tasks (owner_id, id DESC);
CREATE INDEX tasks_status_id_idx ON tasks (status, id DESC);
CREATE INDEX tasks_owner_status_id_idx ON tasks (owner_id, status, id DESC);
CREATE INDEX tasks_workflow_id_idx ON tasks (workflow_id, id DESC);
CREATE UNIQUE INDEX tasks_parent_element_key ON tasks (parent_task_id, element_index)
    WHERE parent_task_id IS NOT NULL;
CREATE INDEX tasks_workflow_element_status_idx ON tasks (workflow_id, status)
    WHERE parent_task_id IS NOT NULL;

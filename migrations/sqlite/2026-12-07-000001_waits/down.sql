-- Back to tasks without sleeps and waits. A 'sleep' or 'wait' task cannot be kept (the type
-- CHECK has no place for it): with any, this migration refuses to run, before changing
-- anything. tasks is rebuilt as up.sql rebuilt it: foreign keys must be off.
CREATE TEMP TABLE baton_foreign_keys_must_be_off (
    foreign_keys INTEGER NOT NULL CHECK (foreign_keys = 0)
) STRICT;
INSERT INTO baton_foreign_keys_must_be_off SELECT foreign_keys FROM pragma_foreign_keys;
DROP TABLE baton_foreign_keys_must_be_off;

CREATE TEMP TABLE baton_no_wait_tasks (
    wait_tasks INTEGER NOT NULL CHECK (wait_tasks = 0)
) STRICT;
INSERT INTO baton_no_wait_tasks SELECT count(*) FROM tasks WHERE type IN ('sleep', 'wait');
DROP TABLE baton_no_wait_tasks;

DROP TABLE signals;

CREATE TABLE tasks_old (
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

INSERT INTO tasks_old (
    id, workflow_id, owner_id, position, key, title, type, input, resolved_input, status,
    attempt, max_attempts, backoff_initial_ms, backoff_max_ms, backoff_multiplier, timeout_ms,
    output, error, available_at, lease_owner, lease_expires_at, version, created_at, updated_at,
    started_at, finished_at, depends_on, run_if, dependents, waiting_on, for_each, max_parallel,
    parent_task_id, element_index, item, elements, child_workflow_id
)
SELECT id, workflow_id, owner_id, position, key, title, type, input, resolved_input, status,
       attempt, max_attempts, backoff_initial_ms, backoff_max_ms, backoff_multiplier, timeout_ms,
       output, error, available_at, lease_owner, lease_expires_at, version, created_at,
       updated_at, started_at, finished_at, depends_on, run_if, dependents, waiting_on, for_each,
       max_parallel, parent_task_id, element_index, item, elements, child_workflow_id
  FROM tasks;

DROP TABLE tasks;
ALTER TABLE tasks_old RENAME TO tasks;

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

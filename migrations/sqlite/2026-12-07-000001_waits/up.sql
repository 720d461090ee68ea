-- Sleep and wait tasks, and signals (see baton-domain's wait module). A `sleep` or `wait` task
-- at its turn *parks*: queued again, without a lease, runnable at its wake time (wake_at; a
-- wait without a time-out: never by itself, available_at NULL): it holds no worker while it
-- waits. waiting_since records since when (kept over re-parks; cleared by a retry). A signal
-- is a row of `signals`, kept until a wait consumes it (consumed_by), once. SQLite has one
-- writer: a park and a signal for it are applied one after the other, and whichever comes
-- second sees the first (crates/baton-sqlite, steps.rs and inbox.rs).
--
-- SQLite cannot change a CHECK constraint, so tasks is rebuilt as the child-workflows
-- migration rebuilt it (https://sqlite.org/lang_altertable.html#otheralter), with foreign keys
-- off (the store's `migrate` turns them off around its migration transaction and runs
-- `PRAGMA foreign_key_check` before committing). Run with foreign keys on, this migration fails
-- here, before changing anything.
CREATE TEMP TABLE baton_foreign_keys_must_be_off (
    foreign_keys INTEGER NOT NULL CHECK (foreign_keys = 0)
) STRICT;
INSERT INTO baton_foreign_keys_must_be_off SELECT foreign_keys FROM pragma_foreign_keys;
DROP TABLE baton_foreign_keys_must_be_off;

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
                       CHECK (type IN ('fetch', 'transform', 'llm', 'store', 'workflow',
                                       'sleep', 'wait')),
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
    child_workflow_id  TEXT,
    waiting_since      TEXT,
    wake_at            TEXT
) STRICT;

INSERT INTO tasks_new (
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
ALTER TABLE tasks_new RENAME TO tasks;

-- The indexes as they were (init, task graph, fan-out, child workflows).
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

CREATE TABLE signals (
    id          TEXT    NOT NULL PRIMARY KEY,
    seq         INTEGER NOT NULL,
    workflow_id TEXT    NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    consumed_by TEXT,
    consumed_at TEXT
) STRICT;
-- The oldest kept signal of a name (a wait's turn), and a workflow's signals (its list).
CREATE UNIQUE INDEX signals_workflow_seq_key ON signals (workflow_id, seq);
CREATE INDEX signals_kept_idx ON signals (workflow_id, name, seq) WHERE consumed_by IS NULL;

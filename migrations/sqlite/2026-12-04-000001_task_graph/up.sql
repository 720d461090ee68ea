-- Tasks form a dependency graph (see `Graph` in baton-domain):
--  * tasks: `depends_on` (the keys of the tasks it needs, as written: a JSON array, NULL when it
--    lists none), `run_if` (its `when` template), `dependents` (wired at the start of a run: a
--    JSON array of the ids of the tasks that need it) and `waiting_on` (how many of its
--    dependencies are unfinished); its status may be 'skipped';
--  * workflows: `unfinished` (its tasks not yet completed or skipped) and `output_task` (the
--    task whose output becomes the workflow's).
--
-- SQLite cannot change a CHECK constraint, so tasks is rebuilt the SQLite way
-- (https://sqlite.org/lang_altertable.html#otheralter): a new table, the rows copied, the old
-- table dropped, the new one renamed, its indexes created again. Foreign keys must be off for
-- this: with them on, dropping the old table would first delete its rows, cascading to every
-- event and document of a task. `PRAGMA foreign_keys` cannot change inside a transaction, so
-- the store's `migrate` (crates/baton-sqlite/src/pool.rs) turns them off around its migration
-- transaction and runs `PRAGMA foreign_key_check` before committing. Run with foreign keys on,
-- this migration fails here, before changing anything.
CREATE TEMP TABLE baton_foreign_keys_must_be_off (
    foreign_keys INTEGER NOT NULL CHECK (foreign_keys = 0)
) STRICT;
INSERT INTO baton_foreign_keys_must_be_off SELECT foreign_keys FROM pragma_foreign_keys;
DROP TABLE baton_foreign_keys_must_be_off;

ALTER TABLE workflows ADD COLUMN unfinished INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflows ADD COLUMN output_task TEXT;

CREATE TABLE tasks_new (
    id                 TEXT    NOT NULL PRIMARY KEY,
    workflow_id        TEXT    NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    owner_id           TEXT    NOT NULL,
    -- No CHECK (position >= 0) as in Postgres: SQLite cannot defer the unique positions, so an
    -- edit parks the tasks it moves at negative positions for a moment (see edit.rs).
    position           INTEGER NOT NULL,
    key                TEXT,
    title              TEXT    NOT NULL DEFAULT '',
    type               TEXT    NOT NULL CHECK (type IN ('fetch', 'transform', 'llm', 'store')),
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
    waiting_on         INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The rows as they are. Workflows started before this migration ran in order, each task
-- needing the one before: they are wired so (the next task is each one's dependent, a pending
-- task waits for the one before it), and they count their tasks not completed as unfinished,
-- the last task's output becoming theirs. Pending workflows are wired when they start.
INSERT INTO tasks_new (
    id, workflow_id, owner_id, position, key, title, type, input, resolved_input, status,
    attempt, max_attempts, backoff_initial_ms, backoff_max_ms, backoff_multiplier, timeout_ms,
    output, error, available_at, lease_owner, lease_expires_at, version, created_at, updated_at,
    started_at, finished_at, dependents, waiting_on
)
SELECT t.id, t.workflow_id, t.owner_id, t.position, t.key, t.title, t.type, t.input,
       t.resolved_input, t.status, t.attempt, t.max_attempts, t.backoff_initial_ms,
       t.backoff_max_ms, t.backoff_multiplier, t.timeout_ms, t.output, t.error, t.available_at,
       t.lease_owner, t.lease_expires_at, t.version, t.created_at, t.updated_at, t.started_at,
       t.finished_at,
       CASE WHEN w.status = 'pending' THEN '[]'
            ELSE coalesce((SELECT json_array(n.id) FROM tasks AS n
                            WHERE n.workflow_id = t.workflow_id AND n.position = t.position + 1),
                          '[]')
       END,
       CASE WHEN w.status <> 'pending' AND t.status = 'pending' AND t.position > 0 THEN 1
            ELSE 0
       END
  FROM tasks AS t
  JOIN workflows AS w ON w.id = t.workflow_id;

UPDATE workflows
   SET unfinished = (SELECT count(*) FROM tasks AS t
                      WHERE t.workflow_id = workflows.id AND t.status <> 'completed'),
       output_task = (SELECT t.id FROM tasks AS t
                       WHERE t.workflow_id = workflows.id
                       ORDER BY t.position DESC LIMIT 1)
 WHERE status <> 'pending';

DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;

-- The indexes of the init migration, as they were.
CREATE UNIQUE INDEX tasks_workflow_position_key ON tasks (workflow_id, position);
CREATE UNIQUE INDEX tasks_workflow_key_key ON tasks (workflow_id, key);
CREATE INDEX tasks_claim_idx ON tasks (available_at, id) WHERE status = 'queued';
CREATE INDEX tasks_lease_idx ON tasks (lease_expires_at, id) WHERE status = 'running';
CREATE INDEX tasks_owner_id_idx ON tasks (owner_id, id DESC);
CREATE INDEX tasks_status_id_idx ON tasks (status, id DESC);
CREATE INDEX tasks_owner_status_id_idx ON tasks (owner_id, status, id DESC);
CREATE INDEX tasks_workflow_id_idx ON tasks (workflow_id, id DESC);

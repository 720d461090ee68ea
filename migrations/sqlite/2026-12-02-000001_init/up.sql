-- Workflows and their tasks, the events of their runs and the documents store tasks write, on an
-- embedded SQLite file (the Postgres schema of migrations/postgres, in SQLite's terms):
--  * ids are UUID v7 as canonical lower-case hyphenated TEXT, so "newest first" is "id
--    descending" (the text sorts as the UUID's bytes, which start with the time);
--  * JSON is TEXT (serde_json writes it, serde_json reads it back);
--  * times are TEXT in exactly one format, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') — RFC 3339 in
--    UTC with milliseconds, e.g. 2026-12-02T09:30:00.250Z — written only by SQLite's clock. Being
--    fixed-width, comparing the text compares the times.
-- STRICT tables: SQLite checks every value's type, as Postgres would.

CREATE TABLE workflows (
    id               TEXT    NOT NULL PRIMARY KEY,
    owner_id         TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    input            TEXT    NOT NULL DEFAULT '{}',
    output           TEXT,
    error            TEXT,
    current_position INTEGER NOT NULL DEFAULT 0,
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at       TEXT,
    finished_at      TEXT
) STRICT;

-- Lists: newest first, optionally by owner and status.
CREATE INDEX workflows_owner_id_idx ON workflows (owner_id, id DESC);
CREATE INDEX workflows_status_id_idx ON workflows (status, id DESC);
CREATE INDEX workflows_owner_status_id_idx ON workflows (owner_id, status, id DESC);

CREATE TABLE tasks (
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
                       CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled')),
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
    finished_at        TEXT
) STRICT;

-- One task per position of a workflow; the index also serves the foreign key (and its cascade)
-- and "tasks of these workflows by position".
CREATE UNIQUE INDEX tasks_workflow_position_key ON tasks (workflow_id, position);
-- Keys are unique per workflow (several tasks without a key are fine: NULLs are distinct).
CREATE UNIQUE INDEX tasks_workflow_key_key ON tasks (workflow_id, key);
-- The claim: runnable tasks by the time they become available, oldest first (ties by id).
CREATE INDEX tasks_claim_idx ON tasks (available_at, id) WHERE status = 'queued';
-- The reaper: running tasks by lease expiry.
CREATE INDEX tasks_lease_idx ON tasks (lease_expires_at, id) WHERE status = 'running';
-- Lists: newest first, optionally by owner and status.
CREATE INDEX tasks_owner_id_idx ON tasks (owner_id, id DESC);
CREATE INDEX tasks_status_id_idx ON tasks (status, id DESC);
CREATE INDEX tasks_owner_status_id_idx ON tasks (owner_id, status, id DESC);
-- The tasks of one workflow, newest first (its owner is checked on the workflow: SQLite has
-- no statistics to tell that a workflow's tasks are fewer than its owner's).
CREATE INDEX tasks_workflow_id_idx ON tasks (workflow_id, id DESC);

CREATE TABLE events (
    -- AUTOINCREMENT: ids strictly increase and are never reused, even after deletes. Writers
    -- take the write lock first (BEGIN IMMEDIATE), so ids are also in commit order.
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    workflow_id TEXT    NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    task_id     TEXT    REFERENCES tasks (id) ON DELETE CASCADE,
    attempt     INTEGER,
    type        TEXT    NOT NULL,
    data        TEXT    NOT NULL DEFAULT '{}',
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX events_workflow_id_idx ON events (workflow_id, id);
CREATE INDEX events_task_id_idx ON events (task_id);

CREATE TABLE documents (
    id          TEXT NOT NULL PRIMARY KEY,
    owner_id    TEXT NOT NULL,
    collection  TEXT NOT NULL,
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    -- One document per store task: a retried store task cannot write twice.
    task_id     TEXT NOT NULL UNIQUE REFERENCES tasks (id) ON DELETE CASCADE,
    data        TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX documents_owner_collection_idx ON documents (owner_id, collection, id DESC);
CREATE INDEX documents_collection_idx ON documents (collection, id DESC);
CREATE INDEX documents_owner_id_idx ON documents (owner_id, id DESC);
CREATE INDEX documents_workflow_id_idx ON documents (workflow_id);

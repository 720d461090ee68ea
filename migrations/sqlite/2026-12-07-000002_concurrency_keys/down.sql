-- Back to workflows without concurrency keys: queued workflows are cancelled (the earlier
-- statuses have no place for them; their tasks never ran), and workflows is rebuilt as up.sql
-- rebuilt it: foreign keys must be off.
CREATE TEMP TABLE baton_foreign_keys_must_be_off (
    foreign_keys INTEGER NOT NULL CHECK (foreign_keys = 0)
) STRICT;
INSERT INTO baton_foreign_keys_must_be_off SELECT foreign_keys FROM pragma_foreign_keys;
DROP TABLE baton_foreign_keys_must_be_off;

UPDATE tasks
   SET status = 'cancelled', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), version = version + 1
 WHERE status = 'pending'
   AND workflow_id IN (SELECT id FROM workflows WHERE status = 'queued');
UPDATE workflows
   SET status = 'cancelled', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), version = version + 1
 WHERE status = 'queued';

CREATE TABLE workflows_old (
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
    finished_at      TEXT,
    unfinished       INTEGER NOT NULL DEFAULT 0,
    output_task      TEXT,
    parent_id        TEXT    REFERENCES workflows (id) ON DELETE CASCADE,
    parent_task_id   TEXT
) STRICT;

INSERT INTO workflows_old (
    id, owner_id, name, status, input, output, error, current_position, version, created_at,
    updated_at, started_at, finished_at, unfinished, output_task, parent_id, parent_task_id
)
SELECT id, owner_id, name, status, input, output, error, current_position, version, created_at,
       updated_at, started_at, finished_at, unfinished, output_task, parent_id, parent_task_id
  FROM workflows;

DROP TABLE workflows;
ALTER TABLE workflows_old RENAME TO workflows;

CREATE INDEX workflows_owner_id_idx ON workflows (owner_id, id DESC);
CREATE INDEX workflows_status_id_idx ON workflows (status, id DESC);
CREATE INDEX workflows_owner_status_id_idx ON workflows (owner_id, status, id DESC);
CREATE INDEX workflows_parent_id_idx ON workflows (parent_id) WHERE parent_id IS NOT NULL;

-- Workflows and their tasks, the events of their runs and the documents store tasks write.
-- Ids are UUID v7 (time-ordered), so "newest first" is "id descending".

CREATE TABLE workflows (
    id               uuid PRIMARY KEY,
    owner_id         uuid        NOT NULL,
    name             text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    input            jsonb       NOT NULL DEFAULT '{}',
    output           jsonb,
    error            jsonb,
    current_position integer     NOT NULL DEFAULT 0,
    version          integer     NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);

-- Lists: newest first, optionally by owner and status.
CREATE INDEX workflows_owner_id_idx ON workflows (owner_id, id DESC);
CREATE INDEX workflows_status_id_idx ON workflows (status, id DESC);
CREATE INDEX workflows_owner_status_id_idx ON workflows (owner_id, status, id DESC);

CREATE TABLE tasks (
    id                 uuid PRIMARY KEY,
    workflow_id        uuid             NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    owner_id           uuid             NOT NULL,
    position           integer          NOT NULL CHECK (position >= 0),
    key                text,
    title              text             NOT NULL DEFAULT '',
    type               text             NOT NULL CHECK (type IN ('fetch', 'transform', 'llm', 'store')),
    input              jsonb            NOT NULL,
    resolved_input     jsonb,
    status             text             NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled')),
    attempt            integer          NOT NULL DEFAULT 0,
    max_attempts       integer          NOT NULL CHECK (max_attempts >= 1),
    backoff_initial_ms bigint           NOT NULL,
    backoff_max_ms     bigint           NOT NULL,
    backoff_multiplier double precision NOT NULL,
    timeout_ms         bigint           NOT NULL,
    output             jsonb,
    error              jsonb,
    available_at       timestamptz,
    lease_owner        text,
    lease_expires_at   timestamptz,
    version            integer          NOT NULL DEFAULT 1,
    created_at         timestamptz      NOT NULL DEFAULT now(),
    updated_at         timestamptz      NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    -- Deferred so that inserting, moving or removing a task can shift its neighbours in one
    -- statement; its index also serves the foreign key and "tasks of these workflows by position".
    CONSTRAINT tasks_workflow_position_key UNIQUE (workflow_id, position) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT tasks_workflow_key_key UNIQUE (workflow_id, key)
);

-- The claim query: runnable tasks by the time they become available.
CREATE INDEX tasks_claim_idx ON tasks (available_at) WHERE status = 'queued';
-- The reaper: running tasks by lease expiry.
CREATE INDEX tasks_lease_idx ON tasks (lease_expires_at) WHERE status = 'running';
-- Lists: newest first, optionally by owner and status.
CREATE INDEX tasks_owner_id_idx ON tasks (owner_id, id DESC);
CREATE INDEX tasks_status_id_idx ON tasks (status, id DESC);

CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    workflow_id uuid        NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    task_id     uuid        REFERENCES tasks (id) ON DELETE CASCADE,
    attempt     integer,
    type        text        NOT NULL,
    data        jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX events_workflow_id_idx ON events (workflow_id, id);
CREATE INDEX events_task_id_idx ON events (task_id);

CREATE TABLE documents (
    id          uuid PRIMARY KEY,
    owner_id    uuid        NOT NULL,
    collection  text        NOT NULL,
    workflow_id uuid        NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    -- One document per store task: a retried store task cannot write twice.
    task_id     uuid        NOT NULL UNIQUE REFERENCES tasks (id) ON DELETE CASCADE,
    data        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX documents_owner_collection_idx ON documents (owner_id, collection, id DESC);
CREATE INDEX documents_collection_idx ON documents (collection, id DESC);
CREATE INDEX documents_owner_id_idx ON documents (owner_id, id DESC);
CREATE INDEX documents_workflow_id_idx ON documents (workflow_id);

-- What llm tasks keep: the usage ledger (one line per provider call, or answer served from the
-- cache), the response cache, and each model's shared pace (the provider limits).

-- Lines outlive a deleted workflow (no foreign key): an owner's usage still counts them.
CREATE TABLE llm_calls (
    id                TEXT    NOT NULL PRIMARY KEY,
    owner_id          TEXT    NOT NULL,
    workflow_id       TEXT    NOT NULL,
    task_id           TEXT    NOT NULL,
    attempt           INTEGER NOT NULL,
    model             TEXT    NOT NULL,
    prompt_tokens     INTEGER NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER NOT NULL CHECK (completion_tokens >= 0),
    estimated         INTEGER NOT NULL CHECK (estimated IN (0, 1)),
    latency_ms        INTEGER NOT NULL,
    first_token_ms    INTEGER,
    finish_reason     TEXT,
    cost_usd          REAL,
    cached            INTEGER NOT NULL CHECK (cached IN (0, 1)),
    error             TEXT,
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX llm_calls_workflow_idx ON llm_calls (workflow_id);
CREATE INDEX llm_calls_owner_time_idx ON llm_calls (owner_id, created_at);

CREATE TABLE llm_cache (
    key        TEXT NOT NULL PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    answer     TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX llm_cache_expires_idx ON llm_cache (expires_at);

CREATE TABLE llm_model_pace (
    model       TEXT NOT NULL PRIMARY KEY,
    requests_at TEXT,
    tokens_at   TEXT,
    held_until  TEXT
) STRICT;

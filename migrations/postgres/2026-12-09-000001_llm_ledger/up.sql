-- What llm tasks keep: the usage ledger (one line per provider call, or answer served from the
-- cache), the response cache, and each model's shared pace (the provider limits every instance
-- honours).

-- Lines outlive a deleted workflow (no foreign key): an owner's usage still counts them.
CREATE TABLE llm_calls (
    id                uuid PRIMARY KEY,
    owner_id          uuid NOT NULL,
    workflow_id       uuid NOT NULL,
    task_id           uuid NOT NULL,
    attempt           integer NOT NULL,
    model             text NOT NULL,
    prompt_tokens     bigint NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens bigint NOT NULL CHECK (completion_tokens >= 0),
    estimated         boolean NOT NULL,
    latency_ms        bigint NOT NULL,
    first_token_ms    bigint,
    finish_reason     text,
    cost_usd          double precision,
    cached            boolean NOT NULL,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
-- A workflow's usage, and an owner's over a time range.
CREATE INDEX llm_calls_workflow_idx ON llm_calls (workflow_id);
CREATE INDEX llm_calls_owner_time_idx ON llm_calls (owner_id, created_at);

-- The key hashes the owner with the request (model, messages, parameters, schema).
CREATE TABLE llm_cache (
    key        text PRIMARY KEY,
    owner_id   uuid NOT NULL,
    answer     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX llm_cache_expires_idx ON llm_cache (expires_at);

CREATE TABLE llm_model_pace (
    model       text PRIMARY KEY,
    requests_at timestamptz,
    tokens_at   timestamptz,
    held_until  timestamptz
);

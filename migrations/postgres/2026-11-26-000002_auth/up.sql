-- API protection: users, their API keys, and Idempotency-Key records.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    -- Stored lower-cased by the application; unique logins.
    email         text        NOT NULL CONSTRAINT users_email_key UNIQUE,
    -- PHC string (argon2id).
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('admin', 'member')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    owner_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL,
    -- The first characters of the key, to recognise it; the key itself is never stored.
    prefix     text        NOT NULL,
    -- SHA-256 of the key: how a presented key is found.
    key_hash   bytea       NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- Lists: a user's active keys (and everyone's, for admins), newest first.
CREATE INDEX api_keys_owner_id_idx ON api_keys (owner_id, id DESC) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_active_id_idx ON api_keys (id DESC) WHERE revoked_at IS NULL;

CREATE TABLE idempotency_keys (
    -- The user the key belongs to: keys are scoped per principal.
    principal     uuid        NOT NULL,
    key           text        NOT NULL,
    -- SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint   bytea       NOT NULL,
    -- NULL while the first request is in flight.
    status        smallint,
    headers       jsonb       NOT NULL DEFAULT '[]',
    body          bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    PRIMARY KEY (principal, key)
);

-- Expiry (24 h) deletes by age.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

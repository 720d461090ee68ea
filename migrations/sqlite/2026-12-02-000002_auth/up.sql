-- API protection: users, their API keys, and Idempotency-Key records (as in Postgres; ids and
-- times as TEXT, hashes and bodies as BLOB).

CREATE TABLE users (
    id            TEXT NOT NULL PRIMARY KEY,
    -- Stored lower-cased by the application; unique logins.
    email         TEXT NOT NULL UNIQUE,
    -- PHC string (argon2id).
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE api_keys (
    id         TEXT NOT NULL PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    -- The first characters of the key, to recognise it; the key itself is never stored.
    prefix     TEXT NOT NULL,
    -- SHA-256 of the key: how a presented key is found.
    key_hash   BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at TEXT
) STRICT;

-- Lists: a user's active keys (and everyone's, for admins), newest first.
CREATE INDEX api_keys_owner_id_idx ON api_keys (owner_id, id DESC) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_active_id_idx ON api_keys (id DESC) WHERE revoked_at IS NULL;

CREATE TABLE idempotency_keys (
    -- The user the key belongs to: keys are scoped per principal.
    principal    TEXT NOT NULL,
    key          TEXT NOT NULL,
    -- SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint  BLOB NOT NULL,
    -- NULL while the first request is in flight.
    status       INTEGER,
    headers      TEXT NOT NULL DEFAULT '[]',
    body         BLOB,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    completed_at TEXT,
    PRIMARY KEY (principal, key)
) STRICT;

-- Expiry (24 h) deletes by age.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

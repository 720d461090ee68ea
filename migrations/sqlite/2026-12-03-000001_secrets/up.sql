-- Secrets, sealed (as in Postgres; ids and times as TEXT, the nonce and ciphertext as BLOB). No
-- foreign key on the owner, as for workflows: the local-mode owner is the nil uuid, which has
-- no users row.

CREATE TABLE secrets (
    id         TEXT NOT NULL PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    name       TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- One secret of a name per owner: what `put_secret` upserts on.
    UNIQUE (owner_id, name)
) STRICT;

-- Lists: an owner's secrets, newest first.
CREATE INDEX secrets_owner_id_idx ON secrets (owner_id, id DESC);

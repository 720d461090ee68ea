-- Secrets: named values a user stores once and templates read, kept sealed (encrypted by the
-- engine, with the nonce it used). No foreign key on the owner, as for workflows: the
-- local-mode owner is the nil uuid, which has no users row.

CREATE TABLE secrets (
    id         uuid        PRIMARY KEY,
    owner_id   uuid        NOT NULL,
    name       text        NOT NULL,
    nonce      bytea       NOT NULL,
    ciphertext bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- One secret of a name per owner: what `put_secret` upserts on.
    CONSTRAINT secrets_owner_id_name_key UNIQUE (owner_id, name)
);

-- Lists: an owner's secrets, newest first.
CREATE INDEX secrets_owner_id_idx ON secrets (owner_id, id DESC);

-- Schedules (as in Postgres; ids, JSON and times as TEXT in the store's one time format, so
-- `next_fire_at <= now` compares as text): a definition run on a cron in a time zone. Firing
-- moves `next_fire_at` on in the same transaction as the run it creates, fenced on its old
-- value; runs record their schedule and tick, unique per tick as a second guard.

CREATE TABLE schedules (
    id            TEXT    NOT NULL PRIMARY KEY,
    owner_id      TEXT    NOT NULL,
    definition    TEXT    NOT NULL,
    version       INTEGER CHECK (version >= 1),
    input         TEXT    NOT NULL DEFAULT '{}',
    cron          TEXT    NOT NULL,
    timezone      TEXT    NOT NULL,
    misfire       TEXT    NOT NULL CHECK (misfire IN ('skip', 'run_once')),
    paused        INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    next_fire_at  TEXT,
    last_fired_at TEXT,
    last_error    TEXT,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Due schedules, the longest due first.
CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE paused = 0;
-- Lists: an owner's schedules, newest first.
CREATE INDEX schedules_owner_id_idx ON schedules (owner_id, id DESC);
-- Deleting a definition: does a schedule of its owner run it?
CREATE INDEX schedules_definition_idx ON schedules (owner_id, definition);

ALTER TABLE workflows ADD COLUMN schedule_id TEXT;
ALTER TABLE workflows ADD COLUMN scheduled_at TEXT;
CREATE UNIQUE INDEX workflows_schedule_tick_key ON workflows (schedule_id, scheduled_at)
    WHERE schedule_id IS NOT NULL;

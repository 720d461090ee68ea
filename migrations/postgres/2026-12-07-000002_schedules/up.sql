-- Schedules: a definition run on a cron in a time zone. `next_fire_at` is when it is next
-- due; firing moves it on in the same transaction as the run it creates, fenced on its old
-- value, so one instance fires each tick. Runs record their schedule and tick, unique per
-- tick as a second guard.

CREATE TABLE schedules (
    id            uuid        PRIMARY KEY,
    owner_id      uuid        NOT NULL,
    -- The owner's definition it runs, by name; `version` pins one (NULL: the latest at each
    -- fire).
    definition    text        NOT NULL,
    version       integer     CHECK (version >= 1),
    input         jsonb       NOT NULL DEFAULT '{}',
    cron          text        NOT NULL,
    timezone      text        NOT NULL,
    misfire       text        NOT NULL CHECK (misfire IN ('skip', 'run_once')),
    paused        boolean     NOT NULL DEFAULT false,
    next_fire_at  timestamptz,
    last_fired_at timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Due schedules, the longest due first.
CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE paused = false;
-- Lists: an owner's schedules, newest first.
CREATE INDEX schedules_owner_id_idx ON schedules (owner_id, id DESC);
-- Deleting a definition: does a schedule of its owner run it?
CREATE INDEX schedules_definition_idx ON schedules (owner_id, definition);

ALTER TABLE workflows
    ADD COLUMN schedule_id  uuid,
    ADD COLUMN scheduled_at timestamptz;
CREATE UNIQUE INDEX workflows_schedule_tick_key ON workflows (schedule_id, scheduled_at)
    WHERE schedule_id IS NOT NULL;

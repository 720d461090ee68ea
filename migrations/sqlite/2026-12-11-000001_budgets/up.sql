-- Budgets for llm calls: a workflow's budget and, while it is paused (kept `running`), why; and
-- the worst case of each call in flight, reserved against the budget until its ledger line
-- settles it (one per task: a task makes one call at a time).
ALTER TABLE workflows ADD COLUMN budget TEXT;
ALTER TABLE workflows ADD COLUMN paused TEXT;

CREATE TABLE llm_reservations (
    task_id     TEXT    NOT NULL PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    workflow_id TEXT    NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    tokens      INTEGER NOT NULL CHECK (tokens >= 0),
    cost_usd    REAL    NOT NULL CHECK (cost_usd >= 0),
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX llm_reservations_workflow_idx ON llm_reservations (workflow_id);

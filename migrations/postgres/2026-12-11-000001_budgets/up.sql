-- Budgets for llm calls: a workflow's budget and, while it is paused (kept `running`), why; and
-- the worst case of each call in flight, reserved against the budget until its ledger line
-- settles it (one per task: a task makes one call at a time).
ALTER TABLE workflows
    ADD COLUMN budget jsonb,
    ADD COLUMN paused jsonb;

CREATE TABLE llm_reservations (
    task_id     uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    workflow_id uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    tokens      bigint NOT NULL CHECK (tokens >= 0),
    cost_usd    double precision NOT NULL CHECK (cost_usd >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_reservations_workflow_idx ON llm_reservations (workflow_id);

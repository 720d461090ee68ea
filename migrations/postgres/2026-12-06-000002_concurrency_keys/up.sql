-- Concurrency keys (see baton-domain's concurrency.rs): at most `concurrency_limit` workflows
-- of one owner with the same `concurrency_key` run at once; a start (or retry) beyond that
-- parks the workflow in the new status `queued` (its tasks left pending), and admission starts
-- queued workflows oldest first (`queued_at`, then id) as slots free.
--  * concurrency_key: the template as written until the workflow starts, the rendered key
--    from then on; concurrency_limit: 1 to 1000; both or neither;
--  * queued_at: when it was last queued (admission's order).
-- Admission (crates/baton-postgres, concurrency.rs) holds a transaction-level advisory lock of
-- the (owner, key) pair while it counts the key's running workflows and starts the admitted
-- ones: every transition into `running` of a keyed workflow takes it, so two admissions never
-- count the same free slot.

ALTER TABLE workflows
    ADD COLUMN concurrency_key   text,
    ADD COLUMN concurrency_limit integer,
    ADD COLUMN queued_at         timestamptz,
    ADD CONSTRAINT workflows_concurrency_check
        CHECK ((concurrency_key IS NULL) = (concurrency_limit IS NULL)),
    ADD CONSTRAINT workflows_concurrency_limit_check
        CHECK (concurrency_limit BETWEEN 1 AND 1000);

ALTER TABLE workflows DROP CONSTRAINT workflows_status_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_status_check
    CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled'));

-- The queued workflows of a key in admission order; the sweep reads the (owner, key) pairs
-- that have any from it.
CREATE INDEX workflows_queued_key_idx ON workflows (owner_id, concurrency_key, queued_at, id)
    WHERE status = 'queued';
-- How many of a key run.
CREATE INDEX workflows_running_key_idx ON workflows (owner_id, concurrency_key)
    WHERE status = 'running' AND concurrency_key IS NOT NULL;

-- A claimed task as the executor reads it (the child-workflows migration's), with its
-- workflow's concurrency key: a step that may end a keyed workflow has admission run for it.
CREATE OR REPLACE FUNCTION baton_claim_json(t tasks) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    deps jsonb := '[]'::jsonb;
    claim jsonb;
BEGIN
    IF cardinality(t.dependents) > 0 THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('id', n.id, 'position', n.position,
                                                     'attempt', n.attempt,
                                                     'waiting_on', n.waiting_on,
                                                     'element_index', n.element_index)
                                  ORDER BY n.position, n.element_index NULLS FIRST),
                        '[]'::jsonb)
          INTO deps
          FROM tasks n
         WHERE n.id = ANY (t.dependents);
    END IF;
    SELECT to_jsonb(t) || jsonb_build_object('workflow_name', w.name, 'workflow_input', w.input,
                                             'output_task', w.output_task, 'dependents', deps,
                                             'parent_task', w.parent_task_id,
                                             'concurrency_key', w.concurrency_key)
      INTO claim
      FROM workflows w WHERE w.id = t.workflow_id;
    RETURN claim;
END
$$;

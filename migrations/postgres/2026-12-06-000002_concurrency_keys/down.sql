-- Back to workflows without concurrency keys: queued workflows are cancelled (the earlier
-- statuses have no place for them; their tasks never ran).

UPDATE tasks SET status = 'cancelled', finished_at = now(), updated_at = now(),
                 version = version + 1
 WHERE status = 'pending'
   AND workflow_id IN (SELECT id FROM workflows WHERE status = 'queued');
UPDATE workflows SET status = 'cancelled', finished_at = now(), updated_at = now(),
                     version = version + 1
 WHERE status = 'queued';

DROP INDEX workflows_running_key_idx;
DROP INDEX workflows_queued_key_idx;

ALTER TABLE workflows DROP CONSTRAINT workflows_status_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_status_check
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled'));

ALTER TABLE workflows
    DROP CONSTRAINT workflows_concurrency_limit_check,
    DROP CONSTRAINT workflows_concurrency_check,
    DROP COLUMN queued_at,
    DROP COLUMN concurrency_limit,
    DROP COLUMN concurrency_key;

-- The child-workflows migration's claim.
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
                                             'parent_task', w.parent_task_id)
      INTO claim
      FROM workflows w WHERE w.id = t.workflow_id;
    RETURN claim;
END
$$;

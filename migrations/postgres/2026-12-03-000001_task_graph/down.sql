-- Back to tasks run in order (the decided-steps functions). Skipped tasks become completed
-- (with their null output): the earlier statuses have no other place for them.

DROP FUNCTION baton_apply_step(uuid, uuid, text, boolean, text, jsonb, jsonb, double precision,
                               jsonb, uuid, text, jsonb, uuid[], uuid, text, double precision,
                               uuid[], text, uuid, integer, jsonb, jsonb, text, text);

DROP FUNCTION baton_append_held(uuid, text, integer, text, jsonb);

-- The claim of the decided-steps functions (task rows locked, workflow rows not).
CREATE OR REPLACE FUNCTION baton_claim(p_worker text, p_tokens text[], p_lease_ms double precision)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    claimed jsonb := '[]'::jsonb;
    t tasks%ROWTYPE;
BEGIN
    FOR t IN
        WITH picked AS (
            SELECT s.id, row_number() OVER () AS n
              FROM (SELECT id FROM tasks
                     WHERE status = 'queued' AND available_at <= now()
                     ORDER BY available_at
                     LIMIT cardinality(p_tokens)
                     FOR UPDATE SKIP LOCKED) s)
        UPDATE tasks
           SET status = 'running',
               attempt = tasks.attempt + 1,
               lease_owner = p_tokens[picked.n],
               lease_expires_at = now() + p_lease_ms * interval '1 millisecond',
               started_at = coalesce(tasks.started_at, now()),
               updated_at = now(),
               version = tasks.version + 1
          FROM picked
         WHERE tasks.id = picked.id
        RETURNING tasks.*
    LOOP
        INSERT INTO events (workflow_id, task_id, attempt, type, data)
        VALUES (t.workflow_id, t.id, t.attempt, 'task.started',
                jsonb_build_object('task_id', t.id, 'attempt', t.attempt, 'worker', p_worker));
        claimed := claimed || jsonb_build_array(baton_claim_json(t));
    END LOOP;
    RETURN claimed;
END
$$;

CREATE OR REPLACE FUNCTION baton_claim_json(t tasks) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    successor jsonb;
    claim jsonb;
BEGIN
    SELECT jsonb_build_object('id', n.id, 'attempt', n.attempt) INTO successor
      FROM tasks n
     WHERE n.workflow_id = t.workflow_id AND n.position = t.position + 1;
    SELECT to_jsonb(t) || jsonb_build_object('workflow_name', w.name, 'workflow_input', w.input,
                                             'successor', successor)
      INTO claim
      FROM workflows w WHERE w.id = t.workflow_id;
    RETURN claim;
END
$$;

UPDATE tasks SET status = 'completed' WHERE status = 'skipped';
ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
    CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled'));

ALTER TABLE tasks
    DROP COLUMN depends_on,
    DROP COLUMN run_if,
    DROP COLUMN dependents,
    DROP COLUMN waiting_on;

ALTER TABLE workflows
    DROP COLUMN unfinished,
    DROP COLUMN output_task;

CREATE FUNCTION baton_apply_step(
    p_task uuid, p_token text, p_expired_only boolean,
    p_status text, p_output jsonb, p_error jsonb, p_retry_ms double precision, p_resolved jsonb,
    p_doc_id uuid, p_doc_collection text, p_doc_data jsonb,
    p_queue uuid[], p_claim_task uuid, p_claim_token text, p_lease_ms double precision,
    p_wf_status text, p_wf_position integer, p_wf_result jsonb,
    p_events jsonb, p_then_token text, p_worker text
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t tasks%ROWTYPE;
    nxt tasks%ROWTYPE;
    next_claim jsonb;
BEGIN
    -- One plain statement per outcome (simple plans, cached generically).
    IF p_status = 'completed' THEN
        UPDATE tasks
           SET status = 'completed', output = p_output, resolved_input = p_resolved, error = NULL,
               lease_owner = NULL, lease_expires_at = NULL, finished_at = now(),
               updated_at = now(), version = version + 1
         WHERE id = p_task AND lease_owner = p_token AND status = 'running'
           AND (NOT p_expired_only OR lease_expires_at < now())
        RETURNING * INTO t;
    ELSIF p_status = 'queued' THEN
        UPDATE tasks
           SET status = 'queued', error = p_error,
               resolved_input = coalesce(p_resolved, resolved_input),
               available_at = now() + p_retry_ms * interval '1 millisecond',
               lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
               version = version + 1
         WHERE id = p_task AND lease_owner = p_token AND status = 'running'
           AND (NOT p_expired_only OR lease_expires_at < now())
        RETURNING * INTO t;
    ELSE
        UPDATE tasks
           SET status = 'failed', error = p_error, resolved_input = p_resolved,
               lease_owner = NULL, lease_expires_at = NULL, finished_at = now(),
               updated_at = now(), version = version + 1
         WHERE id = p_task AND lease_owner = p_token AND status = 'running'
           AND (NOT p_expired_only OR lease_expires_at < now())
        RETURNING * INTO t;
    END IF;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'lost', 'next', NULL);
    END IF;

    IF p_doc_id IS NOT NULL THEN
        INSERT INTO documents (id, owner_id, collection, workflow_id, task_id, data)
        VALUES (p_doc_id, t.owner_id, p_doc_collection, t.workflow_id, t.id, p_doc_data)
        ON CONFLICT (task_id) DO NOTHING;
    END IF;

    IF cardinality(p_queue) > 0 THEN
        UPDATE tasks
           SET status = 'queued', available_at = now(), updated_at = now(), version = version + 1
         WHERE id = ANY (p_queue) AND status = 'pending';
        PERFORM pg_notify('baton_work', '');
    END IF;

    IF p_claim_task IS NOT NULL THEN
        UPDATE tasks
           SET status = 'running', attempt = attempt + 1, lease_owner = p_claim_token,
               lease_expires_at = now() + p_lease_ms * interval '1 millisecond',
               available_at = now(), started_at = coalesce(started_at, now()),
               updated_at = now(), version = version + 1
         WHERE id = p_claim_task AND status = 'pending'
        RETURNING * INTO nxt;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'baton: the decided next task % is not pending', p_claim_task;
        END IF;
        next_claim := baton_claim_json(nxt);
    END IF;

    IF p_wf_status = 'running' THEN
        UPDATE workflows
           SET current_position = p_wf_position, updated_at = now(), version = version + 1
         WHERE id = t.workflow_id;
    ELSIF p_wf_status = 'completed' THEN
        UPDATE workflows
           SET status = 'completed', output = p_wf_result, finished_at = now(),
               updated_at = now(), version = version + 1
         WHERE id = t.workflow_id AND status = 'running';
    ELSIF p_wf_status = 'failed' THEN
        UPDATE workflows
           SET status = 'failed', error = p_wf_result, finished_at = now(),
               updated_at = now(), version = version + 1
         WHERE id = t.workflow_id AND status = 'running';
    END IF;

    INSERT INTO events (workflow_id, task_id, attempt, type, data)
    SELECT t.workflow_id, (e->>'task_id')::uuid, (e->>'attempt')::integer, e->>'type',
           CASE WHEN (e->>'retry_at')::boolean
                THEN jsonb_set(e->'data', '{retry_at}', to_jsonb(t.available_at))
                ELSE e->'data' END
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, n)
     ORDER BY n;

    IF p_then_token IS NOT NULL THEN
        next_claim := baton_claim(p_worker, ARRAY[p_then_token], p_lease_ms) -> 0;
    END IF;
    RETURN jsonb_build_object('outcome', 'applied', 'next', next_claim);
END
$$;

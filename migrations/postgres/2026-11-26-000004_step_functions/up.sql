-- The engine's hot path as two functions, so that a step is one statement (with plans cached by
-- PL/pgSQL) and one commit: claiming queued tasks, and completing a task while claiming the next.

-- A claimed task as the executor reads it: the row, plus its workflow's name and input.
CREATE FUNCTION baton_claim_json(t tasks) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT to_jsonb(t) || jsonb_build_object('workflow_name', w.name, 'workflow_input', w.input)
      FROM workflows w WHERE w.id = t.workflow_id
$$;

-- Claims up to p_limit queued tasks whose time has come (oldest first), appending task.started.
CREATE FUNCTION baton_claim(p_worker text, p_lease_ms double precision, p_limit integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    claimed jsonb := '[]'::jsonb;
    t tasks%ROWTYPE;
BEGIN
    FOR t IN
        UPDATE tasks
           SET status = 'running',
               attempt = attempt + 1,
               lease_owner = p_worker || '/' || gen_random_uuid()::text,
               lease_expires_at = now() + p_lease_ms * interval '1 millisecond',
               started_at = coalesce(started_at, now()),
               updated_at = now(),
               version = version + 1
         WHERE id IN (SELECT id FROM tasks
                       WHERE status = 'queued' AND available_at <= now()
                       ORDER BY available_at
                       LIMIT p_limit
                       FOR UPDATE SKIP LOCKED)
        RETURNING *
    LOOP
        INSERT INTO events (workflow_id, task_id, attempt, type, data)
        VALUES (t.workflow_id, t.id, t.attempt, 'task.started',
                jsonb_build_object('task_id', t.id, 'attempt', t.attempt, 'worker', p_worker));
        claimed := claimed || jsonb_build_array(baton_claim_json(t));
    END LOOP;
    RETURN claimed;
END
$$;

-- Completes a claimed task, fenced by its lease token, in one transaction: its output, its
-- document (store tasks), task.completed; then the next task of the workflow is claimed for
-- p_worker (p_lease_ms given) or queued for anyone, or the workflow is completed — in which case,
-- with p_lease_ms, another queued task of any workflow is claimed so the worker carries on.
-- Answers {"outcome": "lost"|"next"|"queued"|"completed", "next": claim|null}.
CREATE FUNCTION baton_complete(
    p_task uuid, p_token text, p_output jsonb, p_resolved jsonb,
    p_doc_id uuid, p_doc_collection text, p_doc_data jsonb,
    p_worker text, p_lease_ms double precision
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t tasks%ROWTYPE;
    nxt tasks%ROWTYPE;
    other jsonb;
BEGIN
    UPDATE tasks
       SET status = 'completed', output = p_output, resolved_input = p_resolved, error = NULL,
           lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now(),
           version = version + 1
     WHERE id = p_task AND lease_owner = p_token AND status = 'running'
    RETURNING * INTO t;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'lost', 'next', NULL);
    END IF;
    IF p_doc_id IS NOT NULL THEN
        INSERT INTO documents (id, owner_id, collection, workflow_id, task_id, data)
        VALUES (p_doc_id, t.owner_id, p_doc_collection, t.workflow_id, t.id, p_doc_data)
        ON CONFLICT (task_id) DO NOTHING;
    END IF;

    IF p_lease_ms IS NOT NULL THEN
        UPDATE tasks
           SET status = 'running', attempt = attempt + 1,
               lease_owner = p_worker || '/' || gen_random_uuid()::text,
               lease_expires_at = now() + p_lease_ms * interval '1 millisecond',
               available_at = now(), started_at = coalesce(started_at, now()),
               updated_at = now(), version = version + 1
         WHERE workflow_id = t.workflow_id AND position = t.position + 1 AND status = 'pending'
        RETURNING * INTO nxt;
    ELSE
        UPDATE tasks
           SET status = 'queued', available_at = now(), updated_at = now(), version = version + 1
         WHERE workflow_id = t.workflow_id AND position = t.position + 1 AND status = 'pending'
        RETURNING * INTO nxt;
        IF FOUND THEN
            PERFORM pg_notify('baton_work', '');
        END IF;
    END IF;

    IF nxt.id IS NOT NULL THEN
        -- task.completed, and task.started when the next task was claimed, in one statement.
        INSERT INTO events (workflow_id, task_id, attempt, type, data)
        SELECT * FROM (VALUES
            (t.workflow_id, t.id, t.attempt, 'task.completed',
             jsonb_build_object('task_id', t.id, 'output', p_output)),
            (nxt.workflow_id, nxt.id, nxt.attempt, 'task.started',
             jsonb_build_object('task_id', nxt.id, 'attempt', nxt.attempt, 'worker', p_worker))
        ) AS e(workflow_id, task_id, attempt, type, data)
        WHERE e.type = 'task.completed' OR p_lease_ms IS NOT NULL;
        UPDATE workflows
           SET current_position = t.position + 1, updated_at = now(), version = version + 1
         WHERE id = t.workflow_id;
        IF p_lease_ms IS NOT NULL THEN
            RETURN jsonb_build_object('outcome', 'next', 'next', baton_claim_json(nxt));
        END IF;
        RETURN jsonb_build_object('outcome', 'queued', 'next', NULL);
    END IF;

    UPDATE workflows
       SET status = 'completed', output = p_output, finished_at = now(), updated_at = now(),
           version = version + 1
     WHERE id = t.workflow_id AND status = 'running';
    INSERT INTO events (workflow_id, task_id, attempt, type, data)
    VALUES (t.workflow_id, t.id, t.attempt, 'task.completed',
            jsonb_build_object('task_id', t.id, 'output', p_output)),
           (t.workflow_id, NULL, NULL, 'workflow.completed', jsonb_build_object('output', p_output));
    IF p_lease_ms IS NOT NULL THEN
        other := baton_claim(p_worker, p_lease_ms, 1) -> 0;
    END IF;
    RETURN jsonb_build_object('outcome', 'completed', 'next', other);
END
$$;

-- Cheaper steps: new events notify through a row trigger (no transition table, no DISTINCT;
-- Postgres folds identical notifications of a transaction into one), and baton_complete writes a
-- step's events in one statement.

DROP TRIGGER events_notify ON events;
DROP FUNCTION baton_notify_events();

CREATE FUNCTION baton_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('baton_events', NEW.workflow_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION baton_notify_event();

CREATE OR REPLACE FUNCTION baton_complete(
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

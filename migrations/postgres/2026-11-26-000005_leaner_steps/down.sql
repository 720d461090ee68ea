DROP TRIGGER events_notify ON events;
DROP FUNCTION baton_notify_event();

-- Every committed batch of events notifies 'baton_events' once per workflow (payload: its id),
-- so each Baton instance can push new events to its SSE clients without polling.
CREATE FUNCTION baton_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    workflow uuid;
BEGIN
    FOR workflow IN SELECT DISTINCT workflow_id FROM new_events LOOP
        PERFORM pg_notify('baton_events', workflow::text);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION baton_notify_events();

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
    INSERT INTO events (workflow_id, task_id, attempt, type, data)
    VALUES (t.workflow_id, t.id, t.attempt, 'task.completed',
            jsonb_build_object('task_id', t.id, 'output', p_output));

    IF p_lease_ms IS NOT NULL THEN
        UPDATE tasks
           SET status = 'running', attempt = attempt + 1,
               lease_owner = p_worker || '/' || gen_random_uuid()::text,
               lease_expires_at = now() + p_lease_ms * interval '1 millisecond',
               available_at = now(), started_at = coalesce(started_at, now()),
               updated_at = now(), version = version + 1
         WHERE workflow_id = t.workflow_id AND position = t.position + 1 AND status = 'pending'
        RETURNING * INTO nxt;
        IF FOUND THEN
            INSERT INTO events (workflow_id, task_id, attempt, type, data)
            VALUES (nxt.workflow_id, nxt.id, nxt.attempt, 'task.started',
                    jsonb_build_object('task_id', nxt.id, 'attempt', nxt.attempt, 'worker', p_worker));
        END IF;
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
    INSERT INTO events (workflow_id, type, data)
    VALUES (t.workflow_id, 'workflow.completed', jsonb_build_object('output', p_output));
    IF p_lease_ms IS NOT NULL THEN
        other := baton_claim(p_worker, p_lease_ms, 1) -> 0;
    END IF;
    RETURN jsonb_build_object('outcome', 'completed', 'next', other);
END
$$;

-- Sleep and wait tasks, and signals (see baton-domain's wait module). A `sleep` or `wait` task
-- at its turn *parks*: queued again, without a lease, runnable at its wake time (wake_at; a
-- wait without a time-out: never by itself, available_at NULL) — it holds no worker while it
-- waits. waiting_since records since when (kept over re-parks; cleared by a retry). A signal is
-- a row of `signals`, kept until a wait consumes it (consumed_by), once.
--
-- A park and a signal for it never miss each other: both lock the workflow row first (the
-- step in baton_apply_step, the signal in crates/baton-postgres, signals.rs), so one commits
-- before the other starts. A signal committed first is seen by the park's EXISTS (a new
-- snapshot per statement, after the lock), which makes the wait runnable at once; a park
-- committed first is woken by the signal's UPDATE of the parked waits for its name.

ALTER TABLE tasks
    ADD COLUMN waiting_since timestamptz,
    ADD COLUMN wake_at       timestamptz;

ALTER TABLE tasks DROP CONSTRAINT tasks_type_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_type_check
    CHECK (type IN ('fetch', 'transform', 'llm', 'store', 'workflow', 'sleep', 'wait'));

CREATE TABLE signals (
    id          uuid        PRIMARY KEY,
    seq         bigint      GENERATED ALWAYS AS IDENTITY,
    workflow_id uuid        NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    payload     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    consumed_by uuid,
    consumed_at timestamptz
);
-- The oldest kept signal of a name (a wait's turn), and a workflow's signals (its list).
CREATE INDEX signals_kept_idx ON signals (workflow_id, name, seq) WHERE consumed_by IS NULL;
CREATE INDEX signals_workflow_idx ON signals (workflow_id, seq);

DROP FUNCTION baton_apply_step(uuid, uuid, text, boolean, text, jsonb, jsonb, double precision,
                               jsonb, jsonb, uuid, uuid, text, jsonb, uuid[], uuid, text,
                               double precision, uuid[], text, uuid, integer, jsonb, uuid, jsonb,
                               text, text);

-- Applies a decided step as the child-workflows migration's did, and:
--  1. p_status 'waiting' (TaskOutcome::Wait) parks the claimed task: queued, its lease cleared,
--     runnable at p_until (NULL: never by itself), or at once when p_signal names a signal
--     kept for the workflow; its attempt handed back (attempt - 1), as a fan-out's;
--  1'. p_status 'queued' (an attempt retried, or reaped after its worker died) keeps what the
--     task waited for: a sleep or wait claimed at its time and retried goes on with the same
--     wake time (only /retry of a failed workflow makes it wait again from the start);
--  2'. p_consume: the signal a wait completed with is consumed by it, only while kept (else
--     the whole step fails: nothing applied, the attempt runs again after its lease).
CREATE FUNCTION baton_apply_step(
    p_workflow uuid, p_task uuid, p_token text, p_expired_only boolean,
    p_status text, p_output jsonb, p_error jsonb, p_retry_ms double precision, p_resolved jsonb,
    p_elements jsonb, p_child uuid,
    p_doc_id uuid, p_doc_collection text, p_doc_data jsonb,
    p_queue uuid[], p_claim_task uuid, p_claim_token text, p_lease_ms double precision,
    p_release uuid[],
    p_wf_status text, p_output_task uuid, p_advance_to integer, p_wf_error jsonb,
    p_parent_task uuid,
    p_events jsonb, p_then_token text, p_worker text,
    p_until timestamptz, p_signal text, p_consume uuid
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t tasks%ROWTYPE;
    nxt tasks%ROWTYPE;
    next_claim jsonb;
    released integer;
    cancelled integer;
    queued integer;
    wf_status text;
    wf_output jsonb;
    wf_failed boolean := false;
BEGIN
    PERFORM 1 FROM workflows WHERE id = p_workflow FOR NO KEY UPDATE;

    -- One plain statement per outcome (simple plans, cached generically).
    IF p_status = 'completed' OR p_status = 'skipped' THEN
        UPDATE tasks
           SET status = p_status, output = p_output, resolved_input = p_resolved, error = NULL,
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
               child_workflow_id = NULL, lease_owner = NULL, lease_expires_at = NULL,
               updated_at = now(), version = version + 1
         WHERE id = p_task AND lease_owner = p_token AND status = 'running'
           AND (NOT p_expired_only OR lease_expires_at < now())
        RETURNING * INTO t;
    ELSIF p_status = 'waiting' THEN
        UPDATE tasks
           SET status = 'queued', resolved_input = p_resolved, error = NULL,
               waiting_since = coalesce(waiting_since, now()), wake_at = p_until,
               available_at = CASE WHEN p_signal IS NOT NULL AND EXISTS (
                                       SELECT 1 FROM signals s
                                        WHERE s.workflow_id = p_workflow AND s.name = p_signal
                                          AND s.consumed_by IS NULL)
                                   THEN now() ELSE p_until END,
               attempt = GREATEST(attempt - 1, 0),
               lease_owner = NULL, lease_expires_at = NULL,
               updated_at = now(), version = version + 1
         WHERE id = p_task AND lease_owner = p_token AND status = 'running'
           AND (NOT p_expired_only OR lease_expires_at < now())
        RETURNING * INTO t;
        IF FOUND AND t.available_at <= now() THEN
            PERFORM pg_notify('baton_work', '');
        END IF;
    ELSIF p_status = 'pending' THEN
        UPDATE tasks
           SET status = 'pending', waiting_on = jsonb_array_length(p_elements),
               elements = jsonb_array_length(p_elements), resolved_input = p_resolved,
               attempt = GREATEST(attempt - 1, 0),
               lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
               version = version + 1
         WHERE id = p_task AND lease_owner = p_token AND status = 'running'
           AND (NOT p_expired_only OR lease_expires_at < now())
        RETURNING * INTO t;
    ELSIF p_status = 'child' THEN
        UPDATE tasks
           SET status = 'pending', waiting_on = 1, child_workflow_id = p_child,
               attempt = GREATEST(attempt - 1, 0),
               resolved_input = p_resolved, output = NULL, error = NULL,
               lease_owner = NULL, lease_expires_at = NULL,
               updated_at = now(), version = version + 1
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
    IF t.workflow_id <> p_workflow THEN
        RAISE EXCEPTION 'baton: task % is not of workflow %', p_task, p_workflow;
    END IF;

    IF p_consume IS NOT NULL THEN
        -- A wait completed with this signal's payload: it is consumed once, by this task.
        UPDATE signals SET consumed_by = p_task, consumed_at = now()
         WHERE id = p_consume AND workflow_id = p_workflow AND consumed_by IS NULL;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'baton: signal % is consumed already', p_consume;
        END IF;
    END IF;

    IF p_status = 'pending' THEN
        -- Once per fan-out: its cost grows with the element count, not with the steps.
        WITH inserted AS (
            INSERT INTO tasks (id, workflow_id, owner_id, position, key, title, type, input,
                               status, attempt, max_attempts, backoff_initial_ms, backoff_max_ms,
                               backoff_multiplier, timeout_ms, available_at, depends_on,
                               parent_task_id, element_index, item, dependents, waiting_on)
            SELECT e.id, t.workflow_id, t.owner_id, t.position, NULL, t.title, t.type, t.input,
                   CASE WHEN e.waiting_on = 0 THEN 'queued' ELSE 'pending' END,
                   0, t.max_attempts, t.backoff_initial_ms, t.backoff_max_ms,
                   t.backoff_multiplier, t.timeout_ms,
                   CASE WHEN e.waiting_on = 0 THEN now() END, t.depends_on,
                   t.id, e.index, coalesce(e.item, 'null'::jsonb), coalesce(e.dependents, '{}'),
                   e.waiting_on
              FROM jsonb_to_recordset(p_elements)
                   AS e(id uuid, index integer, item jsonb, dependents uuid[], waiting_on integer)
            RETURNING status)
        SELECT count(*) FILTER (WHERE inserted.status = 'queued') INTO queued FROM inserted;
        IF queued > 0 THEN
            PERFORM pg_notify('baton_work', '');
        END IF;
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
    END IF;

    IF cardinality(p_release) > 0 THEN
        -- A released task waits for one dependency fewer: the last one queues it.
        WITH r AS (
            UPDATE tasks
               SET waiting_on = GREATEST(waiting_on - 1, 0),
                   status = CASE WHEN waiting_on <= 1 AND status = 'pending'
                                 THEN 'queued' ELSE status END,
                   available_at = CASE WHEN waiting_on <= 1 AND status = 'pending'
                                       THEN now() ELSE available_at END,
                   updated_at = CASE WHEN waiting_on <= 1 AND status = 'pending'
                                     THEN now() ELSE updated_at END,
                   version = CASE WHEN waiting_on <= 1 AND status = 'pending'
                                  THEN version + 1 ELSE version END
             WHERE id = ANY (p_release)
            RETURNING status)
        SELECT count(*) FILTER (WHERE r.status = 'queued') INTO released FROM r;
        IF released > 0 THEN
            PERFORM pg_notify('baton_work', '');
        END IF;
    END IF;

    IF p_claim_task IS NOT NULL THEN
        -- Read after the releases: the claim sees its dependents' counts as this step leaves
        -- them (an element claimed here names its parent, which this step may have released).
        next_claim := baton_claim_json(nxt);
    END IF;

    IF p_wf_status = 'task_done' THEN
        -- The output task's row is read only by the step that finishes the workflow (a CASE
        -- evaluates the subquery lazily), after the lock above: every other step of the workflow
        -- has committed, the claimed task's own write is visible.
        UPDATE workflows
           SET unfinished = unfinished - 1,
               current_position = GREATEST(current_position,
                                           coalesce(p_advance_to, current_position)),
               status = CASE WHEN unfinished <= 1 THEN 'completed' ELSE status END,
               output = CASE WHEN unfinished <= 1
                             THEN (SELECT o.output FROM tasks o WHERE o.id = p_output_task)
                             ELSE output END,
               finished_at = CASE WHEN unfinished <= 1 THEN now() ELSE finished_at END,
               updated_at = now(), version = version + 1
         WHERE id = t.workflow_id AND status = 'running'
        RETURNING status, output INTO wf_status, wf_output;
    ELSIF p_wf_status = 'failed' THEN
        UPDATE workflows
           SET status = 'failed', error = p_wf_error, finished_at = now(),
               updated_at = now(), version = version + 1
         WHERE id = t.workflow_id AND status = 'running';
        IF FOUND THEN
            wf_failed := true;
            -- Once per workflow: its other attempts are refused, its queued tasks not run
            -- (elements included: they are rows of the workflow too).
            UPDATE tasks
               SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL,
                   finished_at = now(), updated_at = now(), version = version + 1
             WHERE workflow_id = t.workflow_id AND status IN ('queued', 'running');
            GET DIAGNOSTICS cancelled = ROW_COUNT;
            IF cancelled > 0 THEN
                PERFORM pg_notify('baton_cancel', t.workflow_id::text);
            END IF;
        END IF;
    END IF;

    INSERT INTO events (workflow_id, task_id, attempt, type, data)
    SELECT t.workflow_id, (e->>'task_id')::uuid, (e->>'attempt')::integer, e->>'type',
           CASE WHEN (e->>'retry_at')::boolean
                THEN jsonb_set(e->'data', '{retry_at}', to_jsonb(t.available_at))
                ELSE e->'data' END
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, n)
     ORDER BY n;

    IF wf_status = 'completed' THEN
        INSERT INTO events (workflow_id, task_id, attempt, type, data)
        VALUES (t.workflow_id, NULL, NULL, 'workflow.completed',
                jsonb_build_object('output', wf_output));
    END IF;

    -- Last, once everything of this workflow is written: the step that ends a child workflow
    -- releases its parent's waiting task, locking the parent's row (upward: see above).
    IF p_parent_task IS NOT NULL AND (wf_status = 'completed' OR wf_failed) THEN
        PERFORM baton_release_parent(t.workflow_id, p_parent_task);
    END IF;

    IF p_then_token IS NOT NULL THEN
        next_claim := baton_claim(p_worker, ARRAY[p_then_token], p_lease_ms) -> 0;
    END IF;
    RETURN jsonb_build_object('outcome', 'applied', 'next', next_claim);
END
$$;

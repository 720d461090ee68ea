-- Fan-out (see baton-domain's StepCommit::expanded): a task with for_each runs once per element
-- of the array its template renders to. Each element is a row of tasks of its own (an
-- *element*: parent_task_id, element_index and item set), claimed, leased, retried, fenced and
-- reaped like any task, at its parent's position. Its parent waits (pending, waiting_on = its
-- element count) and joins their outputs when the last one releases it. Elements are not the
-- workflow's tasks: the workflow's reads take parent_task_id IS NULL.

ALTER TABLE tasks
    ADD COLUMN for_each       text,
    ADD COLUMN max_parallel   integer CHECK (max_parallel >= 1),
    ADD COLUMN parent_task_id uuid REFERENCES tasks (id) ON DELETE CASCADE,
    ADD COLUMN element_index  integer CHECK (element_index >= 0),
    ADD COLUMN item           jsonb,
    ADD COLUMN elements       integer CHECK (elements >= 0),
    ADD CONSTRAINT tasks_element_check CHECK ((parent_task_id IS NULL) = (element_index IS NULL));

-- Elements share their parent's position: positions are unique among the workflow's tasks
-- only. Still deferred (edits shift neighbours in one statement); its partial index serves the
-- workflow's reads of its tasks by position. Lookups of every row of a workflow (cancel, the
-- cascade of a delete) use tasks_workflow_key_key's index, which covers elements too.
ALTER TABLE tasks DROP CONSTRAINT tasks_workflow_position_key;
ALTER TABLE tasks ADD CONSTRAINT tasks_workflow_position_key
    EXCLUDE USING btree (workflow_id WITH =, position WITH =) WHERE (parent_task_id IS NULL)
    DEFERRABLE INITIALLY DEFERRED;

-- A parent's elements by index (element_results, the cascade of a parent's delete).
CREATE UNIQUE INDEX tasks_parent_element_key ON tasks (parent_task_id, element_index)
    WHERE parent_task_id IS NOT NULL;
-- A workflow's failed and cancelled elements (those a retry runs again: Workflow's
-- elements_to_retry), read with the workflow. Usually none: the index stays small, and the
-- read touches no other element (queries repeat this predicate literally, so that it holds
-- for a prepared statement's generic plan too).
CREATE INDEX tasks_elements_to_retry_idx ON tasks (workflow_id, position, element_index)
    WHERE parent_task_id IS NOT NULL AND status IN ('failed', 'cancelled');

-- A claimed task as the executor reads it (the row, with the new columns, its workflow's name,
-- input and output task, and the tasks it releases by position, a parent before its elements).
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
                                             'output_task', w.output_task, 'dependents', deps)
      INTO claim
      FROM workflows w WHERE w.id = t.workflow_id;
    RETURN claim;
END
$$;

-- The claim of the task-graph migration (its lock order is kept: see there), whose task.started
-- names the element's index when the claimed task is an element.
CREATE OR REPLACE FUNCTION baton_claim(p_worker text, p_tokens text[], p_lease_ms double precision)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    claimed jsonb := '[]'::jsonb;
    t tasks%ROWTYPE;
BEGIN
    FOR t IN
        -- The workflow row is locked before the task row (the order of OF), in the scan: the
        -- whole batch's workflows are held before its first event is inserted.
        WITH picked AS (
            SELECT s.id, row_number() OVER () AS n
              FROM (SELECT q.id FROM tasks q JOIN workflows w ON w.id = q.workflow_id
                     WHERE q.status = 'queued' AND q.available_at <= now()
                     ORDER BY q.available_at
                     LIMIT cardinality(p_tokens)
                     FOR NO KEY UPDATE OF w, q SKIP LOCKED) s)
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
                CASE WHEN t.element_index IS NULL
                     THEN jsonb_build_object('task_id', t.id, 'attempt', t.attempt,
                                             'worker', p_worker)
                     ELSE jsonb_build_object('task_id', t.id, 'attempt', t.attempt,
                                             'worker', p_worker, 'index', t.element_index)
                END);
        claimed := claimed || jsonb_build_array(baton_claim_json(t));
    END LOOP;
    RETURN claimed;
END
$$;

DROP FUNCTION baton_apply_step(uuid, uuid, text, boolean, text, jsonb, jsonb, double precision,
                               jsonb, uuid, text, jsonb, uuid[], uuid, text, double precision,
                               uuid[], text, uuid, integer, jsonb, jsonb, text, text);

-- Applies a decided step (see StepCommit in baton-domain) in one statement, as the task-graph
-- migration's did (the workflow row locked first, then in order: the fenced write, the
-- document, p_queue, p_claim_task, p_release, the workflow, the events, p_then_token), and:
--  1. p_status 'pending' (TaskOutcome::Expand) makes the claimed task wait for the p_elements
--     (an array of {id, index, item, dependents, waiting_on}): waiting_on and elements become
--     their count, its lease is cleared; then
--  1b. the elements are inserted, in one statement, copying their parent's workflow, owner,
--     position, type, input, retry policy, time limit, depends_on and title: those waiting for
--     nothing queued now (notifying baton_work), the others pending;
--  4b. the claim of p_claim_task is read after the releases (step 5), so that the counts of
--     its dependents are those this step leaves.
-- Answers {"outcome": "applied", "next": claim|null}, or {"outcome": "lost"}.
CREATE FUNCTION baton_apply_step(
    p_workflow uuid, p_task uuid, p_token text, p_expired_only boolean,
    p_status text, p_output jsonb, p_error jsonb, p_retry_ms double precision, p_resolved jsonb,
    p_elements jsonb,
    p_doc_id uuid, p_doc_collection text, p_doc_data jsonb,
    p_queue uuid[], p_claim_task uuid, p_claim_token text, p_lease_ms double precision,
    p_release uuid[],
    p_wf_status text, p_output_task uuid, p_advance_to integer, p_wf_error jsonb,
    p_events jsonb, p_then_token text, p_worker text
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
               lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
               version = version + 1
         WHERE id = p_task AND lease_owner = p_token AND status = 'running'
           AND (NOT p_expired_only OR lease_expires_at < now())
        RETURNING * INTO t;
    ELSIF p_status = 'pending' THEN
        UPDATE tasks
           SET status = 'pending', waiting_on = jsonb_array_length(p_elements),
               elements = jsonb_array_length(p_elements), resolved_input = p_resolved,
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
    IF t.workflow_id <> p_workflow THEN
        RAISE EXCEPTION 'baton: task % is not of workflow %', p_task, p_workflow;
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

    IF p_then_token IS NOT NULL THEN
        next_claim := baton_claim(p_worker, ARRAY[p_then_token], p_lease_ms) -> 0;
    END IF;
    RETURN jsonb_build_object('outcome', 'applied', 'next', next_claim);
END
$$;

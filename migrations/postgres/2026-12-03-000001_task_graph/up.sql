-- Tasks form a dependency graph (see baton-domain's graph.rs). A task lists the keys of the tasks
-- it needs (depends_on) and may carry a condition (run_if, the task's `when` template). From the
-- start of a run, each task knows the tasks it releases (dependents) and how many of its own
-- dependencies are unfinished (waiting_on); the workflow counts its unfinished tasks and knows
-- whose output becomes its own. Which task runs next stays decided in Rust (StepCommit): these
-- functions only persist it.

ALTER TABLE tasks
    ADD COLUMN depends_on jsonb,
    ADD COLUMN run_if     text,
    ADD COLUMN dependents uuid[]  NOT NULL DEFAULT '{}',
    ADD COLUMN waiting_on integer NOT NULL DEFAULT 0;

ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
    CHECK (status IN ('pending', 'queued', 'running', 'completed', 'skipped', 'failed', 'cancelled'));

ALTER TABLE workflows
    ADD COLUMN unfinished  integer NOT NULL DEFAULT 0,
    ADD COLUMN output_task uuid;

-- Workflows started before this migration ran their tasks in order, each needing the one
-- before: wire them so (each releases the next, and waits for the one before unless it is
-- done), counting their unfinished tasks, with the last task's output as the workflow's.
-- Pending workflows are wired when they start.
UPDATE tasks t
   SET dependents = coalesce((SELECT ARRAY[n.id] FROM tasks n
                               WHERE n.workflow_id = t.workflow_id AND n.position = t.position + 1),
                             '{}'),
       waiting_on = CASE WHEN EXISTS (SELECT 1 FROM tasks p
                                       WHERE p.workflow_id = t.workflow_id
                                         AND p.position = t.position - 1
                                         AND p.status <> 'completed')
                         THEN 1 ELSE 0 END
  FROM workflows w
 WHERE w.id = t.workflow_id AND w.status IN ('running', 'failed');

UPDATE workflows w
   SET unfinished = (SELECT count(*) FROM tasks t
                      WHERE t.workflow_id = w.id AND t.status <> 'completed'),
       output_task = (SELECT t.id FROM tasks t WHERE t.workflow_id = w.id
                       ORDER BY t.position DESC LIMIT 1)
 WHERE w.status IN ('running', 'failed');

-- A claimed task as the executor reads it: the row, its workflow's name, input and output task,
-- and the tasks it releases (id, position, attempts and how many dependencies they still wait
-- for) by position. PL/pgSQL so that its plans are cached per connection.
CREATE OR REPLACE FUNCTION baton_claim_json(t tasks) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    deps jsonb := '[]'::jsonb;
    claim jsonb;
BEGIN
    IF cardinality(t.dependents) > 0 THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('id', n.id, 'position', n.position,
                                                     'attempt', n.attempt,
                                                     'waiting_on', n.waiting_on)
                                  ORDER BY n.position), '[]'::jsonb)
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

-- The event log commits each workflow's events in id order. Ids come from a sequence when a row
-- is inserted, so two transactions appending events of one workflow could commit out of id
-- order, and a reader following a cursor (the SSE stream: events_after its last id) would skip
-- the one that commits second with the smaller id. So every transaction that appends events of
-- a workflow holds that workflow's row lock (FOR NO KEY UPDATE: FK checks of inserts are not
-- blocked) from before it allocates their ids until it commits: the appenders of one workflow
-- commit one after the other, each with ids above all those committed before it.
--
-- Lock order, so that they cannot deadlock: a workflow row before any of its task rows, and
-- never a wait for a second workflow row while holding one.
--  * a step (baton_apply_step) locks its workflow first, waiting if need be, then its tasks;
--  * a claim (baton_claim, also a step's then_claim) never waits: it locks each candidate's
--    workflow row, then the task row, both SKIP LOCKED, so tasks of a workflow locked by
--    another transaction stay queued for the next claim (a workflow already held by the
--    transaction, a step's own, is locked again at once);
--  * a held event (baton_append_held) locks its workflow (waiting; it holds nothing else), then
--    shares its task row;
--  * transitions (start, cancel, retry) update the workflow row first, then its tasks.
-- Task-only writes (heartbeat, release) append no events and wait for nothing else.

-- Claims up to cardinality(p_tokens) queued tasks whose time has come (oldest first), one token
-- each, appending task.started for each (the claim contract of the TaskQueue port), skipping
-- tasks whose row or whose workflow's row another transaction has locked.
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
                jsonb_build_object('task_id', t.id, 'attempt', t.attempt, 'worker', p_worker));
        claimed := claimed || jsonb_build_array(baton_claim_json(t));
    END LOOP;
    RETURN claimed;
END
$$;

-- Appends an event of a running attempt (a delta of its streamed text) while p_token holds the
-- task's lease. The workflow row is locked first (see above); the lease is then checked again
-- under it (a new snapshot per statement): a step or cancel that ended the attempt has
-- committed, and the event is refused. The task row is shared until the commit, so that a
-- release waits for the event. Answers whether the event was appended.
CREATE FUNCTION baton_append_held(p_task uuid, p_token text, p_attempt integer, p_type text,
                                  p_data jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    wf uuid;
BEGIN
    SELECT workflow_id INTO wf FROM tasks
     WHERE id = p_task AND lease_owner = p_token AND status = 'running';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM 1 FROM workflows WHERE id = wf FOR NO KEY UPDATE;
    INSERT INTO events (workflow_id, task_id, attempt, type, data)
    SELECT held.workflow_id, held.id, p_attempt, p_type, p_data
      FROM (SELECT workflow_id, id FROM tasks
             WHERE id = p_task AND lease_owner = p_token AND status = 'running'
               FOR SHARE) AS held;
    RETURN FOUND;
END
$$;

DROP FUNCTION baton_apply_step(uuid, text, boolean, text, jsonb, jsonb, double precision, jsonb,
                               uuid, text, jsonb, uuid[], uuid, text, double precision, text,
                               integer, jsonb, jsonb, text, text);

-- Applies a decided step (see StepCommit in baton-domain) in one statement:
--  0. the workflow's row (p_workflow, the claimed task's) is locked first, always, as a cancel
--     or a retry locks it before its tasks: steps of one workflow apply one after the other,
--     see each other's writes, and commit their events in id order (see above);
--  1. the claimed task takes p_status ('completed' | 'skipped' | 'queued' | 'failed'), only
--     while p_token holds its lease (and, with p_expired_only, only once that lease has
--     expired); otherwise nothing at all is applied and the answer is {"outcome": "lost"};
--  2. the document, at most once per task;
--  3. the p_queue tasks become queued (notifying baton_work);
--  4. p_claim_task becomes running under p_claim_token;
--  5. each p_release task waits for one dependency fewer, and becomes queued when it waits for
--     none (notifying baton_work when one did);
--  6. the workflow: with p_wf_status 'task_done', one task fewer is unfinished, its current
--     position becomes at least p_advance_to, and when no task is left unfinished it is
--     completed with p_output_task's output; with 'failed', it fails with p_wf_error and its
--     other queued and running tasks are cancelled (pending ones stay pending); NULL: no change;
--  7. p_events (an array of {task_id, attempt, type, data, retry_at}) are appended in order, a
--     retry's database time filled into the data of those marked retry_at; then, when step 6
--     completed the workflow, workflow.completed with its output;
--  8. with p_then_token, one queued task of any workflow is claimed under it (baton_claim: only
--     of a workflow this step holds or can lock at once, so it never waits holding this one).
-- Answers {"outcome": "applied", "next": claim|null}.
CREATE FUNCTION baton_apply_step(
    p_workflow uuid, p_task uuid, p_token text, p_expired_only boolean,
    p_status text, p_output jsonb, p_error jsonb, p_retry_ms double precision, p_resolved jsonb,
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
            -- Once per workflow: its other attempts are refused, its queued tasks not run.
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

-- Batched completion: the steps one instance decided at about the same time, applied in one
-- statement and one commit. Each is `baton_apply_step` with its own arguments (named keys of
-- one JSON object; an absent key is NULL), fenced by its own token: a step whose lease was
-- lost answers 'lost' and changes nothing, the others apply. The caller orders the steps by
-- workflow id, so two batches lock their workflows' rows in one order. Should one step raise,
-- the whole statement is rolled back and the caller applies each step alone.
CREATE FUNCTION baton_apply_steps(p_steps jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    s jsonb;
    answers jsonb := '[]'::jsonb;
BEGIN
    FOR s IN SELECT value FROM jsonb_array_elements(p_steps) LOOP
        answers := answers || jsonb_build_array(baton_apply_step(
            (s->>'workflow')::uuid, (s->>'task')::uuid, s->>'token',
            (s->>'expired_only')::boolean,
            s->>'status', s->'output', s->'error', (s->>'retry_ms')::double precision,
            s->'resolved',
            s->'elements', (s->>'child')::uuid,
            (s->>'doc_id')::uuid, s->>'doc_collection', s->'doc_data',
            ARRAY(SELECT jsonb_array_elements_text(s->'queue')::uuid),
            (s->>'claim_task')::uuid, s->>'claim_token', (s->>'lease_ms')::double precision,
            ARRAY(SELECT jsonb_array_elements_text(s->'release')::uuid),
            s->>'wf_status', (s->>'output_task')::uuid, (s->>'advance_to')::integer,
            s->'wf_error',
            (s->>'parent_task')::uuid,
            s->'events', s->>'then_token', s->>'worker',
            (s->>'until')::timestamptz, s->>'signal', (s->>'consume')::uuid));
    END LOOP;
    RETURN answers;
END
$$;

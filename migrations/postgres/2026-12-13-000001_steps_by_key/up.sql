-- The step's and the claim's statements read and write tasks by key, whatever the size of the
-- table when they were planned.
--
-- PL/pgSQL keeps a generic plan of each statement for the life of the connection, made after a
-- few calls and replaced only when the table's statistics change. On a new database (the first
-- minutes of a deployment, every benchmark, every test) the tasks table is nearly empty when
-- that happens, and `id = ANY (<an array parameter>)` — the claimed task's dependents, the
-- tasks a step queues or releases — is planned as a sequential scan, which the connection then
-- keeps while the table grows: measured, one scan of the whole table per step of a sequential
-- workflow (13 million rows read for 5,000 steps) until autovacuum's first ANALYZE. Every
-- statement of these functions has an index that answers it (checked with EXPLAIN: the primary
-- key, tasks_claim_idx, the workflow's unique keys), so a sequential scan is never the plan
-- wanted. Setting enable_seqscan for the call costs about half a microsecond.
ALTER FUNCTION baton_apply_step(uuid, uuid, text, boolean, text, jsonb, jsonb, double precision,
                                jsonb, jsonb, uuid, uuid, text, jsonb, uuid[], uuid, text,
                                double precision, uuid[], text, uuid, integer, jsonb, uuid, jsonb,
                                text, text, timestamptz, text, uuid)
    SET enable_seqscan = off;
ALTER FUNCTION baton_claim(text, text[], double precision) SET enable_seqscan = off;
ALTER FUNCTION baton_claim_json(tasks) SET enable_seqscan = off;

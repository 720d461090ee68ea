ALTER FUNCTION baton_apply_step(uuid, uuid, text, boolean, text, jsonb, jsonb, double precision,
                                jsonb, jsonb, uuid, uuid, text, jsonb, uuid[], uuid, text,
                                double precision, uuid[], text, uuid, integer, jsonb, uuid, jsonb,
                                text, text, timestamptz, text, uuid)
    RESET enable_seqscan;
ALTER FUNCTION baton_claim(text, text[], double precision) RESET enable_seqscan;
ALTER FUNCTION baton_claim_json(tasks) RESET enable_seqscan;

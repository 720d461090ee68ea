DROP FUNCTION baton_complete(uuid, text, jsonb, jsonb, uuid, text, jsonb, text, double precision);
DROP FUNCTION baton_claim(text, double precision, integer);
DROP FUNCTION baton_claim_json(tasks);

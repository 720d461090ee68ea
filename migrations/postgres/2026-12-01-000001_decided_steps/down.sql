DROP FUNCTION IF EXISTS baton_apply_step(uuid, text, boolean, text, jsonb, jsonb, double precision, jsonb, uuid, text, jsonb, uuid[], uuid, text, double precision, text, integer, jsonb, jsonb, text, text);
DROP FUNCTION IF EXISTS baton_claim(text, text[], double precision);

DROP FUNCTION baton_apply_steps(jsonb);

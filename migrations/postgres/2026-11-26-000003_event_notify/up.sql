-- Every committed event notifies 'baton_events' with its workflow id, so each Baton instance
-- can push new events to its SSE clients without polling. A row trigger: no transition table,
-- and Postgres folds a transaction's identical notifications into one.
CREATE FUNCTION baton_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('baton_events', NEW.workflow_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION baton_notify_event();

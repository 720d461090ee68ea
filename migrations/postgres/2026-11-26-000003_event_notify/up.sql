-- Every committed batch of events notifies 'baton_events' once per workflow (payload: its id),
-- so each Baton instance can push new events to its SSE clients without polling.
CREATE FUNCTION baton_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    workflow uuid;
BEGIN
    FOR workflow IN SELECT DISTINCT workflow_id FROM new_events LOOP
        PERFORM pg_notify('baton_events', workflow::text);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION baton_notify_events();

DROP TRIGGER events_notify ON events;
DROP FUNCTION baton_notify_event();

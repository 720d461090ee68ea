DROP INDEX workflows_schedule_tick_key;
ALTER TABLE workflows DROP COLUMN scheduled_at, DROP COLUMN schedule_id;
DROP TABLE schedules;

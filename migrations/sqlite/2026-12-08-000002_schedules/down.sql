DROP INDEX workflows_schedule_tick_key;
ALTER TABLE workflows DROP COLUMN scheduled_at;
ALTER TABLE workflows DROP COLUMN schedule_id;
DROP TABLE schedules;

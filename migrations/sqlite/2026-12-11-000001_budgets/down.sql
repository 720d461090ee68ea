DROP TABLE llm_reservations;
ALTER TABLE workflows DROP COLUMN paused;
ALTER TABLE workflows DROP COLUMN budget;

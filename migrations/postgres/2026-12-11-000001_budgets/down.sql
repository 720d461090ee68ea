DROP TABLE llm_reservations;
ALTER TABLE workflows DROP COLUMN budget, DROP COLUMN paused;

-- Back to tasks without fan-out. Elements cannot be kept (they share their parent's position),
-- so they go, their events kept in the workflow's history as events of their parent. A document
-- an element wrote cannot be kept (one document per task): with any, this migration refuses
-- to run, before changing anything (delete those workflows first).
CREATE TEMP TABLE baton_no_element_documents (
    element_documents INTEGER NOT NULL CHECK (element_documents = 0)
) STRICT;
INSERT INTO baton_no_element_documents
SELECT count(*) FROM documents AS d JOIN tasks AS t ON t.id = d.task_id
 WHERE t.parent_task_id IS NOT NULL;
DROP TABLE baton_no_element_documents;

UPDATE events
   SET task_id = (SELECT t.parent_task_id FROM tasks AS t WHERE t.id = events.task_id)
 WHERE task_id IN (SELECT id FROM tasks WHERE parent_task_id IS NOT NULL);
DELETE FROM tasks WHERE parent_task_id IS NOT NULL;

-- A task waiting for its elements runs again as a task of its own, as it did before: queued
-- now in a running workflow, cancelled in a failed one (so that a retry queues it).
UPDATE tasks
   SET status = CASE WHEN (SELECT w.status FROM workflows AS w WHERE w.id = tasks.workflow_id)
                          = 'running'
                     THEN 'queued' ELSE 'cancelled' END,
       finished_at = CASE WHEN (SELECT w.status FROM workflows AS w
                                 WHERE w.id = tasks.workflow_id) = 'running'
                          THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END,
       waiting_on = 0,
       available_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       version = version + 1
 WHERE elements IS NOT NULL AND status = 'pending';

DROP INDEX tasks_workflow_element_status_idx;
DROP INDEX tasks_parent_element_key;
DROP INDEX tasks_workflow_position_key;
CREATE UNIQUE INDEX tasks_workflow_position_key ON tasks (workflow_id, position);

ALTER TABLE tasks DROP COLUMN elements;
ALTER TABLE tasks DROP COLUMN item;
ALTER TABLE tasks DROP COLUMN element_index;
ALTER TABLE tasks DROP COLUMN parent_task_id;
ALTER TABLE tasks DROP COLUMN max_parallel;
ALTER TABLE tasks DROP COLUMN for_each;

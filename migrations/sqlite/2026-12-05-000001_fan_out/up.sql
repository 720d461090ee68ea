-- Fan-out (`for_each`, see `StepCommit::expanded` in baton-domain): a task with `for_each` runs
-- once per element of the array its template renders to, each element a row of tasks of its own
-- (claimed, leased, retried and fenced like any task), the task itself (the parent) waiting for
-- them, then joining their outputs:
--  * `for_each` (the template, as written) and `max_parallel` (at most this many elements at a
--    time), on any task;
--  * on an element: `parent_task_id` (its parent, deleted with it), `element_index` and `item`
--    (the element of the array, as JSON);
--  * on a parent: `elements` (how many elements it fanned out to, NULL until it has).
--
-- Columns are added in place (no rebuild): SQLite allows ADD COLUMN with a REFERENCES clause
-- when its default is NULL. Elements share their parent's position, so the unique position of
-- a workflow's task becomes the unique position of a task that is not an element (a partial
-- index: every read of a workflow's tasks by position names `parent_task_id IS NULL`).
ALTER TABLE tasks ADD COLUMN for_each TEXT;
ALTER TABLE tasks ADD COLUMN max_parallel INTEGER;
ALTER TABLE tasks ADD COLUMN parent_task_id TEXT REFERENCES tasks (id) ON DELETE CASCADE;
ALTER TABLE tasks ADD COLUMN element_index INTEGER;
ALTER TABLE tasks ADD COLUMN item TEXT;
ALTER TABLE tasks ADD COLUMN elements INTEGER;

DROP INDEX tasks_workflow_position_key;
CREATE UNIQUE INDEX tasks_workflow_position_key ON tasks (workflow_id, position)
    WHERE parent_task_id IS NULL;
-- The elements of a parent by index, one per index (also serves the cascade from the parent).
CREATE UNIQUE INDEX tasks_parent_element_key ON tasks (parent_task_id, element_index)
    WHERE parent_task_id IS NOT NULL;
-- A workflow's elements by status: those a retry runs again (failed or cancelled).
CREATE INDEX tasks_workflow_element_status_idx ON tasks (workflow_id, status)
    WHERE parent_task_id IS NOT NULL;

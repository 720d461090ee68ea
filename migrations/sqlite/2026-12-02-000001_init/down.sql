DROP TABLE documents;
DROP TABLE events;
DROP TABLE tasks;
DROP TABLE workflows;

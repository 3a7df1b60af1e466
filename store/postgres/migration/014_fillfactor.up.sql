-- AIFlow for Go, schema version 14: room on each page of the tables whose
-- rows are rewritten many times, so that those updates stay on their page
-- and leave the indexes alone (heap-only tuples). A task execution is
-- updated at its start and at its end (and more when retried); a snapshot
-- is rewritten by every unit of work that changes its execution. Packed
-- full, their pages had no room for the new version of a row: each update
-- moved it to another page and added an entry to every index. Existing
-- pages keep their rows; the setting applies as pages are filled.

ALTER TABLE {schema}.aiflow_task_execution SET (fillfactor = 70);
ALTER TABLE {schema}.aiflow_snapshot SET (fillfactor = 70);

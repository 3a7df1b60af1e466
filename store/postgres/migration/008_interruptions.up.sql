-- AIFlow for Go, schema version 8: the interruptions of a task execution by
-- the loss of its worker (the process running an attempt died, or was cut
-- off or paused past its lease). They are not failures: an interrupted
-- attempt runs again, up to max_interruptions times (the client's
-- Config.MaxInterruptions when it created the task execution); one more
-- interruption fails the task execution. Existing rows get the default
-- limit, 3.

ALTER TABLE {schema}.aiflow_task_execution
    ADD COLUMN interruptions     integer NOT NULL DEFAULT 0,
    ADD COLUMN max_interruptions integer NOT NULL DEFAULT 3;

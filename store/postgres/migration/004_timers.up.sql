-- AIFlow for Go, schema version 4: schedule resumes and the pruning of timer
-- firings.

-- When a schedule was last resumed. Ticks at or before it that have not
-- fired never fire, so that ticks missed while the schedule was paused are
-- not caught up.
ALTER TABLE {schema}.aiflow_schedule ADD COLUMN resumed_at timestamptz;

-- The leader prunes old firings (PruneFirings), walking them oldest first.
CREATE INDEX aiflow_timer_fire_fired_at ON {schema}.aiflow_timer_fire (fired_at, key, at);

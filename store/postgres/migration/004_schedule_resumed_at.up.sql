-- AIFlow for Go, schema version 4: when a schedule was last resumed. Ticks
-- at or before it that have not fired never fire, so that ticks missed while
-- the schedule was paused are not caught up.

ALTER TABLE {schema}.aiflow_schedule ADD COLUMN resumed_at timestamptz;

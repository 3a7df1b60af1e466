-- AIFlow for Go, schema version 10: a workflow execution's input, given when
-- it is started (StartWorkflowOpts.Input); empty for executions started by
-- schedules and triggers.

ALTER TABLE {schema}.aiflow_workflow_execution ADD COLUMN input text NOT NULL DEFAULT '';

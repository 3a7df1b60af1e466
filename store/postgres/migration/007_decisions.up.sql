-- AIFlow for Go, schema version 7: the engine's decisions about tasks (why a
-- task execution started, and the outcome of the latest evaluations of each
-- rule), written with the unit of work that made them. Start decisions
-- (kept) stay for the life of the execution; of the others the store keeps
-- the latest few per (execution, task, rule). Deleted with the execution.

CREATE TABLE {schema}.aiflow_decision (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id      bigint      NOT NULL,
    task              text        NOT NULL,
    rule              integer     NOT NULL,
    event_id          bigint      NOT NULL,
    event_key         text        NOT NULL,
    time              timestamptz NOT NULL,
    outcome           text        NOT NULL,
    reason            text        NOT NULL DEFAULT '',
    task_execution_id bigint      NOT NULL DEFAULT 0,
    seq_num           integer     NOT NULL DEFAULT 0,
    kept              boolean     NOT NULL
);
CREATE INDEX aiflow_decision_execution ON {schema}.aiflow_decision (execution_id, task, id);
CREATE INDEX aiflow_decision_bounded ON {schema}.aiflow_decision (execution_id, task, rule, id) WHERE NOT kept;

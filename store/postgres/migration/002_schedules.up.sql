-- AIFlow for Go, schema version 2: workflow schedules, timer firings and
-- workflow triggers.

CREATE TABLE {schema}.aiflow_schedule (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace    text        NOT NULL,
    workflow     text        NOT NULL,
    expression   text        NOT NULL,
    time_zone    text        NOT NULL DEFAULT 'UTC',
    paused       boolean     NOT NULL DEFAULT false,
    overlap      text        NOT NULL DEFAULT 'allow',
    catch_up     integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT date_trunc('second', clock_timestamp()),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_fire_at timestamptz,
    FOREIGN KEY (namespace, workflow) REFERENCES {schema}.aiflow_workflow (namespace, name) ON DELETE CASCADE
);
CREATE INDEX aiflow_schedule_workflow ON {schema}.aiflow_schedule (namespace, workflow);

-- One row per fired tick: (timer key, nominal time). Inserted in the
-- transaction that appends the tick's event, so a tick fires once whatever
-- the number of leaders.
CREATE TABLE {schema}.aiflow_timer_fire (
    key      text        NOT NULL,
    at       timestamptz NOT NULL,
    fired_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (key, at)
);

CREATE TABLE {schema}.aiflow_trigger (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace  text        NOT NULL,
    workflow   text        NOT NULL,
    name       text        NOT NULL,
    keys       text[]      NOT NULL,
    paused     boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (namespace, workflow, name),
    FOREIGN KEY (namespace, workflow) REFERENCES {schema}.aiflow_workflow (namespace, name) ON DELETE CASCADE
);

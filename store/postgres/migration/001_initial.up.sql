-- AIFlow for Go, schema version 1: the event log, partitions, metadata,
-- executions, dispatches, task leases, task logs and the leader lease.
-- {schema} is the quoted schema; {partitions} the number of partitions.

CREATE TABLE {schema}.aiflow_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO {schema}.aiflow_meta (key, value) VALUES ('partitions', '{partitions}');

CREATE TABLE {schema}.aiflow_namespace (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO {schema}.aiflow_namespace (name) VALUES ('default');

CREATE TABLE {schema}.aiflow_workflow (
    namespace  text        NOT NULL REFERENCES {schema}.aiflow_namespace (name),
    name       text        NOT NULL,
    version    text        NOT NULL,
    definition bytea,
    enabled    boolean     NOT NULL DEFAULT true,
    partition  integer     NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (namespace, name)
);

CREATE TABLE {schema}.aiflow_workflow_version (
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    namespace  text        NOT NULL,
    workflow   text        NOT NULL,
    version    text        NOT NULL,
    definition bytea,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (namespace, workflow, version),
    FOREIGN KEY (namespace, workflow) REFERENCES {schema}.aiflow_workflow (namespace, name) ON DELETE CASCADE
);

CREATE SEQUENCE {schema}.aiflow_execution_id_seq;
CREATE SEQUENCE {schema}.aiflow_task_execution_id_seq;

CREATE TABLE {schema}.aiflow_workflow_execution (
    id          bigint PRIMARY KEY,
    namespace   text        NOT NULL,
    workflow    text        NOT NULL,
    version     text        NOT NULL DEFAULT '',
    status      text        NOT NULL,
    run_type    text        NOT NULL DEFAULT '',
    note        text        NOT NULL DEFAULT '',
    schedule_id bigint      NOT NULL DEFAULT 0,
    trigger_id  bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    ended_at    timestamptz
);
CREATE INDEX aiflow_workflow_execution_workflow ON {schema}.aiflow_workflow_execution (namespace, workflow, id);
CREATE INDEX aiflow_workflow_execution_alive ON {schema}.aiflow_workflow_execution (namespace, workflow)
    WHERE status IN ('INIT', 'RUNNING');

CREATE TABLE {schema}.aiflow_task_execution (
    id             bigint PRIMARY KEY,
    execution_id   bigint      NOT NULL,
    namespace      text        NOT NULL,
    workflow       text        NOT NULL,
    task           text        NOT NULL,
    seq_num        integer     NOT NULL,
    attempt        integer     NOT NULL DEFAULT 0,
    failures       integer     NOT NULL DEFAULT 0,
    max_attempts   integer     NOT NULL DEFAULT 1,
    status         text        NOT NULL,
    error          text        NOT NULL DEFAULT '',
    note           text        NOT NULL DEFAULT '',
    status_message text        NOT NULL DEFAULT '',
    metrics        jsonb,
    streaming      boolean     NOT NULL DEFAULT false,
    timeout_us     bigint      NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    started_at     timestamptz,
    ended_at       timestamptz
);
CREATE INDEX aiflow_task_execution_execution ON {schema}.aiflow_task_execution (execution_id, id);
CREATE INDEX aiflow_task_execution_task ON {schema}.aiflow_task_execution (namespace, workflow, task, id);

-- The event log. Read by (xid, id) under the horizon
-- xid < pg_snapshot_xmin(pg_current_snapshot()): ids are taken at insert but
-- rows appear at commit, so a cursor on id alone would skip late commits.
-- partition is -1 for user events (every partition reads them).
CREATE TABLE {schema}.aiflow_event (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid               xid8        NOT NULL DEFAULT pg_current_xact_id(),
    time              timestamptz NOT NULL DEFAULT clock_timestamp(),
    partition         integer     NOT NULL DEFAULT -1,
    kind              smallint    NOT NULL DEFAULT 0,
    namespace         text        NOT NULL,
    key               text        NOT NULL,
    value             text        NOT NULL DEFAULT '',
    sender            text        NOT NULL DEFAULT '',
    workflow          text        NOT NULL DEFAULT '',
    execution_id      bigint      NOT NULL DEFAULT 0,
    task_name         text        NOT NULL DEFAULT '',
    task_execution_id bigint      NOT NULL DEFAULT 0,
    seq_num           integer     NOT NULL DEFAULT 0,
    broadcast         boolean     NOT NULL DEFAULT false,
    data              bytea
);
CREATE INDEX aiflow_event_position ON {schema}.aiflow_event (xid, id);
CREATE INDEX aiflow_event_partition_position ON {schema}.aiflow_event (partition, xid, id);

-- One row per partition: the consumer's cursor, its commit counter and the
-- lease of the client consuming it.
CREATE TABLE {schema}.aiflow_partition (
    partition   integer PRIMARY KEY,
    pos_xid     xid8        NOT NULL DEFAULT '0',
    pos_id      bigint      NOT NULL DEFAULT 0,
    version     bigint      NOT NULL DEFAULT 0,
    owner       text        NOT NULL DEFAULT '',
    lease_until timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO {schema}.aiflow_partition (partition) SELECT generate_series(0, {partitions} - 1);

-- Engine state per partition; keys are opaque (they may contain NUL bytes).
CREATE TABLE {schema}.aiflow_snapshot (
    partition integer NOT NULL,
    key       bytea   NOT NULL,
    data      bytea   NOT NULL,
    PRIMARY KEY (partition, key)
);

-- Live clients (partition owners), for the fair share of partitions.
CREATE TABLE {schema}.aiflow_client (
    id         text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

-- One row per dispatched attempt: the dedupe key of dispatches and the
-- attempt's fencing token. state: pending (job inserted), running (RUNNING
-- recorded), done (final status recorded), reaped, cancelled.
CREATE TABLE {schema}.aiflow_dispatch (
    task_execution_id bigint      NOT NULL,
    attempt           integer     NOT NULL,
    job_id            bigint,
    state             text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (task_execution_id, attempt)
);
CREATE INDEX aiflow_dispatch_pending ON {schema}.aiflow_dispatch (created_at) WHERE state = 'pending';
CREATE INDEX aiflow_dispatch_job ON {schema}.aiflow_dispatch (job_id);

-- The lease of a running attempt, renewed by its worker's heartbeats.
CREATE TABLE {schema}.aiflow_task_lease (
    task_execution_id bigint PRIMARY KEY,
    attempt           integer     NOT NULL,
    owner             text        NOT NULL,
    expires_at        timestamptz NOT NULL
);
CREATE INDEX aiflow_task_lease_expires ON {schema}.aiflow_task_lease (expires_at);

CREATE TABLE {schema}.aiflow_task_log (
    task_execution_id bigint NOT NULL,
    start_offset      bigint NOT NULL,
    data              bytea  NOT NULL,
    PRIMARY KEY (task_execution_id, start_offset)
);
CREATE TABLE {schema}.aiflow_task_log_size (
    task_execution_id bigint PRIMARY KEY,
    size              bigint NOT NULL
);

-- Leader leases (internal/leader), one row per role.
CREATE TABLE {schema}.aiflow_leader (
    name       text PRIMARY KEY,
    leader_id  text        NOT NULL,
    elected_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

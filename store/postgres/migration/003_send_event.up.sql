-- AIFlow for Go, schema version 3: {schema}.send_event, sending a user event
-- from any Postgres client, inside the caller's transaction.
-- {schema} is the quoted schema; {channel} the quoted literal of its NOTIFY
-- channel.
--
-- It writes the row that AppendEvents writes for a user event (partition -1,
-- kind 0 = user, the transaction's xid8 by the column's default) after the
-- checks of store.ValidateEvent, and sends the same NOTIFY wake-up; both take
-- effect if and only if the caller's transaction commits. It returns the
-- event's position, "XID-ID" (what the command line's --begin-position reads).
--
-- Context, as a task's own TaskContext.SendEvent sets it: task_execution_id
-- (the environment variable AIFLOW_TASK_EXECUTION_ID of a task's process)
-- gives the workflow, execution, task and sequence number, read from the task
-- execution; execution_id alone gives the workflow and execution. An event
-- with an execution reaches only that execution (and the namespace's
-- triggers), unless to_namespace; one without reaches every running execution
-- of the namespace whose rules expect the key. The sender defaults to
-- "<execution>_<task>_<seq>" for a task execution, else "aiflow.sql".
--
-- Errors: SQLSTATE 22023 (invalid_parameter_value) for a malformed argument,
-- 54000 (program_limit_exceeded) for a value over 64 KiB, P0002
-- (no_data_found) for a namespace, execution or task execution that does not
-- exist; each message starts with "aiflow: send_event:".

CREATE FUNCTION {schema}.send_event(
    namespace         text,
    key               text,
    value             text    DEFAULT '',
    sender            text    DEFAULT NULL,
    execution_id      bigint  DEFAULT NULL,
    task_execution_id bigint  DEFAULT NULL,
    to_namespace      boolean DEFAULT false
) RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_value     text    := coalesce(send_event.value, '');
    v_sender    text    := send_event.sender;
    v_workflow  text    := '';
    v_exec      bigint  := coalesce(send_event.execution_id, 0);
    v_task      text    := '';
    v_te        bigint  := coalesce(send_event.task_execution_id, 0);
    v_seq       integer := 0;
    v_ns        text;
    v_id        bigint;
    v_xid       xid8;
BEGIN
    IF send_event.namespace IS NULL OR send_event.namespace = '' THEN
        RAISE EXCEPTION 'aiflow: send_event: event namespace is empty: expected the name of an existing namespace, such as "default"'
            USING ERRCODE = '22023';
    END IF;
    IF send_event.key IS NULL OR send_event.key = '' THEN
        RAISE EXCEPTION 'aiflow: send_event: event key is empty in namespace "%": expected a non-empty key', send_event.namespace
            USING ERRCODE = '22023';
    END IF;
    IF octet_length(send_event.key) > 512 THEN
        RAISE EXCEPTION 'aiflow: send_event: event key "%..." is % bytes: expected at most 512',
            left(send_event.key, 40), octet_length(send_event.key) USING ERRCODE = '22023';
    END IF;
    IF left(send_event.key, 7) = 'aiflow.' THEN
        RAISE EXCEPTION 'aiflow: send_event: event key "%": keys starting with "aiflow." are reserved for the library', send_event.key
            USING ERRCODE = '22023';
    END IF;
    IF octet_length(v_value) > 65536 THEN
        RAISE EXCEPTION 'aiflow: send_event: event "%": value is % bytes: expected at most 65536 (64 KiB); store large payloads elsewhere and send a reference',
            send_event.key, octet_length(v_value) USING ERRCODE = '54000';
    END IF;
    IF octet_length(v_sender) > 512 THEN
        RAISE EXCEPTION 'aiflow: send_event: event sender is % bytes: expected at most 512', octet_length(v_sender)
            USING ERRCODE = '22023';
    END IF;
    IF getdatabaseencoding() = 'SQL_ASCII' THEN
        -- Text is checked by the server in every other encoding.
        PERFORM convert_from(convert_to(send_event.key || v_value || coalesce(v_sender, ''), 'SQL_ASCII'), 'UTF8');
    END IF;

    PERFORM 1 FROM {schema}.aiflow_namespace n WHERE n.name = send_event.namespace;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aiflow: send_event: namespace not found: "%": add it first (aiflow namespace add)', send_event.namespace
            USING ERRCODE = 'P0002';
    END IF;

    IF v_te <> 0 THEN
        SELECT te.namespace, te.workflow, te.execution_id, te.task, te.seq_num
            INTO v_ns, v_workflow, v_exec, v_task, v_seq
            FROM {schema}.aiflow_task_execution te WHERE te.id = v_te;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'aiflow: send_event: task execution not found: id %', v_te USING ERRCODE = 'P0002';
        END IF;
        IF v_ns <> send_event.namespace THEN
            RAISE EXCEPTION 'aiflow: send_event: task execution % is in namespace "%", not "%"', v_te, v_ns, send_event.namespace
                USING ERRCODE = '22023';
        END IF;
        IF coalesce(send_event.execution_id, 0) NOT IN (0, v_exec) THEN
            RAISE EXCEPTION 'aiflow: send_event: task execution % belongs to workflow execution %, not %', v_te, v_exec, send_event.execution_id
                USING ERRCODE = '22023';
        END IF;
        v_sender := coalesce(v_sender, v_exec::text || '_' || v_task || '_' || v_seq::text);
    ELSIF v_exec <> 0 THEN
        SELECT x.namespace, x.workflow INTO v_ns, v_workflow
            FROM {schema}.aiflow_workflow_execution x WHERE x.id = v_exec;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'aiflow: send_event: workflow execution not found: id %', v_exec USING ERRCODE = 'P0002';
        END IF;
        IF v_ns <> send_event.namespace THEN
            RAISE EXCEPTION 'aiflow: send_event: workflow execution % is in namespace "%", not "%"', v_exec, v_ns, send_event.namespace
                USING ERRCODE = '22023';
        END IF;
    END IF;
    v_sender := coalesce(v_sender, 'aiflow.sql');

    INSERT INTO {schema}.aiflow_event AS e
        (partition, kind, namespace, key, value, sender, workflow, execution_id, task_name, task_execution_id, seq_num, broadcast)
    VALUES (-1, 0, send_event.namespace, send_event.key, v_value, v_sender, v_workflow, v_exec, v_task, v_te, v_seq,
        coalesce(send_event.to_namespace, false) AND v_exec <> 0)
    RETURNING e.id, e.xid INTO v_id, v_xid;

    PERFORM pg_notify({channel}, '*');
    RETURN v_xid::text || '-' || v_id::text;
END;
$fn$;

COMMENT ON FUNCTION {schema}.send_event(text, text, text, text, bigint, bigint, boolean) IS
    'AIFlow: appends a user event (namespace, key, value[, sender, execution_id, task_execution_id, to_namespace]) in the caller''s transaction and returns its position "XID-ID".';

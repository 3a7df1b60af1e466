-- AIFlow for Go, schema version 9: trace context. An event keeps the W3C
-- traceparent of the operation that sent it (empty when it was sent outside a
-- trace), and a task execution the traceparent of the event that started it,
-- so that the spans of its attempts join the sender's trace across processes.
-- {schema}.send_event takes it as a new last argument, traceparent (NULL or
-- '' for none; anything else must be a W3C traceparent, SQLSTATE 22023
-- otherwise); calls written for versions 3 and 6 work unchanged. {schema} is
-- the quoted schema; {channel} the quoted literal of its NOTIFY channel.

ALTER TABLE {schema}.aiflow_event ADD COLUMN trace_parent text NOT NULL DEFAULT '';
ALTER TABLE {schema}.aiflow_task_execution ADD COLUMN trace_parent text NOT NULL DEFAULT '';

DROP FUNCTION {schema}.send_event(text, text, text, text, bigint, bigint, boolean, text);

CREATE FUNCTION {schema}.send_event(
    namespace         text,
    key               text,
    value             text    DEFAULT '',
    sender            text    DEFAULT NULL,
    execution_id      bigint  DEFAULT NULL,
    task_execution_id bigint  DEFAULT NULL,
    to_namespace      boolean DEFAULT false,
    idempotency_key   text    DEFAULT NULL,
    traceparent       text    DEFAULT NULL
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
    v_pos       text;
    v_idem      boolean := send_event.idempotency_key IS NOT NULL;
BEGIN
    IF send_event.value IS NULL THEN
        RAISE EXCEPTION 'aiflow: send_event: event value is NULL: expected text (pass '''' for an empty value)'
            USING ERRCODE = '22004';
    END IF;
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
    IF send_event.traceparent IS NOT NULL AND send_event.traceparent <> ''
        AND send_event.traceparent !~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' THEN
        RAISE EXCEPTION 'aiflow: send_event: traceparent "%": expected a W3C traceparent, 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>',
            left(send_event.traceparent, 80) USING ERRCODE = '22023';
    END IF;
    IF getdatabaseencoding() = 'SQL_ASCII' THEN
        -- Text is checked by the server in every other encoding.
        PERFORM convert_from(convert_to(send_event.key || v_value || coalesce(v_sender, '') || coalesce(send_event.idempotency_key, ''), 'SQL_ASCII'), 'UTF8');
    END IF;

    IF send_event.namespace !~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$' OR octet_length(send_event.namespace) > 128 THEN
        RAISE EXCEPTION 'aiflow: send_event: namespace name "%": expected 1 to 128 letters, digits, ''_'', ''-'' or ''.'', starting with a letter or digit',
            left(send_event.namespace, 40) USING ERRCODE = '22023';
    END IF;
    IF v_idem AND (send_event.idempotency_key = '' OR octet_length(send_event.idempotency_key) > 255) THEN
        RAISE EXCEPTION 'aiflow: send_event: idempotency key "%" is % bytes: expected 1 to 255 bytes of text, such as a UUID',
            left(send_event.idempotency_key, 40), octet_length(send_event.idempotency_key) USING ERRCODE = '22023';
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

    IF v_idem THEN
        -- The key first: a concurrent call with the same key waits here for
        -- this transaction, then finds the key recorded.
        INSERT INTO {schema}.aiflow_idempotency_key (namespace, kind, key, result_id)
            VALUES (send_event.namespace, 'send_event', send_event.idempotency_key, 0)
            ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            SELECT k.result_id INTO v_id FROM {schema}.aiflow_idempotency_key k
                WHERE k.namespace = send_event.namespace AND k.kind = 'send_event' AND k.key = send_event.idempotency_key;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'aiflow: send_event: idempotency key "%" was recorded by a transaction this one cannot see: retry',
                    send_event.idempotency_key USING ERRCODE = '40001';
            END IF;
            SELECT e.xid::text || '-' || e.id::text INTO v_pos FROM {schema}.aiflow_event e WHERE e.id = v_id;
            RETURN v_pos;
        END IF;
    END IF;

    INSERT INTO {schema}.aiflow_event AS e
        (partition, kind, namespace, key, value, sender, workflow, execution_id, task_name, task_execution_id, seq_num, broadcast,
         trace_parent)
    VALUES (-1, 0, send_event.namespace, send_event.key, v_value, v_sender, v_workflow, v_exec, v_task, v_te, v_seq,
        coalesce(send_event.to_namespace, false) AND v_exec <> 0, coalesce(send_event.traceparent, ''))
    RETURNING e.id, e.xid INTO v_id, v_xid;

    IF v_idem THEN
        UPDATE {schema}.aiflow_idempotency_key k SET result_id = v_id
            WHERE k.namespace = send_event.namespace AND k.kind = 'send_event' AND k.key = send_event.idempotency_key;
    END IF;

    PERFORM pg_notify({channel}, '*');
    RETURN v_xid::text || '-' || v_id::text;
END;
$fn$;

COMMENT ON FUNCTION {schema}.send_event(text, text, text, text, bigint, bigint, boolean, text, text) IS
    'AIFlow: appends a user event (namespace, key, value[, sender, execution_id, task_execution_id, to_namespace, idempotency_key, traceparent]) in the caller''s transaction and returns its position "XID-ID"; with an idempotency key, a repeated call returns the first call''s position and appends nothing.';

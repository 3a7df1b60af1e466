-- AIFlow for Go, schema version 12: the NOTIFY that {schema}.send_event sends
-- names its event's key (its payload is "u" and the first 8 hex digits of
-- md5("<namespace>/<key>"), the form of store.UserKeyHash) instead of "*", so
-- that it wakes only the consumers that read that key. Nothing else of the
-- function changes: its definition (as Postgres prints it) is rewritten with
-- that one statement replaced. {schema} is the quoted schema; {channel} the
-- quoted literal of its NOTIFY channel.

DO $migration$
DECLARE
    fn  regprocedure := '{schema}.send_event(text, text, text, text, bigint, bigint, boolean, text, text)'::regprocedure;
    old text := 'PERFORM pg_notify(' || quote_literal({channel}) || ', ''*'');';
    new text := 'PERFORM pg_notify(' || quote_literal({channel})
        || ', ''u'' || left(md5(send_event.namespace || ''/'' || send_event.key), 8));';
    def text := pg_get_functiondef(fn);
BEGIN
    IF position(old IN def) = 0 THEN
        RAISE EXCEPTION 'aiflow: migration 12: % does not send %', fn, old;
    END IF;
    EXECUTE replace(def, old, new);
END
$migration$;

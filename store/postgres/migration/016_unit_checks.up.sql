-- AIFlow for Go, schema version 16: aiflow_raise, which a unit of work's
-- statements call to fail the unit's transaction when one of its checks does
-- not hold (the partition's version moved, a workflow or task execution
-- already exists, a namespace is missing, ...). The unit then sends its
-- COMMIT in the same pipelined batch as its writes: a failed check aborts the
-- transaction before the COMMIT, which the server then skips. code is a
-- SQLSTATE of class AF (see store/postgres/unitcheck.go), message what the
-- store's error names. It returns nothing: its result type lets it stand
-- wherever a statement needs a value.

CREATE FUNCTION {schema}.aiflow_raise(code text, message text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
END
$$;

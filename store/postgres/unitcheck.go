package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aiflow-go/aiflow/store"
)

// A unit of work sends its COMMIT in the same pipelined batch as its last
// writes (see applyEffects), so the checks of its writes cannot run in Go
// between round trips: each is raised by its statement, through
// aiflow_raise (migration 16), with a SQLSTATE of class AF. The failed
// statement aborts the transaction, the server skips the rest of the batch
// and its COMMIT, and the store turns the SQLSTATE back into its error.
const (
	// checkVersionMoved: the partition's version moved since the unit's
	// batch was read (see unitConflict).
	checkVersionMoved = "AF001"
	// checkExists: a workflow or task execution the unit creates already
	// exists; the message names it ("task execution 42").
	checkExists = "AF002"
	// checkNamespace: an event names a namespace that does not exist; the
	// message is its name.
	checkNamespace = "AF003"
	// checkInvariant: a write found fewer rows than it must; the message
	// says which.
	checkInvariant = "AF004"
)

// checkedVersionSQL is movePositionSQL raising checkVersionMoved when the
// version-checked update finds no row.
const checkedVersionSQL = `WITH m AS (` + movePositionSQL + `)
SELECT coalesce((SELECT version FROM m), {s}.aiflow_raise('` + checkVersionMoved + `', 'partition version moved'))`

// checkedSQL wraps insert, a statement returning the column id, so that it
// raises checkExists, naming the first id of the bigint[] parameter param
// that insert did not return, as "<what> <id>". When rows is empty it
// returns no row. Otherwise it returns the rows that "SELECT " + rows
// selects, rows being a select list and a FROM clause over r, insert's rows
// ("r.* FROM r": as insert returned them), once the check has passed; the
// check is then a one-time filter, so it runs even when insert returned no
// row.
func checkedSQL(insert string, param int, what, rows string) string {
	missing := fmt.Sprintf(`SELECT {s}.aiflow_raise('%s', '%s ' || m.id) FROM (
	SELECT w.id FROM unnest($%d::bigint[]) WITH ORDINALITY AS w(id, ord)
	WHERE NOT EXISTS (SELECT 1 FROM r WHERE r.id = w.id) ORDER BY w.ord LIMIT 1) AS m`, checkExists, what, param)
	if rows == "" {
		return "WITH r AS (" + insert + ")\n" + missing
	}
	return "WITH r AS (" + insert + "),\nmissing AS MATERIALIZED (" + missing + ")\nSELECT " + rows +
		"\nWHERE NOT EXISTS (SELECT 1 FROM missing)"
}

// checkedEventsSQL is insertEventsSQL raising checkNamespace, naming the
// first missing namespace, instead of inserting nothing.
var checkedEventsSQL = `WITH missing AS MATERIALIZED (
	SELECT {s}.aiflow_raise('` + checkNamespace + `', m.name) FROM (
		SELECT n.name FROM (SELECT name, min(ord) AS ord FROM unnest($3::text[]) WITH ORDINALITY AS n(name, ord) GROUP BY name) AS n
		WHERE NOT EXISTS (SELECT 1 FROM {s}.aiflow_namespace ns WHERE ns.name = n.name) ORDER BY n.ord LIMIT 1) AS m)
INSERT INTO {s}.aiflow_event (` + eventWriteCols + `)
SELECT ` + eventWriteCols + ` FROM ` + eventRows(1) + `
WHERE NOT EXISTS (SELECT 1 FROM missing)
ORDER BY u.ord
RETURNING id, xid, time`

// checkError turns a failed check of a unit's statement into the store's
// error; other errors are returned as they are. A moved version is
// errVersionMoved, which the unit explains (unitConflict).
func checkError(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case checkVersionMoved:
		return errVersionMoved
	case checkExists:
		return fmt.Errorf("%w: %s", store.ErrAlreadyExists, pe.Message)
	case checkNamespace:
		return namespaceNotFound(pe.Message)
	case checkInvariant:
		return errors.New(pe.Message)
	}
	return err
}

package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// stmt is one statement of a pipelined batch and what to do with its result.
type stmt struct {
	sql    string
	args   []any
	handle func(br pgx.BatchResults) error // nil: Exec
}

// sendBatch sends stmts in one round trip and hands each result to its
// handler.
func sendBatch(ctx context.Context, tx pgx.Tx, stmts []stmt) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for _, st := range stmts {
		var err error
		if st.handle != nil {
			err = st.handle(br)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			return err
		}
	}
	return br.Close()
}

// unitTx is the transaction of a unit of work (a pgx.Tx on one pooled
// connection) that begins lazily: its first batch carries the BEGIN, and
// its last one the COMMIT (commitStmt), so a unit whose statements go in one
// batch makes one round trip in all instead of four. Single statements (River's calls)
// send the BEGIN first when it is still due.
type unitTx struct {
	conn  *pgxpool.Conn
	begun bool
}

var _ pgx.Tx = (*unitTx)(nil)

// inUnitTx runs fn in a unitTx on a connection of pool, committing if it
// returns nil and rolling back otherwise.
func inUnitTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The pool drops a connection released in a transaction (a failed
	// rollback, a panic).
	defer conn.Release()
	tx := &unitTx{conn: conn}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(ctx)
}

// genericPlans makes the statements after it in its transaction (the
// implicit one of a batch, too) run their cached generic plan instead of
// being planned anew each time. Postgres plans a prepared statement for its
// parameters' values until a generic plan looks no costlier; for the unit's
// statements it often never does, and planning them took longer than
// running them (0.1 – 1.6 ms a statement at its bind, 0.3 – 0.5 ms of a
// unit of work that starts one task). Their plans do not depend on the
// values: index lookups by key, arrays unnested. The consumer's read is
// left to Postgres: its generic plan cost throughput (see Consume).
const genericPlans = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"

// queueBegin queues the BEGIN of a unit's transaction and genericPlans.
func queueBegin(b *pgx.Batch) {
	b.Queue("BEGIN")
	b.Queue(genericPlans)
}

// begin sends the BEGIN if it is still due.
func (t *unitTx) begin(ctx context.Context) error {
	if t.begun {
		return nil
	}
	b := &pgx.Batch{}
	queueBegin(b)
	if err := t.conn.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	t.begun = true
	return nil
}

// Begin is not used by a unit of work: it refuses nested transactions.
func (t *unitTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("postgres: a unit of work's transaction does not nest")
}

// commitStmt is the COMMIT as the last statement of the unit's last batch,
// so that the unit commits in the round trip of its last writes; Commit then
// has nothing left to do. Should a statement of the batch fail, the server
// skips the rest of it, the COMMIT included, and Rollback ends the failed
// transaction.
func (t *unitTx) commitStmt() stmt {
	return stmt{sql: "COMMIT", handle: func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err == nil && tag.String() == "ROLLBACK" {
			err = pgx.ErrTxCommitRollback
		}
		if err == nil {
			t.begun = false
		}
		return err
	}}
}

// Commit commits what was sent; nothing when nothing was.
func (t *unitTx) Commit(ctx context.Context) error {
	if !t.begun {
		return nil
	}
	t.begun = false
	tag, err := t.conn.Exec(ctx, "COMMIT")
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	return err
}

// Rollback rolls back what was sent.
func (t *unitTx) Rollback(ctx context.Context) error {
	if !t.begun {
		return pgx.ErrTxClosed
	}
	t.begun = false
	_, err := t.conn.Exec(ctx, "ROLLBACK")
	return err
}

func (t *unitTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.begin(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, cols, src)
}

// SendBatch sends b, preceded by the BEGIN when it is still due.
func (t *unitTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if !t.begun {
		withBegin := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+2)}
		queueBegin(withBegin)
		withBegin.QueuedQueries = append(withBegin.QueuedQueries, b.QueuedQueries...)
		t.begun = true
		return &begunBatch{BatchResults: t.conn.SendBatch(ctx, withBegin)}
	}
	return t.conn.SendBatch(ctx, b)
}

// LargeObjects is not used by a unit of work: its value is unusable.
func (t *unitTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *unitTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Conn().Prepare(ctx, name, sql)
}

func (t *unitTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

func (t *unitTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

func (t *unitTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.begin(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *unitTx) Conn() *pgx.Conn { return t.conn.Conn() }

// begunBatch is the result of a batch that carries the BEGIN (and
// genericPlans): it reads their results before the first of the caller's.
type begunBatch struct {
	pgx.BatchResults
	read bool
	err  error
}

func (b *begunBatch) readBegin() error {
	if !b.read {
		b.read = true
		if _, b.err = b.BatchResults.Exec(); b.err == nil {
			_, b.err = b.BatchResults.Exec() // genericPlans
		}
	}
	return b.err
}

func (b *begunBatch) Exec() (pgconn.CommandTag, error) {
	if err := b.readBegin(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return b.BatchResults.Exec()
}

func (b *begunBatch) Query() (pgx.Rows, error) {
	if err := b.readBegin(); err != nil {
		return nil, err
	}
	return b.BatchResults.Query()
}

func (b *begunBatch) QueryRow() pgx.Row {
	if err := b.readBegin(); err != nil {
		return errRow{err}
	}
	return b.BatchResults.QueryRow()
}

func (b *begunBatch) Close() error {
	err := b.readBegin()
	if cerr := b.BatchResults.Close(); err == nil {
		err = cerr
	}
	return err
}

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

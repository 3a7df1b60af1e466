package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/aiflow-go/aiflow/store"
)

// Store is the Postgres store. Create it with New after Migrate.
type Store struct {
	pool    *pgxpool.Pool
	cfg     *Config
	log     *slog.Logger
	schema  string // quoted
	nPart   int
	channel string
	river   *river.Client[pgx.Tx]

	hub     *hub
	workers *workers

	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// querier is what a pool, a connection and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// New returns a store on the caller's pool (which it never closes) for
// cfg.Schema, which Migrate must have brought to LatestVersion. New reads the
// schema's number of partitions; it starts nothing: the LISTEN connection
// starts with the first Subscribe, the workers with StartWorkers.
func New(pool *pgxpool.Pool, cfg *Config) (*Store, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("postgres: New: pool is nil: expected a *pgxpool.Pool")
	}
	s := &Store{
		pool:    pool,
		cfg:     c,
		log:     c.Logger.With(slog.String("component", "aiflow.postgres"), slog.String("schema", c.Schema)),
		schema:  quoteIdent(c.Schema),
		channel: channelName(c.Schema),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var version int
	err = pool.QueryRow(ctx, s.q("SELECT coalesce(max(version), 0) FROM {s}.aiflow_migration")).Scan(&version)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		version, err = 0, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: New: reading the schema version of %s: %w", c.Schema, err)
	}
	switch latest := LatestVersion(); {
	case version < latest:
		return nil, fmt.Errorf("postgres: New: schema %s is at version %d, expected %d: run postgres.Migrate first", c.Schema, version, latest)
	case version > latest:
		return nil, fmt.Errorf("postgres: New: schema %s is at version %d, newer than this build's %d: run a newer build of the application", c.Schema, version, latest)
	}
	var parts string
	if err := pool.QueryRow(ctx, s.q("SELECT value FROM {s}.aiflow_meta WHERE key = 'partitions'")).Scan(&parts); err != nil {
		return nil, fmt.Errorf("postgres: New: reading the number of partitions of %s: %w", c.Schema, err)
	}
	s.nPart, _ = strconv.Atoi(parts)
	if s.nPart <= 0 {
		return nil, fmt.Errorf("postgres: New: schema %s stores %q partitions: expected a positive number", c.Schema, parts)
	}
	if c.Partitions != 0 && c.Partitions != s.nPart {
		return nil, fmt.Errorf("postgres: New: Config.Partitions is %d but schema %s was created with %d partitions: leave it 0 or set %d", c.Partitions, c.Schema, s.nPart, s.nPart)
	}
	s.hub = newHub(s)
	s.workers = newWorkers(s)
	if s.river, err = s.newRiverClient(); err != nil {
		return nil, err
	}
	return s, nil
}

// Pool returns the pool the store was created with.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the store's schema.
func (s *Store) Schema() string { return s.cfg.Schema }

// Close stops the workers (waiting for running attempts), the listener and
// the other background services. It does not close the pool.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		err = s.StopWorkers(context.Background())
		s.hub.close()
	})
	return err
}

// q expands "{s}" to the quoted schema.
func (s *Store) q(sql string) string { return strings.ReplaceAll(sql, "{s}", s.schema) }

// inTx runs fn in a transaction on the pool, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

func opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if isStoreSentinel(err) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// isStoreSentinel reports whether err already carries a store sentinel (and
// so an explicit message); such errors are returned as they are.
func isStoreSentinel(err error) bool {
	for _, s := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrInvalid, store.ErrConflict, store.ErrStopped} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// ---- time helpers ----

func tsOrNil(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

func tsTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time
}

// ---- namespaces ----

// AddNamespace adds a namespace.
func (s *Store) AddNamespace(ctx context.Context, name string) error {
	if err := store.ValidateName("namespace", name); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.q("INSERT INTO {s}.aiflow_namespace (name) VALUES ($1) ON CONFLICT DO NOTHING"), name)
	if err != nil {
		return opErr("add namespace", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: namespace %q", store.ErrAlreadyExists, name)
	}
	return nil
}

// ListNamespaces lists namespaces by name.
func (s *Store) ListNamespaces(ctx context.Context) ([]store.NamespaceRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT name, created_at FROM {s}.aiflow_namespace ORDER BY name"))
	if err != nil {
		return nil, opErr("list namespaces", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.NamespaceRecord, error) {
		var n store.NamespaceRecord
		err := r.Scan(&n.Name, &n.CreatedAt)
		return n, err
	})
	return out, opErr("list namespaces", err)
}

// DeleteNamespace deletes an empty namespace other than default.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	return opErr("delete namespace", s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		var workflow *string
		err := tx.QueryRow(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM {s}.aiflow_namespace WHERE name = $1 FOR UPDATE),
			(SELECT name FROM {s}.aiflow_workflow WHERE namespace = $1 ORDER BY name LIMIT 1)`), name).Scan(&exists, &workflow)
		if err != nil {
			return err
		}
		switch {
		case !exists:
			return fmt.Errorf("%w: %q", store.ErrNamespaceNotFound, name)
		case name == store.DefaultNamespace:
			return fmt.Errorf("%w: namespace %q cannot be deleted", store.ErrConflict, name)
		case workflow != nil:
			return fmt.Errorf("%w: namespace %q still has workflow %q: delete its workflows first", store.ErrNamespaceNotEmpty, name, *workflow)
		}
		_, err = tx.Exec(ctx, s.q("DELETE FROM {s}.aiflow_namespace WHERE name = $1"), name)
		return err
	}))
}

func namespaceNotFound(name string) error {
	return fmt.Errorf("%w: %q: add it with Client.AddNamespace or \"aiflow namespace add %s\"", store.ErrNamespaceNotFound, name, name)
}

func workflowNotFound(ns, name string) error {
	return fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, name, ns)
}

// ---- workflows ----

const workflowCols = "namespace, name, version, definition, enabled, partition, created_at, updated_at"

func scanWorkflow(r pgx.CollectableRow) (store.WorkflowRecord, error) {
	var w store.WorkflowRecord
	err := r.Scan(&w.Namespace, &w.Name, &w.Version, &w.Definition, &w.Enabled, &w.Partition, &w.CreatedAt, &w.UpdatedAt)
	return w, err
}

// RegisterWorkflow records a definition: it creates the workflow (enabled)
// if needed, a new version if rec.Version is new, and makes rec.Version the
// workflow's current version; the enabled flag of an existing workflow is
// kept.
func (s *Store) RegisterWorkflow(ctx context.Context, rec store.WorkflowRecord) (store.WorkflowRecord, error) {
	var out store.WorkflowRecord
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, s.q("SELECT EXISTS (SELECT 1 FROM {s}.aiflow_namespace WHERE name = $1 FOR SHARE)"), rec.Namespace).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return namespaceNotFound(rec.Namespace)
		}
		part := store.PartitionOf(rec.Namespace, rec.Name, s.nPart)
		b := &pgx.Batch{}
		b.Queue(s.q(`INSERT INTO {s}.aiflow_workflow (namespace, name, version, definition, enabled, partition)
			VALUES ($1, $2, $3, $4, true, $5) ON CONFLICT (namespace, name) DO NOTHING`), rec.Namespace, rec.Name, rec.Version, rec.Definition, part)
		b.Queue(s.q(`INSERT INTO {s}.aiflow_workflow_version (namespace, workflow, version, definition)
			VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`), rec.Namespace, rec.Name, rec.Version, rec.Definition)
		b.Queue(s.q(`UPDATE {s}.aiflow_workflow SET version = $3, definition = $4, updated_at = clock_timestamp()
			WHERE namespace = $1 AND name = $2 AND version <> $3`), rec.Namespace, rec.Name, rec.Version, rec.Definition)
		b.Queue(s.q("SELECT "+workflowCols+" FROM {s}.aiflow_workflow WHERE namespace = $1 AND name = $2"), rec.Namespace, rec.Name)
		br := tx.SendBatch(ctx, b)
		for range 3 {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		rows, err := br.Query()
		if err == nil {
			out, err = pgx.CollectExactlyOneRow(rows, scanWorkflow)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return out, opErr("register workflow", err)
}

// GetWorkflow returns a workflow.
func (s *Store) GetWorkflow(ctx context.Context, ns, name string) (store.WorkflowRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT "+workflowCols+" FROM {s}.aiflow_workflow WHERE namespace = $1 AND name = $2"), ns, name)
	if err != nil {
		return store.WorkflowRecord{}, opErr("get workflow", err)
	}
	w, err := pgx.CollectExactlyOneRow(rows, scanWorkflow)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, workflowNotFound(ns, name)
	}
	return w, opErr("get workflow", err)
}

// ListWorkflows lists workflows by namespace and name.
func (s *Store) ListWorkflows(ctx context.Context, ns string) ([]store.WorkflowRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT "+workflowCols+" FROM {s}.aiflow_workflow WHERE $1 = '' OR namespace = $1 ORDER BY namespace, name"), ns)
	if err != nil {
		return nil, opErr("list workflows", err)
	}
	out, err := pgx.CollectRows(rows, scanWorkflow)
	return out, opErr("list workflows", err)
}

// ListWorkflowVersions lists a workflow's versions, oldest first.
func (s *Store) ListWorkflowVersions(ctx context.Context, ns, name string) ([]store.WorkflowVersionRecord, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT namespace, workflow, version, definition, created_at
		FROM {s}.aiflow_workflow_version WHERE namespace = $1 AND workflow = $2 ORDER BY seq`), ns, name)
	if err != nil {
		return nil, opErr("list workflow versions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.WorkflowVersionRecord, error) {
		var v store.WorkflowVersionRecord
		err := r.Scan(&v.Namespace, &v.Workflow, &v.Version, &v.Definition, &v.CreatedAt)
		return v, err
	})
	if err != nil {
		return nil, opErr("list workflow versions", err)
	}
	if len(out) == 0 { // every workflow has at least one version
		return nil, workflowNotFound(ns, name)
	}
	return out, nil
}

// SetWorkflowEnabled sets the flag and appends the control event in one
// transaction.
func (s *Store) SetWorkflowEnabled(ctx context.Context, ns, name string, enabled bool, ev store.Event) error {
	var appended []store.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.q("UPDATE {s}.aiflow_workflow SET enabled = $3, updated_at = clock_timestamp() WHERE namespace = $1 AND name = $2"), ns, name, enabled)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return workflowNotFound(ns, name)
		}
		appended, err = s.insertEvents(ctx, tx, []store.Event{ev})
		return err
	})
	if err == nil {
		s.hub.appended(partsOf(appended))
	}
	return opErr("set workflow enabled", err)
}

// DeleteWorkflow removes a workflow, its versions, executions, task
// executions and their logs. It fails with ErrConflict while an execution is
// alive.
func (s *Store) DeleteWorkflow(ctx context.Context, ns, name string) error {
	return opErr("delete workflow", s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, s.q("SELECT EXISTS (SELECT 1 FROM {s}.aiflow_workflow WHERE namespace = $1 AND name = $2 FOR UPDATE)"), ns, name).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return workflowNotFound(ns, name)
		}
		var id int64
		var status string
		err := tx.QueryRow(ctx, s.q(`SELECT id, status FROM {s}.aiflow_workflow_execution
			WHERE namespace = $1 AND workflow = $2 AND status NOT IN ('SUCCESS', 'FAILED', 'STOPPED') ORDER BY id LIMIT 1`), ns, name).Scan(&id, &status)
		if err == nil {
			return fmt.Errorf("%w: workflow %q has execution %d %s: stop it first", store.ErrConflict, name, id, status)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(s.q(`WITH te AS (SELECT id FROM {s}.aiflow_task_execution WHERE namespace = $1 AND workflow = $2),
			l AS (DELETE FROM {s}.aiflow_task_log WHERE task_execution_id IN (SELECT id FROM te)),
			ls AS (DELETE FROM {s}.aiflow_task_log_size WHERE task_execution_id IN (SELECT id FROM te)),
			d AS (DELETE FROM {s}.aiflow_dispatch WHERE task_execution_id IN (SELECT id FROM te)),
			le AS (DELETE FROM {s}.aiflow_task_lease WHERE task_execution_id IN (SELECT id FROM te))
			DELETE FROM {s}.aiflow_task_execution WHERE id IN (SELECT id FROM te)`), ns, name)
		b.Queue(s.q("DELETE FROM {s}.aiflow_workflow_execution WHERE namespace = $1 AND workflow = $2"), ns, name)
		b.Queue(s.q("DELETE FROM {s}.aiflow_workflow WHERE namespace = $1 AND name = $2"), ns, name)
		return tx.SendBatch(ctx, b).Close()
	}))
}

// ---- executions ----

const execCols = "id, namespace, workflow, version, status, run_type, note, schedule_id, trigger_id, created_at, updated_at, ended_at"

func scanExec(r pgx.CollectableRow) (store.WorkflowExecutionRecord, error) {
	var x store.WorkflowExecutionRecord
	var ended pgtype.Timestamptz
	err := r.Scan(&x.ID, &x.Namespace, &x.Workflow, &x.Version, &x.Status, &x.RunType, &x.Note, &x.ScheduleID, &x.TriggerID,
		&x.CreatedAt, &x.UpdatedAt, &ended)
	x.EndedAt = tsTime(ended)
	return x, err
}

// CreateExecution inserts rec (status INIT) and appends ev in one
// transaction.
func (s *Store) CreateExecution(ctx context.Context, rec store.WorkflowExecutionRecord, ev store.Event) (store.Event, error) {
	var out []store.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, s.q("SELECT EXISTS (SELECT 1 FROM {s}.aiflow_workflow WHERE namespace = $1 AND name = $2)"), rec.Namespace, rec.Workflow).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return workflowNotFound(rec.Namespace, rec.Workflow)
		}
		tag, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.aiflow_workflow_execution
			(id, namespace, workflow, version, status, run_type, note, schedule_id, trigger_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 'INIT', $5, $6, $7, $8, clock_timestamp(), clock_timestamp()) ON CONFLICT (id) DO NOTHING`),
			rec.ID, rec.Namespace, rec.Workflow, rec.Version, string(rec.RunType), rec.Note, rec.ScheduleID, rec.TriggerID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: workflow execution %d", store.ErrAlreadyExists, rec.ID)
		}
		out, err = s.insertEvents(ctx, tx, []store.Event{ev})
		return err
	})
	if err != nil {
		return store.Event{}, opErr("create execution", err)
	}
	s.hub.appended(partsOf(out))
	return out[0], nil
}

// AllocateExecutionIDs reserves n workflow execution ids.
func (s *Store) AllocateExecutionIDs(ctx context.Context, n int) ([]int64, error) {
	return s.allocate(ctx, "aiflow_execution_id_seq", n)
}

// AllocateTaskExecutionIDs reserves n task execution ids.
func (s *Store) AllocateTaskExecutionIDs(ctx context.Context, n int) ([]int64, error) {
	return s.allocate(ctx, "aiflow_task_execution_id_seq", n)
}

func (s *Store) allocate(ctx context.Context, seq string, n int) ([]int64, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, s.q("SELECT nextval('{s}."+seq+"') FROM generate_series(1, $1)"), n)
	if err != nil {
		return nil, opErr("allocate ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, opErr("allocate ids", err)
}

// GetExecution returns a workflow execution.
func (s *Store) GetExecution(ctx context.Context, id int64) (store.WorkflowExecutionRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT "+execCols+" FROM {s}.aiflow_workflow_execution WHERE id = $1"), id)
	if err != nil {
		return store.WorkflowExecutionRecord{}, opErr("get execution", err)
	}
	x, err := pgx.CollectExactlyOneRow(rows, scanExec)
	if errors.Is(err, pgx.ErrNoRows) {
		return x, fmt.Errorf("%w: id %d", store.ErrExecutionNotFound, id)
	}
	return x, opErr("get execution", err)
}

// DeleteExecution removes a finished workflow execution, its task
// executions, their logs, dispatch rows and leases (its events stay).
func (s *Store) DeleteExecution(ctx context.Context, id int64) error {
	return opErr("delete execution", s.inTx(ctx, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, s.q("SELECT status FROM {s}.aiflow_workflow_execution WHERE id = $1 FOR UPDATE"), id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: id %d", store.ErrExecutionNotFound, id)
		}
		if err != nil {
			return err
		}
		if !store.WorkflowStatus(status).Finished() {
			return fmt.Errorf("%w: workflow execution %d is %s: stop it first", store.ErrConflict, id, status)
		}
		var teID int64
		var task, teStatus string
		var seq int
		err = tx.QueryRow(ctx, s.q(`SELECT id, task, seq_num, status FROM {s}.aiflow_task_execution
			WHERE execution_id = $1 AND status NOT IN ('SUCCESS', 'FAILED', 'STOPPED') ORDER BY id LIMIT 1`), id).Scan(&teID, &task, &seq, &teStatus)
		if err == nil {
			return fmt.Errorf("%w: workflow execution %d: task execution %d (%s #%d) is %s: wait for it to finish",
				store.ErrConflict, id, teID, task, seq, teStatus)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(ctx, s.q(`WITH te AS (DELETE FROM {s}.aiflow_task_execution WHERE execution_id = $1 RETURNING id),
			l AS (DELETE FROM {s}.aiflow_task_log WHERE task_execution_id IN (SELECT id FROM te)),
			ls AS (DELETE FROM {s}.aiflow_task_log_size WHERE task_execution_id IN (SELECT id FROM te)),
			d AS (DELETE FROM {s}.aiflow_dispatch WHERE task_execution_id IN (SELECT id FROM te)),
			le AS (DELETE FROM {s}.aiflow_task_lease WHERE task_execution_id IN (SELECT id FROM te))
			DELETE FROM {s}.aiflow_workflow_execution WHERE id = $1`), id)
		return err
	}))
}

// ListExecutions lists workflow executions, newest first.
func (s *Store) ListExecutions(ctx context.Context, f store.ExecutionFilter) ([]store.WorkflowExecutionRecord, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Namespace != "" {
		where = append(where, "namespace = "+arg(f.Namespace))
	}
	if f.Workflow != "" {
		where = append(where, "workflow = "+arg(f.Workflow))
	}
	if len(f.Statuses) > 0 {
		st := make([]string, len(f.Statuses))
		for i, v := range f.Statuses {
			st[i] = string(v)
		}
		where = append(where, "status = ANY("+arg(st)+")")
	}
	sql := "SELECT " + execCols + " FROM {s}.aiflow_workflow_execution"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id DESC LIMIT " + arg(listLimit(f.Limit))
	rows, err := s.pool.Query(ctx, s.q(sql), args...)
	if err != nil {
		return nil, opErr("list executions", err)
	}
	out, err := pgx.CollectRows(rows, scanExec)
	return out, opErr("list executions", err)
}

func listLimit(n int) int {
	if n <= 0 {
		return store.DefaultListLimit
	}
	return n
}

// ---- task executions ----

const teCols = "id, execution_id, namespace, workflow, task, seq_num, attempt, failures, max_attempts, status, error, note, " +
	"status_message, metrics, streaming, timeout_us, created_at, updated_at, started_at, ended_at"

// teColsOf prefixes teCols with a table alias.
func teColsOf(alias string) string {
	cols := strings.Split(teCols, ", ")
	for i := range cols {
		cols[i] = alias + "." + cols[i]
	}
	return strings.Join(cols, ", ")
}

type rowScanner interface{ Scan(dest ...any) error }

func scanTE(r rowScanner, extra ...any) (store.TaskExecutionRecord, error) {
	var te store.TaskExecutionRecord
	var timeoutUS int64
	var started, ended pgtype.Timestamptz
	dest := []any{&te.ID, &te.ExecutionID, &te.Namespace, &te.Workflow, &te.Task, &te.SeqNum, &te.Attempt, &te.Failures,
		&te.MaxAttempts, &te.Status, &te.Error, &te.Note, &te.StatusMessage, &te.Metrics, &te.Streaming, &timeoutUS,
		&te.CreatedAt, &te.UpdatedAt, &started, &ended}
	err := r.Scan(append(dest, extra...)...)
	te.Timeout = time.Duration(timeoutUS) * time.Microsecond
	te.StartedAt, te.EndedAt = tsTime(started), tsTime(ended)
	return te, err
}

func scanTERow(r pgx.CollectableRow) (store.TaskExecutionRecord, error) { return scanTE(r) }

// GetTaskExecution returns a task execution.
func (s *Store) GetTaskExecution(ctx context.Context, id int64) (store.TaskExecutionRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT "+teCols+" FROM {s}.aiflow_task_execution WHERE id = $1"), id)
	if err != nil {
		return store.TaskExecutionRecord{}, opErr("get task execution", err)
	}
	te, err := pgx.CollectExactlyOneRow(rows, scanTERow)
	if errors.Is(err, pgx.ErrNoRows) {
		return te, fmt.Errorf("%w: id %d", store.ErrTaskExecutionNotFound, id)
	}
	return te, opErr("get task execution", err)
}

// ListTaskExecutions lists task executions by id.
func (s *Store) ListTaskExecutions(ctx context.Context, f store.TaskExecutionFilter) ([]store.TaskExecutionRecord, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.ExecutionID != 0 {
		where = append(where, "execution_id = "+arg(f.ExecutionID))
	}
	if f.Namespace != "" {
		where = append(where, "namespace = "+arg(f.Namespace))
	}
	if f.Workflow != "" {
		where = append(where, "workflow = "+arg(f.Workflow))
	}
	if f.Task != "" {
		where = append(where, "task = "+arg(f.Task))
	}
	if len(f.Statuses) > 0 {
		st := make([]string, len(f.Statuses))
		for i, v := range f.Statuses {
			st[i] = string(v)
		}
		where = append(where, "status = ANY("+arg(st)+")")
	}
	sql := "SELECT " + teCols + " FROM {s}.aiflow_task_execution"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id LIMIT " + arg(listLimit(f.Limit))
	rows, err := s.pool.Query(ctx, s.q(sql), args...)
	if err != nil {
		return nil, opErr("list task executions", err)
	}
	out, err := pgx.CollectRows(rows, scanTERow)
	return out, opErr("list task executions", err)
}

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
	pool   *pgxpool.Pool
	cfg    *Config
	log    *slog.Logger
	schema string // quoted
	nPart  int
	// spreadFrom is the aiflow_meta row "spread_executions_from" (see
	// store.Placement).
	spreadFrom int64
	channel    string
	river      *river.Client[pgx.Tx]

	hub     *hub
	workers *workers
	// defaultLogger is true when the Config had no Logger (SetLogger may
	// replace it).
	defaultLogger bool

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
// schema's version and number of partitions under ctx, which bounds only
// these reads; it starts nothing: the LISTEN connection starts with the
// first Subscribe, the workers with StartWorkers.
func New(ctx context.Context, pool *pgxpool.Pool, cfg *Config) (*Store, error) {
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
		// A client's logger replaces the default one (SetLogger).
		defaultLogger: cfg == nil || cfg.Logger == nil,
	}
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
	var from string
	if err := pool.QueryRow(ctx, s.q("SELECT value FROM {s}.aiflow_meta WHERE key = 'spread_executions_from'")).Scan(&from); err != nil {
		return nil, fmt.Errorf("postgres: New: reading where %s begins to spread executions: %w", c.Schema, err)
	}
	if s.spreadFrom, err = strconv.ParseInt(from, 10, 64); err != nil || s.spreadFrom <= 0 {
		return nil, fmt.Errorf("postgres: New: schema %s stores %q as spread_executions_from: expected a positive execution id", c.Schema, from)
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

// opErr prefixes err with the operation, unless it carries a store
// sentinel (see isStoreSentinel).
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

// tsOrNil is t as a timestamptz, NULL when t is zero.
func tsOrNil(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// tsTime is t as a time, zero when t is NULL.
func tsTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time
}

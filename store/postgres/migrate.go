package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migration/*.up.sql
var migrationFS embed.FS

// migration is one embedded schema migration: migration/NNN_name.up.sql.
type migration struct {
	Version int
	Name    string
	SQL     string
}

// migrations lists the embedded migrations by version; versions are dense.
// Migrate expands "{schema}" (the quoted schema), "{partitions}" and
// "{channel}" (the quoted literal of the NOTIFY channel) in their text.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migration")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(rest, ".up.sql") {
			return nil, fmt.Errorf("postgres: migration file %q: expected NNN_name.up.sql", name)
		}
		data, err := migrationFS.ReadFile(path.Join("migration", name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{Version: v, Name: strings.TrimSuffix(rest, ".up.sql"), SQL: string(data)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("postgres: migration %d (%s): expected version %d: versions must be dense", m.Version, m.Name, i+1)
		}
	}
	return out, nil
}

// LatestVersion is the schema version the embedded migrations reach.
func LatestVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// MigrateResult reports what Migrate did.
type MigrateResult struct {
	// Version is the store's schema version reached (LatestVersion).
	Version int
	// Applied lists the store's migrations applied by this call.
	Applied []int
	// RiverVersion is River's schema version reached.
	RiverVersion int
	// Partitions is the schema's number of partitions.
	Partitions int
}

// migrateRollbackTimeout bounds the rollback that gives the migration lock
// back when Migrate fails, even after the caller's context ended.
const migrateRollbackTimeout = 10 * time.Second

// Migrate creates cfg.Schema if needed and applies River's migrations and the
// store's embedded migrations to it. It is safe to run from several processes
// at once: they take turns on an advisory lock, and the later ones find
// nothing to do. The lock is transaction-level (pg_advisory_xact_lock): it is
// held by a transaction that spans the migration and is released by its
// commit or rollback, or by the server when the connection drops, so Migrate
// needs no session state and works behind PgBouncer in transaction mode. The
// store's migrations commit together, in that transaction. The first
// migration fixes the number of partitions (cfg.Partitions). The pool must
// allow at least two connections (River's migrator uses its own while the
// lock is held on another).
func Migrate(ctx context.Context, pool *pgxpool.Pool, cfg *Config) (*MigrateResult, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("postgres: Migrate: pool is nil: expected a *pgxpool.Pool")
	}
	if max := pool.Config().MaxConns; max < 2 {
		return nil, fmt.Errorf("postgres: Migrate: the pool allows %d connection(s): expected at least 2", max)
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	key := lockKey(c.Schema)
	const lockSQL = "SELECT pg_advisory_xact_lock($1, $2)"
	schema := quoteIdent(c.Schema)

	// The schema first, committed, so that River's migrator sees it;
	// concurrent CREATE SCHEMA IF NOT EXISTS can fail, hence the lock.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockSQL, key, lockMigrate); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			return fmt.Errorf("creating schema %s: %w", c.Schema, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: Migrate: %w", err)
	}

	// Then everything else while one transaction holds the lock: River's
	// migrations on other connections (each in a transaction of its own),
	// the store's in the locking transaction.
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: Migrate: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), migrateRollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx) // no-op after Commit; releases the lock otherwise
	}()
	if _, err := tx.Exec(ctx, lockSQL, key, lockMigrate); err != nil {
		return nil, fmt.Errorf("postgres: Migrate: taking the migration lock: %w", err)
	}

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: c.Schema, Logger: c.Logger})
	if err != nil {
		return nil, fmt.Errorf("postgres: Migrate: River migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("postgres: Migrate: River's migrations: %w", err)
	}
	res := &MigrateResult{}
	if vs, err := migrator.ExistingVersions(ctx); err == nil && len(vs) > 0 {
		res.RiverVersion = vs[len(vs)-1].Version
	}

	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+schema+`.aiflow_migration (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("postgres: Migrate: %w", err)
	}
	rows, err := tx.Query(ctx, "SELECT version FROM "+schema+".aiflow_migration")
	if err != nil {
		return nil, fmt.Errorf("postgres: Migrate: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("postgres: Migrate: %w", err)
	}
	partitions := c.Partitions
	if partitions == 0 {
		partitions = PartitionsDefault
	}
	for _, m := range ms {
		if slices.Contains(applied, int32(m.Version)) {
			continue
		}
		sql := strings.NewReplacer("{schema}", schema, "{partitions}", strconv.Itoa(partitions),
			"{channel}", quoteLiteral(channelName(c.Schema))).Replace(m.SQL)
		if _, err := tx.Exec(ctx, sql); err != nil {
			return nil, fmt.Errorf("postgres: Migrate: migration %d (%s) in schema %s: %w", m.Version, m.Name, c.Schema, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+schema+".aiflow_migration (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
			return nil, fmt.Errorf("postgres: Migrate: recording migration %d (%s) in schema %s: %w", m.Version, m.Name, c.Schema, err)
		}
		res.Applied = append(res.Applied, m.Version)
	}
	res.Version = ms[len(ms)-1].Version
	var stored string
	if err := tx.QueryRow(ctx, "SELECT value FROM "+schema+".aiflow_meta WHERE key = 'partitions'").Scan(&stored); err != nil {
		return nil, fmt.Errorf("postgres: Migrate: reading the number of partitions: %w", err)
	}
	res.Partitions, _ = strconv.Atoi(stored)
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres: Migrate: committing the migrations of schema %s: %w", c.Schema, err)
	}
	for _, v := range res.Applied {
		m := ms[v-1]
		c.Logger.InfoContext(ctx, "postgres: applied migration", slog.String("schema", c.Schema), slog.Int("version", m.Version), slog.String("name", m.Name))
	}
	if c.Partitions != 0 && c.Partitions != res.Partitions {
		return res, fmt.Errorf("postgres: Migrate: Config.Partitions is %d but schema %s was created with %d partitions: the number is fixed at the first migration; leave it 0 or set %d",
			c.Partitions, c.Schema, res.Partitions, res.Partitions)
	}
	return res, nil
}

// AppliedMigration is one migration recorded in a schema.
type AppliedMigration struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

// MigrationStatus is the state of a schema's migrations.
type MigrationStatus struct {
	// Schema is the schema read.
	Schema string
	// Version is the schema's version: the highest migration applied, 0
	// when the schema (or its migration table) does not exist.
	Version int
	// Latest is LatestVersion, the version this build expects.
	Latest int
	// Applied lists the migrations applied, by version.
	Applied []AppliedMigration
	// Pending lists the versions of this build's migrations not applied.
	Pending []int
	// Partitions is the schema's number of partitions (0 before the first
	// migration).
	Partitions int
}

// ReadMigrationStatus reports the migrations applied to cfg.Schema and those
// of this build still pending, changing nothing.
func ReadMigrationStatus(ctx context.Context, pool *pgxpool.Pool, cfg *Config) (*MigrationStatus, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("postgres: ReadMigrationStatus: pool is nil: expected a *pgxpool.Pool")
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	st := &MigrationStatus{Schema: c.Schema, Latest: LatestVersion()}
	schema := quoteIdent(c.Schema)
	var table *string
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1)::text", schema+".aiflow_migration").Scan(&table); err != nil {
		return nil, fmt.Errorf("postgres: ReadMigrationStatus: %w", err)
	}
	if table != nil {
		rows, err := pool.Query(ctx, "SELECT version, name, applied_at FROM "+schema+".aiflow_migration ORDER BY version")
		if err != nil {
			return nil, fmt.Errorf("postgres: ReadMigrationStatus: %w", err)
		}
		st.Applied, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (AppliedMigration, error) {
			var m AppliedMigration
			err := r.Scan(&m.Version, &m.Name, &m.AppliedAt)
			return m, err
		})
		if err != nil {
			return nil, fmt.Errorf("postgres: ReadMigrationStatus: %w", err)
		}
	}
	if len(st.Applied) > 0 {
		var parts *string
		err := pool.QueryRow(ctx, "SELECT value FROM "+schema+".aiflow_meta WHERE key = 'partitions'").Scan(&parts)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("postgres: ReadMigrationStatus: reading the number of partitions: %w", err)
		}
		if parts != nil {
			st.Partitions, _ = strconv.Atoi(*parts)
		}
	}
	for _, m := range st.Applied {
		st.Version = max(st.Version, m.Version)
	}
	for _, m := range ms {
		if !slices.ContainsFunc(st.Applied, func(a AppliedMigration) bool { return a.Version == m.Version }) {
			st.Pending = append(st.Pending, m.Version)
		}
	}
	return st, nil
}

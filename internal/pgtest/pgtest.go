// Package pgtest gives tests a Postgres pool and a fresh schema each.
//
// Tests read the server from AIFLOW_TEST_DATABASE_URL (default: the local
// server with trust auth, database "test"). Without a reachable server they
// skip with a message saying so, unless AIFLOW_TEST_REQUIRE_POSTGRES=1 (CI),
// where they fail instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
)

// Environment variables read by the helpers.
const (
	EnvURL     = "AIFLOW_TEST_DATABASE_URL"
	EnvRequire = "AIFLOW_TEST_REQUIRE_POSTGRES"
	DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// URL returns the test database URL.
func URL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

var (
	reachOnce sync.Once
	reachErr  error
)

// Require skips (or, under AIFLOW_TEST_REQUIRE_POSTGRES=1, fails) the test when
// the test database cannot be reached.
func Require(tb testing.TB) {
	tb.Helper()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pool, err := pgxpool.New(ctx, URL())
		if err != nil {
			reachErr = err
			return
		}
		defer pool.Close()
		reachErr = pool.Ping(ctx)
	})
	if reachErr != nil {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("Postgres is required (%s=1) but %s is not reachable: %v", EnvRequire, URL(), reachErr)
		}
		tb.Skipf("SKIPPING: Postgres at %s is not reachable (%v); set %s to a reachable server to run this test", URL(), reachErr, EnvURL)
	}
}

// Pool returns a new pool on the test database with at most maxConns
// connections (8 when 0), closed when the test ends.
func Pool(tb testing.TB, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	Require(tb)
	cfg, err := pgxpool.ParseConfig(URL())
	if err != nil {
		tb.Fatalf("parsing %s: %v", EnvURL, err)
	}
	if maxConns <= 0 {
		maxConns = 8
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("connecting to %s: %v", URL(), err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// SchemaName returns a new unique schema name ("aiflowtest_" and 16 hex
// digits) and drops that schema (with everything in it) when the test ends.
// It does not create the schema.
func SchemaName(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "aiflowtest_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cleanup, err := pgxpool.New(ctx, URL())
		if err != nil {
			tb.Logf("dropping schema %s: %v", name, err)
			return
		}
		defer cleanup.Close()
		if _, err := cleanup.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			tb.Logf("dropping schema %s: %v", name, err)
		}
	})
	return name
}

// LeakOptions are the goleak options for packages that use pgx pools.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).triggerHealthCheck.func1"),
	}
}

// Package pgtest gives tests a Postgres pool and a fresh schema each.
//
// Tests read the server from AIFLOW_TEST_DATABASE_URL (default: the local
// server with trust auth, database "test"). Without a reachable server they
// skip with a message saying so, unless AIFLOW_TEST_REQUIRE_POSTGRES=1 (CI),
// where they fail instead. A package's TestMain calls Announce, so that the
// skip is announced even where go test hides skip messages.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
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

// reachable checks once whether the test database answers.
func reachable() error {
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
	return reachErr
}

// Require skips (or, under AIFLOW_TEST_REQUIRE_POSTGRES=1, fails) the test when
// the test database cannot be reached.
func Require(tb testing.TB) {
	tb.Helper()
	if reachable() != nil {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("Postgres is required (%s=1) but %s is not reachable: %v", EnvRequire, redactedURL(), reachErr)
		}
		tb.Skipf("SKIPPING: Postgres at %s is not reachable (%v); set %s to a reachable server to run this test", redactedURL(), reachErr, EnvURL)
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

// Announce prints, once per test binary, a banner when the test database
// cannot be reached and AIFLOW_TEST_REQUIRE_POSTGRES is not 1: the tests
// that need it will skip. Call it from TestMain before running the tests.
//
// The banner goes to stderr, which go test shows with -v, for a failing
// package, and when it tests the package of the current directory; but for
// a passing package in package list mode (go test ./...) it shows only the
// "ok" line. So when stderr is not a terminal, the banner also goes to the
// controlling terminal (/dev/tty) if there is one. Without a terminal (CI),
// set AIFLOW_TEST_REQUIRE_POSTGRES=1 so that an unreachable server fails.
// go test caches a passing result whatever the server's state, and replays it
// as "ok (cached)" without running TestMain: after starting the server, run
// with -count=1.
func Announce() {
	if os.Getenv(EnvRequire) == "1" {
		return
	}
	err := reachable()
	if err == nil {
		return
	}
	msg := banner(err) + "\n"
	fmt.Fprint(os.Stderr, msg)
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return // stderr is the terminal already
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		fmt.Fprint(tty, msg)
		_ = tty.Close()
	}
}

func banner(err error) string {
	return fmt.Sprintf("*** SKIPPING the tests that need Postgres: %s is not reachable (%v).\n"+
		"*** Set %s to a reachable server, or %s=1 to make this a failure.", redactedURL(), err, EnvURL, EnvRequire)
}

// redactedURL is URL without its password.
func redactedURL() string {
	u, err := url.Parse(URL())
	if err != nil {
		return "(" + EnvURL + ")"
	}
	return u.Redacted()
}

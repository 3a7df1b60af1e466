package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a private Postgres server of one test, in a temporary directory
// on a free port, for tests that stop or restart the server: they must never
// touch the shared one.
type Cluster struct {
	tb      testing.TB
	bin     string
	dir     string
	port    int
	asUser  string // run the server as this user (initdb refuses root)
	logFile string
}

// StartCluster initialises and starts a private cluster with Debian's initdb
// and pg_ctl, stopped and removed when the test ends. It skips the test (or
// fails it under AIFLOW_TEST_REQUIRE_POSTGRES=1) when the server binaries are
// not installed.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := serverBin()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("a private Postgres cluster is required (%s=1) but: %v", EnvRequire, err)
		}
		tb.Skipf("SKIPPING: no Postgres server binaries for a private cluster: %v", err)
	}
	c := &Cluster{tb: tb, bin: bin}
	c.dir, err = os.MkdirTemp("", "aiflow-pgcluster-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(c.dir) })
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root, a private cluster needs the user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		c.asUser = "postgres"
	}
	c.port = freePort(tb)
	c.logFile = filepath.Join(c.dir, "server.log")
	data := filepath.Join(c.dir, "data")
	c.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 100\n", c.port, c.dir)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
	c.ctl("start", "-w", "-t", "60")
	tb.Cleanup(func() { c.ctlQuiet("stop", "-m", "immediate", "-w", "-t", "60") })
	return c
}

// URL is the cluster's database URL (database postgres, user postgres).
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Restart restarts the server with pg_ctl in mode "fast" (disconnects every
// session, rolls back open transactions) or "immediate" (like a crash).
func (c *Cluster) Restart(mode string) {
	c.tb.Helper()
	c.ctl("restart", "-m", mode, "-w", "-t", "60")
}

// WaitReady waits until the server accepts a query, or fails the test.
func (c *Cluster) WaitReady(ctx context.Context) {
	c.tb.Helper()
	for {
		conn, err := pgx.Connect(ctx, c.URL())
		if err == nil {
			_, err = conn.Exec(ctx, "SELECT 1")
			_ = conn.Close(ctx)
			if err == nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			c.tb.Fatalf("private cluster not ready: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) ctl(args ...string) {
	c.tb.Helper()
	c.run("pg_ctl", append([]string{"-D", filepath.Join(c.dir, "data"), "-l", c.logFile}, args...)...)
}

func (c *Cluster) ctlQuiet(args ...string) {
	_, _ = c.command("pg_ctl", append([]string{"-D", filepath.Join(c.dir, "data"), "-l", c.logFile}, args...)...).CombinedOutput()
}

func (c *Cluster) run(name string, args ...string) {
	c.tb.Helper()
	out, err := c.command(name, args...).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(c.logFile)
		c.tb.Fatalf("%s %s: %v\n%s\nserver log:\n%s", name, strings.Join(args, " "), err, out, log)
	}
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// serverBin finds the directory of initdb and pg_ctl: Debian keeps them in
// /usr/lib/postgresql/<version>/bin, outside PATH.
func serverBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb and pg_ctl are neither on PATH nor in /usr/lib/postgresql/*/bin")
}

func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

package faulttest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if appDir != "" {
		_ = os.RemoveAll(appDir)
	}
	if code == 0 {
		if err := goleak.Find(pgtest.LeakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	appOnce sync.Once
	appDir  string
	appBin  string
	appErr  error
)

// chaosApp builds testdata/chaosapp once per test binary.
func chaosApp(t *testing.T) string {
	t.Helper()
	appOnce.Do(func() {
		appDir, appErr = os.MkdirTemp("", "aiflow-chaosapp-")
		if appErr != nil {
			return
		}
		appBin = filepath.Join(appDir, "chaosapp")
		out, err := exec.Command("go", "build", "-o", appBin, "./testdata/chaosapp").CombinedOutput()
		if err != nil {
			appErr = fmt.Errorf("building chaosapp: %v\n%s", err, out)
		}
	})
	require.NoError(t, appErr)
	return appBin
}

// seed returns the test's random seed (AIFLOW_FAULT_SEED, else random) and
// logs it so that a failing run can be repeated.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("AIFLOW_FAULT_SEED"); v != "" {
		var err error
		s, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "AIFLOW_FAULT_SEED")
	}
	t.Logf("seed %d (rerun with AIFLOW_FAULT_SEED=%d)", s, s)
	return s
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	return n
}

// bundle is one fault test's world: a schema, the test's own store and
// client (never started: it only sends events, starts and stops executions),
// the chaosapp processes and the oracle's inputs.
type bundle struct {
	t         *testing.T
	url       string
	schema    string
	pool      *pgxpool.Pool
	st        *postgres.Store
	client    *aiflow.Client
	workflows []string
	// all are the workflows and the trigger's and the schedule's
	// (chaostrig, chaossched).
	all     []string
	rng     *mrand.Rand
	logPath string
	// errorsPath is the file the chaosapp bodies append their own errors
	// to (see testdata/chaosapp).
	errorsPath string

	// appArgs are added to every chaosapp's command line (lease settings).
	appArgs []string
	// defaultLeases is set under AIFLOW_FAULT_DEFAULT_LEASES=1: the
	// chaosapp processes run at the library's default lease settings.
	defaultLeases bool
	// appURL, when set, gives the database URL of the next chaosapp (a
	// proxy in front of the server) in place of url.
	appURL func(id string) string
	// scheduleID is the schedule of chaossched (addSchedule).
	scheduleID int64

	// stopped is set once stopExecutions has stopped every execution.
	stopped bool
	// producers are the producers started, whose sends checkSends checks.
	producers []*producer

	mu    sync.Mutex
	procs map[string]*exec.Cmd
	seq   int
	execs []int64
}

// setup migrates a fresh schema on the server at url and opens the test's
// store on it.
func setup(t *testing.T, url string, workflows ...string) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	schema := "aiflowfault_" + hex.EncodeToString(rb[:])
	pcfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	pcfg.MaxConns = 8
	// The sessions of a test are named after its schema (the chaosapp
	// processes': <schema>-<client id>), so that a fault can find them.
	pcfg.ConnConfig.RuntimeParams["application_name"] = schema + "-test"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	b := &bundle{
		t: t, url: url, schema: schema, pool: pool, workflows: workflows,
		all: append(slices.Clone(workflows), "chaostrig", "chaossched"),
		rng: mrand.New(mrand.NewPCG(seed(t), 1)), procs: map[string]*exec.Cmd{},
		logPath: filepath.Join(t.TempDir(), "chaosapp.log"), errorsPath: filepath.Join(t.TempDir(), "body-errors.txt"),
	}
	if os.Getenv("AIFLOW_FAULT_DEFAULT_LEASES") == "1" {
		b.defaultLeases = true
		b.appArgs = []string{"-default-leases"}
	}
	t.Cleanup(func() {
		b.killAll()
		if t.Failed() {
			b.dumpLog()
		}
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		if _, err := pool.Exec(dctx, "DROP SCHEMA IF EXISTS "+b.schema+" CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", b.schema, err)
		}
		pool.Close()
	})
	cfg := &postgres.Config{Schema: b.schema, Logger: quietLogger()}
	_, err = postgres.Migrate(ctx, pool, cfg)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `CREATE TABLE `+b.schema+`.chaos_run (
		task_execution_id bigint NOT NULL, attempt integer NOT NULL, client text NOT NULL,
		runs integer NOT NULL DEFAULT 1, started_at timestamptz NOT NULL, ended_at timestamptz,
		PRIMARY KEY (task_execution_id, attempt))`)
	require.NoError(t, err)
	b.st, err = postgres.New(ctx, pool, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.st.Close() })
	b.client, err = aiflow.New(&aiflow.Config{Store: b.st, Logger: quietLogger()})
	require.NoError(t, err)
	return b
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startApp starts one chaosapp process and waits until its client runs.
func (b *bundle) startApp() string {
	b.t.Helper()
	b.mu.Lock()
	b.seq++
	id := "c" + strconv.Itoa(b.seq)
	b.mu.Unlock()
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(b.t, err)
	defer logf.Close()
	url := b.url
	if b.appURL != nil {
		url = b.appURL(id)
	}
	args := append([]string{"-url", url, "-schema", b.schema, "-id", id, "-workflows", strings.Join(b.workflows, ","),
		"-errors", b.errorsPath}, b.appArgs...)
	cmd := exec.Command(chaosApp(b.t), args...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	require.NoError(b.t, err)
	require.NoError(b.t, cmd.Start())
	b.mu.Lock()
	b.procs[id] = cmd
	b.mu.Unlock()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && strings.HasPrefix(sc.Text(), "ready")
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-ready:
		require.True(b.t, ok, "chaosapp %s exited before it was ready (log: %s)", id, b.logPath)
	case <-time.After(2 * time.Minute):
		b.t.Fatalf("chaosapp %s not ready within 2 minutes", id)
	}
	return id
}

// kill kills a process with SIGKILL.
func (b *bundle) kill(id string) {
	b.t.Helper()
	b.mu.Lock()
	cmd := b.procs[id]
	delete(b.procs, id)
	b.mu.Unlock()
	require.NotNil(b.t, cmd, "no process %s", id)
	require.NoError(b.t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
}

// freeze stops a process with SIGSTOP for d, then lets it go on with
// SIGCONT.
func (b *bundle) freeze(id string, d time.Duration) {
	b.t.Helper()
	b.mu.Lock()
	cmd := b.procs[id]
	b.mu.Unlock()
	require.NotNil(b.t, cmd, "no process %s", id)
	require.NoError(b.t, cmd.Process.Signal(syscall.SIGSTOP))
	pause(d)
	require.NoError(b.t, cmd.Process.Signal(syscall.SIGCONT))
}

// stopApps stops every process with SIGTERM and requires a clean exit.
func (b *bundle) stopApps() {
	b.t.Helper()
	b.mu.Lock()
	procs := b.procs
	b.procs = map[string]*exec.Cmd{}
	b.mu.Unlock()
	for id, cmd := range procs {
		require.NoError(b.t, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(b.t, cmd.Wait(), "chaosapp %s did not exit cleanly on SIGTERM", id)
	}
}

// alive lists the processes running, by id.
func (b *bundle) alive() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []string
	for id, cmd := range b.procs {
		if cmd.ProcessState == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (b *bundle) killAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, cmd := range b.procs {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		delete(b.procs, id)
	}
}

func (b *bundle) dumpLog() {
	data, err := os.ReadFile(b.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) > 200 {
		lines = lines[len(lines)-200:]
	}
	b.t.Logf("last lines of the chaosapp logs:\n%s", strings.Join(lines, "\n"))
}

// startExecutions starts perWorkflow executions of each workflow and waits
// until they run.
func (b *bundle) startExecutions(ctx context.Context, perWorkflow int) {
	b.t.Helper()
	for _, wf := range b.workflows {
		for range perWorkflow {
			var id int64
			require.Eventually(b.t, func() bool {
				var err error
				id, err = b.client.StartWorkflowExecution(ctx, wf, nil)
				return err == nil // the app may not have registered it yet
			}, time.Minute, 20*time.Millisecond, "start an execution of %s", wf)
			b.execs = append(b.execs, id)
		}
	}
	for _, id := range b.execs {
		b.waitFor(ctx, fmt.Sprintf("execution %d running", id), func() bool {
			x, err := b.client.GetWorkflowExecution(ctx, id)
			return err == nil && x.Status == aiflow.WorkflowRunning
		})
	}
}

// waitFor waits up to a minute for cond, or fails the test naming the long
// transactions of the server (the sessions of other tests on a shared
// server can hold the read horizon back).
func (b *bundle) waitFor(ctx context.Context, what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not within a minute; long transactions on the server: %s", what, b.longTransactions(ctx))
		}
		pause(10 * time.Millisecond)
	}
}

// longTransactions describes the transactions of the server that hold a
// transaction id and began more than 5 s ago.
func (b *bundle) longTransactions(ctx context.Context) string {
	rows, err := b.pool.Query(ctx, `SELECT format('pid %s db %s app %s %s for %s: %s', pid, datname, application_name, state,
			date_trunc('second', now() - xact_start), left(query, 80))
		FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND xact_start < now() - interval '5 seconds'
		ORDER BY xact_start LIMIT 5`)
	if err != nil {
		return err.Error()
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err.Error()
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

// producer streams events to the namespace every interval until stop is
// called: "ping" and "num" (9 in 20 each), "kick", "go", "halt" and "fire"
// (1 in 40 each). Each send has its own sender name and the same
// idempotency key, and sends that fail (while the server restarts, or when
// its connection is terminated) are retried with them: every send that
// returned success (acked) must be in the log exactly once, and the others
// at most once. It reports what it sent.
type producer struct {
	cancel context.CancelFunc
	done   chan struct{}
	sent   int
	failed int
	// name is the prefix of its senders' names; acked says, by sender
	// name, whether its send returned success.
	name  string
	acked map[string]bool
}

// eventMix picks the key and value of the next event from rng.
func eventMix(rng *mrand.Rand) (key, value string) {
	switch r := rng.IntN(40); {
	case r < 18:
		return "ping", ""
	case r < 36:
		return "num", strconv.Itoa(1 + rng.IntN(9))
	default:
		return []string{"kick", "go", "halt", "fire"}[r-36], ""
	}
}

func (b *bundle) produce(interval time.Duration, seed uint64) *producer {
	ctx, cancel := context.WithCancel(context.Background())
	p := &producer{cancel: cancel, done: make(chan struct{}), name: "producer" + strconv.Itoa(len(b.producers)+1), acked: map[string]bool{}}
	b.producers = append(b.producers, p)
	rng := mrand.New(mrand.NewPCG(seed, 2))
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for n := 1; ; n++ {
			key, value := eventMix(rng)
			sender := p.name + "-" + strconv.Itoa(n)
			p.acked[sender] = false
			opts := &aiflow.SendEventOpts{Sender: sender, IdempotencyKey: sender}
			for {
				_, err := b.client.SendEvent(ctx, key, value, opts)
				if err == nil {
					p.sent++
					p.acked[sender] = true
					break
				}
				if ctx.Err() != nil {
					return
				}
				p.failed++
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// produceLate is a second producer of late commits: it appends an event
// inside its own transaction (SendEventTx) and holds the transaction open for
// up to hold while the producer's later events commit, then commits it (or,
// one time in four, rolls it back: that event never exists). Consumers must
// apply every committed one, however late.
func (b *bundle) produceLate(hold time.Duration, seed uint64) *producer {
	ctx, cancel := context.WithCancel(context.Background())
	p := &producer{cancel: cancel, done: make(chan struct{})}
	rng := mrand.New(mrand.NewPCG(seed, 3))
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			key, value := "ping", ""
			if rng.IntN(2) == 0 {
				key, value = "num", strconv.Itoa(1+rng.IntN(9))
			}
			commit := rng.IntN(4) != 0
			err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
				if _, err := b.st.SendEventTx(ctx, tx, "default", key, value, "late-writer"); err != nil {
					return err
				}
				pause(time.Duration(rng.Int64N(int64(hold))))
				if !commit {
					return errRollback
				}
				return nil
			})
			switch {
			case err == nil:
				p.sent++
			case errors.Is(err, errRollback):
			default:
				p.failed++
				if ctx.Err() == nil {
					pause(20 * time.Millisecond)
				}
			}
		}
	}()
	return p
}

var errRollback = errors.New("rolled back on purpose")

func (p *producer) stop() {
	p.cancel()
	<-p.done
}

// pause waits d: the schedule of a fault, not a synchronisation.
func pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}

// settle waits until nothing is left to do: in one snapshot of the database,
// every partition has consumed the last event it reads, no
// batch task is alive and every execution's stream runs with a lease held by
// a live process.
func (b *bundle) settle(ctx context.Context) {
	b.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	var why string
	for time.Now().Before(deadline) {
		var err error
		why, err = b.unsettled(ctx)
		if err == nil && why == "" {
			return
		}
		if err != nil {
			why = err.Error()
		}
		pause(50 * time.Millisecond)
	}
	b.t.Fatalf("not settled after 3 minutes: %s; long transactions on the server: %s", why, b.longTransactions(ctx))
}

// addSchedule gives chaossched a schedule ticking every scheduleEvery, whose
// missed ticks are all caught up.
func (b *bundle) addSchedule(ctx context.Context) {
	b.t.Helper()
	sc, err := b.client.AddWorkflowSchedule(ctx, "chaossched", aiflow.Every(scheduleEvery), &aiflow.ScheduleOpts{CatchUp: aiflow.MaxCatchUp})
	require.NoError(b.t, err)
	b.scheduleID = sc.ID
}

// scheduleEvery is the interval of chaossched's schedule.
const scheduleEvery = time.Second

// quiesce stops the producers and deletes the schedule, before the test
// waits for everything to settle.
func (b *bundle) quiesce(ctx context.Context, ps ...*producer) {
	b.t.Helper()
	for _, p := range ps {
		p.stop()
	}
	if b.scheduleID != 0 {
		require.Eventually(b.t, func() bool { return b.client.DeleteWorkflowSchedule(ctx, b.scheduleID) == nil },
			time.Minute, 50*time.Millisecond, "delete the schedule")
		b.scheduleID = 0
	}
}

func (b *bundle) unsettled(ctx context.Context) (string, error) {
	tx, err := b.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	return b.unsettledIn(ctx, tx)
}

// querier is a transaction or a pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// unsettledIn says what is left to do in the snapshot of tx ("" when
// nothing is). Periodic tasks (p) tick on while their execution runs: a run
// of one that is queued or running does not count.
func (b *bundle) unsettledIn(ctx context.Context, tx querier) (string, error) {
	s := b.schema
	var busy int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+s+`.aiflow_task_execution
		WHERE workflow = ANY($1) AND task <> 'stream' AND status NOT IN ('SUCCESS', 'FAILED', 'STOPPED')
		AND NOT (task = 'p' AND status IN ('QUEUED', 'RUNNING', 'RETRYING'))`, b.all).Scan(&busy); err != nil {
		return "", err
	}
	if busy > 0 {
		return fmt.Sprintf("%d batch task executions alive", busy), nil
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (te.execution_id) te.execution_id, te.status, coalesce(l.owner, '')
		FROM `+s+`.aiflow_task_execution te LEFT JOIN `+s+`.aiflow_task_lease l ON l.task_execution_id = te.id
		WHERE te.workflow = ANY($1) AND te.task = 'stream' ORDER BY te.execution_id, te.seq_num DESC`, b.workflows)
	if err != nil {
		return "", err
	}
	type stream struct {
		exec          int64
		status, owner string
	}
	streams, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stream, error) {
		var st stream
		return st, r.Scan(&st.exec, &st.status, &st.owner)
	})
	if err != nil {
		return "", err
	}
	if b.stopped {
		streams = nil
	} else if len(streams) != len(b.execs) {
		return fmt.Sprintf("%d streams for %d executions", len(streams), len(b.execs)), nil
	}
	live := b.alive()
	for _, st := range streams {
		if st.status != "RUNNING" || !slices.Contains(live, st.owner) {
			return fmt.Sprintf("execution %d: stream %s, lease held by %q (live: %v)", st.exec, st.status, st.owner, live), nil
		}
	}
	var lagging int
	// Every partition: the workflows' executions are spread over all of them.
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+s+`.aiflow_partition p
		WHERE EXISTS (SELECT 1 FROM `+s+`.aiflow_event e WHERE e.partition IN (-1, p.partition) AND (e.xid, e.id) > (p.pos_xid, p.pos_id))`,
	).Scan(&lagging); err != nil {
		return "", err
	}
	if lagging > 0 {
		return fmt.Sprintf("%d partitions have events to consume", lagging), nil
	}
	return "", nil
}

// events reads the whole log visible to q in position order.
func (b *bundle) events(ctx context.Context, q querier) []store.Event {
	b.t.Helper()
	rows, err := q.Query(ctx, `SELECT e.id, e.xid::text AS xid_text, e.time, e.kind, e.namespace, e.key, e.value, e.sender,
		e.workflow, e.execution_id, e.task_name, e.task_execution_id, e.seq_num, e.broadcast, e.data
		FROM `+b.schema+`.aiflow_event e ORDER BY e.xid, e.id`)
	require.NoError(b.t, err)
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) {
		var ev store.Event
		var xid string
		var kind int16
		err := r.Scan(&ev.ID, &xid, &ev.Time, &kind, &ev.Namespace, &ev.Key, &ev.Value, &ev.Sender, &ev.Workflow,
			&ev.ExecutionID, &ev.TaskName, &ev.TaskExecutionID, &ev.SeqNum, &ev.Broadcast, &ev.Data)
		if err == nil {
			ev.Kind = store.EventKind(kind)
			ev.Position.XID, err = strconv.ParseUint(xid, 10, 64)
			ev.Position.ID = ev.ID
		}
		return ev, err
	})
	require.NoError(b.t, err)
	return all
}

type dbTE struct {
	id     int64
	task   string
	seq    int
	status string
}

// verify checks the database against the oracle's replay of the log, in
// one snapshot where everything has settled (see settle). With state, it
// also checks the condition state of the running executions.
func (b *bundle) verify(ctx context.Context, state bool) map[int64]*oracleExec {
	b.t.Helper()
	var tx pgx.Tx
	deadline := time.Now().Add(time.Minute)
	for {
		var err error
		tx, err = b.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		require.NoError(b.t, err)
		why, err := b.unsettledIn(ctx, tx)
		require.NoError(b.t, err)
		if why == "" {
			break
		}
		_ = tx.Rollback(ctx)
		require.True(b.t, time.Now().Before(deadline), "no settled snapshot within a minute: %s", why)
		pause(20 * time.Millisecond)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	events := b.events(ctx, tx)
	want, timers, err := runOracle(events, b.workflows)
	require.NoError(b.t, err)
	require.Len(b.t, want, len(b.execs), "the oracle sees every execution")
	s := b.schema
	for _, id := range b.execs {
		x := want[id]
		require.NotNil(b.t, x, "execution %d in the log", id)
		rows, err := tx.Query(ctx, `SELECT id, task, seq_num, status FROM `+s+`.aiflow_task_execution
			WHERE execution_id = $1 ORDER BY task, seq_num`, id)
		require.NoError(b.t, err)
		tes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dbTE, error) {
			var te dbTE
			return te, r.Scan(&te.id, &te.task, &te.seq, &te.status)
		})
		require.NoError(b.t, err)
		got := map[string][]dbTE{}
		for _, te := range tes {
			got[te.task] = append(got[te.task], te)
		}
		for _, task := range chaosTasks {
			n := 0
			if t := x.tasks[task]; t != nil {
				n = t.seq
			}
			if len(got[task]) != n {
				b.logTaskEvents(events, id, task)
			}
			require.Len(b.t, got[task], n, "execution %d task %s: task executions decided by the log (none missing, none twice)", id, task)
			for i, te := range got[task] {
				require.Equal(b.t, i+1, te.seq, "execution %d task %s: dense sequence numbers", id, task)
				if string(x.last[task][te.seq]) != te.status {
					b.logTaskEvents(events, id, task)
				}
				require.Equal(b.t, string(x.last[task][te.seq]), te.status,
					"execution %d task %s #%d: the stored status is the one the log gives", id, task, te.seq)
			}
		}
		for _, task := range chaosTasks {
			delete(got, task)
		}
		require.Empty(b.t, got, "execution %d: no other task executions", id)
		if state {
			require.Equal(b.t, x.sum, b.sumState(ctx, tx, id), "execution %d: the condition's state", id)
		}
	}
	var twice int
	require.NoError(b.t, tx.QueryRow(ctx, `SELECT count(*) FROM `+s+`.chaos_run WHERE runs > 1`).Scan(&twice))
	require.Zero(b.t, twice, "a task body ran twice for one attempt")
	b.checkBodies(ctx, tx)
	b.checkFailures(ctx, tx)
	b.checkTimers(ctx, tx, timers)
	b.checkSends(events)
	return want
}

// logTaskEvents logs the last status events of a task of an execution, to
// explain a failed check.
func (b *bundle) logTaskEvents(events []store.Event, id int64, task string) {
	var lines []string
	for _, ev := range events {
		if ev.ExecutionID == id && (ev.TaskName == task || ev.Kind != store.KindStatus) {
			lines = append(lines, fmt.Sprintf("%d/%d %d %s %s #%d %s %s", ev.Position.XID, ev.ID, ev.Kind, ev.Key, ev.TaskName, ev.SeqNum, ev.Value, ev.Data))
		}
	}
	b.t.Logf("events of execution %d task %s (last 40 of %d):\n%s", id, task, len(lines), strings.Join(lines[max(0, len(lines)-40):], "\n"))
}

// chaosTasks are the tasks of the chaos workflows (see testdata/chaosapp).
var chaosTasks = []string{"stream", "a", "b", "c", "d", "e", "p"}

// bodyFailed gives the ids of the task executions a body of which returned
// an error of its own (the lines of errorsPath).
func (b *bundle) bodyFailed() map[int64]bool {
	b.t.Helper()
	bodyFailed := map[int64]bool{}
	data, err := os.ReadFile(b.errorsPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		require.NoError(b.t, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		id, err := strconv.ParseInt(f[0], 10, 64)
		require.NoError(b.t, err, "body error line %q", line)
		bodyFailed[id] = true
	}
	return bodyFailed
}

// checkFailures checks that no task execution ended FAILED unless a body of
// it returned an error of its own (the chaosapp bodies write those to
// errorsPath) or its workers kept dying (the interruption limit was
// reached): the loss of a worker is not the task's failure.
func (b *bundle) checkFailures(ctx context.Context, q querier) {
	b.t.Helper()
	bodyFailed := b.bodyFailed()
	rows, err := q.Query(ctx, `SELECT id, task, seq_num, attempt, error FROM `+b.schema+`.aiflow_task_execution
		WHERE workflow = ANY($1) AND status = 'FAILED' ORDER BY id`, b.all)
	require.NoError(b.t, err)
	type failed struct {
		id           int64
		task         string
		seq, attempt int
		error        string
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (failed, error) {
		var f failed
		return f, r.Scan(&f.id, &f.task, &f.seq, &f.attempt, &f.error)
	})
	require.NoError(b.t, err)
	var byBody, byLimit int
	var wrong []string
	for _, f := range all {
		switch {
		case bodyFailed[f.id]:
			byBody++
		case strings.Contains(f.error, "workers kept dying"):
			byLimit++
		default:
			wrong = append(wrong, fmt.Sprintf("task execution %d (%s #%d) attempt %d: %s", f.id, f.task, f.seq, f.attempt, f.error))
		}
	}
	b.t.Logf("%d task executions FAILED: %d after a body error, %d after the interruption limit, %d without a body error",
		len(all), byBody, byLimit, len(wrong))
	require.Empty(b.t, wrong, "task executions FAILED although no body of theirs returned an error and the interruption limit was not reached (%d), for example:\n%s",
		len(wrong), strings.Join(wrong[:min(len(wrong), 5)], "\n"))
}

// checkBodies checks the bodies' records: every SUCCESS had a body that
// ran to its end, and no two bodies of a task of an execution (attempts of
// one task execution, or task executions of one task) ran at once. A body
// without an end runs on (its process is alive: it counts as running until
// now and beyond) or died with its process (killed: when it ended is not
// known, and it is left out).
func (b *bundle) checkBodies(ctx context.Context, q querier) {
	b.t.Helper()
	s := b.schema
	var bodiless int
	require.NoError(b.t, q.QueryRow(ctx, `SELECT count(*) FROM `+s+`.aiflow_task_execution t
		WHERE t.workflow = ANY($1) AND t.status = 'SUCCESS' AND NOT EXISTS (SELECT 1 FROM `+s+`.chaos_run r
			WHERE r.task_execution_id = t.id AND r.attempt = t.attempt AND r.ended_at IS NOT NULL)`, b.all).Scan(&bodiless))
	require.Zero(b.t, bodiless, "task executions SUCCESS without a body that ran to its end")
	n, examples := b.overlaps(ctx, q)
	var bodies int
	require.NoError(b.t, q.QueryRow(ctx, `SELECT count(*) FROM `+s+`.chaos_run`).Scan(&bodies))
	b.t.Logf("%d bodies recorded, %d pairs of them of one task ran at the same time", bodies, n)
	require.Zero(b.t, n, "attempts of a task that ran at the same time, for example:\n%s", strings.Join(examples, "\n"))
}

// overlaps counts the pairs of bodies of one task of an execution that ran
// at the same time, with a few of them described.
func (b *bundle) overlaps(ctx context.Context, q querier) (int, []string) {
	b.t.Helper()
	s := b.schema
	rows, err := q.Query(ctx, `WITH r AS (
			SELECT t.execution_id, t.task, r.task_execution_id AS te, r.attempt, r.client, r.started_at,
				coalesce(r.ended_at, CASE WHEN r.client = ANY($2) THEN 'infinity'::timestamptz END) AS ended_at
			FROM `+s+`.chaos_run r JOIN `+s+`.aiflow_task_execution t ON t.id = r.task_execution_id
			WHERE t.workflow = ANY($1))
		SELECT format('execution %s task %s: te %s attempt %s on %s [%s, %s] and te %s attempt %s on %s [%s, %s]',
			r1.execution_id, r1.task, r1.te, r1.attempt, r1.client, r1.started_at, r1.ended_at,
			r2.te, r2.attempt, r2.client, r2.started_at, r2.ended_at)
		FROM r r1 JOIN r r2 ON r2.execution_id = r1.execution_id AND r2.task = r1.task AND (r1.te, r1.attempt) < (r2.te, r2.attempt)
		WHERE r1.ended_at IS NOT NULL AND r2.ended_at IS NOT NULL
			AND r1.started_at < r2.ended_at AND r2.started_at < r1.ended_at
		ORDER BY r1.te, r1.attempt`, b.all, b.alive())
	require.NoError(b.t, err)
	all, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(b.t, err)
	return len(all), all[:min(len(all), 5)]
}

// sumState reads the sum kept by the condition of task c from the engine's
// snapshot of a running execution.
func (b *bundle) sumState(ctx context.Context, q querier, id int64) int {
	b.t.Helper()
	var data []byte
	require.NoError(b.t, q.QueryRow(ctx, `SELECT data FROM `+b.schema+`.aiflow_snapshot WHERE key = $1::bytea`,
		[]byte("x/"+strconv.FormatInt(id, 10))).Scan(&data))
	var snap struct {
		State map[string]json.RawMessage `json:"state"`
	}
	require.NoError(b.t, json.Unmarshal(data, &snap))
	require.Len(b.t, snap.State, 1, "execution %d: one named state (the sum)", id)
	for _, raw := range snap.State {
		var v int
		require.NoError(b.t, json.Unmarshal(raw, &v))
		return v
	}
	return 0
}

// stopExecutions stops every execution, waits until each is STOPPED with
// every task execution finished, and verifies the log again.
func (b *bundle) stopExecutions(ctx context.Context) {
	b.t.Helper()
	for _, id := range b.execs {
		require.NoError(b.t, b.client.StopWorkflowExecution(ctx, id))
	}
	require.Eventually(b.t, func() bool {
		var alive int
		err := b.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+b.schema+`.aiflow_task_execution
			WHERE workflow = ANY($1) AND status NOT IN ('SUCCESS', 'FAILED', 'STOPPED'))
			+ (SELECT count(*) FROM `+b.schema+`.aiflow_workflow_execution WHERE workflow = ANY($1) AND status <> 'STOPPED')`,
			b.workflows).Scan(&alive)
		return err == nil && alive == 0
	}, 2*time.Minute, 20*time.Millisecond, "every execution STOPPED with every task finished")
	// The last status events are below the horizon once the writers are done.
	b.settleLog(ctx)
	b.stopped = true
	want := b.verify(ctx, false)
	for _, id := range b.execs {
		x := want[id]
		require.False(b.t, x.running, "execution %d stopped in the log", id)
		require.Equal(b.t, store.TaskStopped, x.last["stream"][x.tasks["stream"].seq], "execution %d: the stream ends STOPPED", id)
	}
}

// settleLog waits until every status in the database is also the last one in
// the log (the log may lag behind the horizon for a moment).
func (b *bundle) settleLog(ctx context.Context) {
	b.t.Helper()
	require.Eventually(b.t, func() bool {
		last, err := b.st.LastPosition(ctx)
		if err != nil {
			return false
		}
		var pending bool
		err = b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+b.schema+`.aiflow_event WHERE (xid, id) > ($1::text::xid8, $2))`,
			strconv.FormatUint(last.XID, 10), last.ID).Scan(&pending)
		return err == nil && !pending
	}, time.Minute, 20*time.Millisecond, "every event readable")
}

// finish waits until everything has settled, checks every decision, stops
// every execution and checks again, logs what the run did and stops the
// processes.
func (b *bundle) finish(ctx context.Context, p *producer, kills int) {
	b.t.Helper()
	b.settle(ctx)
	b.verify(ctx, true)
	b.stopExecutions(ctx)
	b.summary(ctx, p, kills)
	b.stopApps()
}

// summary logs what a run did.
func (b *bundle) summary(ctx context.Context, p *producer, kills int) {
	b.t.Helper()
	var tes, attempts int
	require.NoError(b.t, b.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(attempt), 0) FROM `+b.schema+`.aiflow_task_execution`).Scan(&tes, &attempts))
	b.t.Logf("%d events sent (%d sends failed and were retried), %d kills, %d task executions, %d attempts, %d executions",
		p.sent, p.failed, kills, tes, attempts, len(b.execs))
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// ScalingPoint is what one workflow did with a number of processes.
type ScalingPoint struct {
	// Processes is the number of worker processes.
	Processes int
	// EventsApplied is the events applied per second: each sent to one of
	// the running executions (round-robin), whose stateful condition counts
	// it in its state, all appended in one transaction and timed from its
	// commit (timeBacklog).
	EventsApplied float64
	// TaskStarts is the task starts per second: each round, one event
	// starts a task in every running execution, and the round ends when
	// every task has succeeded.
	TaskStarts float64
	// Partitions is the number of partitions each process consumed when
	// the measurement began, Ran the task bodies each ran, and Counted the
	// events each applied to an execution's stateful condition: the work
	// split among the processes.
	Partitions []int
	Ran        []int64
	Counted    []int64
	// CPULimit says how each worker process's CPU was limited: "0.15 of a
	// core" (ScalingSetup.WorkerCPU), or "none" with the reason.
	CPULimit string
}

// ScalingSetup sets a scaling measurement.
type ScalingSetup struct {
	Executions int   // running executions of the one workflow
	Events     int   // events of the events-applied measurement
	Rounds     int   // task start rounds
	Partitions int   // partitions of the schema
	Conns      int32 // connections of each worker's pool
	// WorkerCPU limits each worker process to this many cores (0.15: a
	// seventh of one), as a replica on a machine of its own would be,
	// with a control group of its own (cpuLimit: Linux, as root); where
	// that cannot be done the workers run unlimited and the point says
	// why. 0 means no limit: the workers then share the machine's cores
	// with each other and with Postgres.
	WorkerCPU float64
}

// scalingLeaseTTL is the workers' partition lease: they claim every third
// of it, so that partitions settle within seconds of the last one joining.
const scalingLeaseTTL = 3 * time.Second

// Scaling measures, with processes worker processes (this program run again
// by exe, see worker.go) sharing one schema, the events applied and task
// starts per second of a single workflow (scalingWorkflow). This process
// only prepares the schema, starts the executions, appends the events and
// watches the database; it waits until the partitions are shared among the
// workers before measuring.
func Scaling(ctx context.Context, pool *pgxpool.Pool, exe string, processes int, s ScalingSetup) (ScalingPoint, error) {
	p := ScalingPoint{Processes: processes}
	st, closeStore, err := openStore(ctx, pool, &postgres.Config{Partitions: s.Partitions})
	if err != nil {
		return p, err
	}
	defer closeStore()
	ws, err := startWorkers(ctx, exe, workerConfig{URL: pool.Config().ConnString(), Schema: st.Schema(), LeaseTTL: scalingLeaseTTL, Conns: s.Conns}, processes, s.WorkerCPU)
	defer func() { _ = ws.stop() }()
	if err != nil {
		return p, err
	}
	p.CPULimit = ws.limited
	if p.Partitions, err = waitShared(ctx, st, ws.ids); err != nil {
		return p, err
	}
	client, err := aiflow.New(&aiflow.Config{Store: st, Logger: discard})
	if err != nil {
		return p, err
	}
	ids, err := startMany(ctx, st, client, scalingName, s.Executions)
	if err != nil {
		return p, err
	}
	// The events go to the executions, spread over every partition (each
	// event is addressed to its execution, so only that execution's
	// partition reads it), as one backlog.
	per, err := timeBacklog(ctx, pool, st, s.Events, func(i int) store.Event {
		return store.Event{Namespace: "default", Key: countedKey, Value: "v", Workflow: scalingName, ExecutionID: ids[i%len(ids)]}
	})
	if err != nil {
		return p, err
	}
	p.EventsApplied = perSecond(per)
	if p.TaskStarts, err = scalingStarts(ctx, st, s.Executions, s.Rounds); err != nil {
		return p, err
	}
	if err := ws.stop(); err != nil {
		return p, err
	}
	p.Ran, p.Counted = ws.ran, ws.counted
	return p, nil
}

// timeBacklog appends n events, the i-th built by event(i), in one
// transaction, so that the workers find them all at once, and returns the
// mean time per event from its commit until every partition of st has
// consumed past the last (within waitTimeout): the rate at which the
// workers apply what is waiting. timeEvents' rate is bounded by its one
// appending connection instead (each batch of 100 waits for its own WAL
// flush, and the workers keep up), which the number of workers cannot
// change.
func timeBacklog(ctx context.Context, pool *pgxpool.Pool, st *postgres.Store, n int, event func(i int) store.Event) (time.Duration, error) {
	evs := make([]store.Event, n)
	for i := range evs {
		evs[i] = event(i)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op once committed
	out, err := st.AppendEventsTx(ctx, tx, evs)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := waitConsumedWithin(ctx, pool, st, waitTimeout, nil, out[len(out)-1].Position); err != nil {
		return 0, err
	}
	return time.Since(t0) / time.Duration(n), nil
}

// scalingStarts sends rounds events "go", each starting the task "work" in
// every one of the executions running executions, waiting after each until
// every task has ended, and returns the task starts per second. It fails
// if a task ended otherwise than in SUCCESS.
func scalingStarts(ctx context.Context, st *postgres.Store, executions, rounds int) (float64, error) {
	q := "SELECT status, count(*), min(error) FROM " + pgx.Identifier{st.Schema()}.Sanitize() +
		".aiflow_task_execution WHERE task = 'work' GROUP BY status ORDER BY status"
	t0 := time.Now()
	for r := range rounds {
		if _, err := st.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "go", Value: "v"}}); err != nil {
			return 0, err
		}
		var seen []string
		var ended, failed int
		err := waitUntil(ctx, st, "every task ended", func() (bool, error) {
			rows, err := st.Pool().Query(ctx, q)
			if err != nil {
				return false, err
			}
			seen, ended, failed = nil, 0, 0
			alive := 0
			var status, msg string
			var n int
			_, err = pgx.ForEachRow(rows, []any{&status, &n, &msg}, func() error {
				seen = append(seen, fmt.Sprintf("%d %s", n, status))
				switch store.TaskStatus(status) {
				case store.TaskSuccess:
					ended += n
				case store.TaskFailed, store.TaskStopped:
					ended += n
					failed += n
					seen[len(seen)-1] += fmt.Sprintf(" (%q)", msg)
				default:
					alive += n
				}
				return nil
			})
			return ended >= (r+1)*executions && alive == 0, err
		})
		if err != nil {
			return 0, fmt.Errorf("round %d of %d, %d tasks expected in all, seen %s: %w", r+1, rounds, (r+1)*executions, strings.Join(seen, ", "), err)
		}
		if failed > 0 {
			return 0, fmt.Errorf("round %d of %d: %d tasks did not succeed: %s", r+1, rounds, failed, strings.Join(seen, ", "))
		}
	}
	return float64(rounds*executions) / time.Since(t0).Seconds(), nil
}

// waitShared waits until each of the clients ids (and no other) is live and
// the partitions are shared fairly among them (each held, none by a client
// beyond its fair share), and returns how many each holds.
func waitShared(ctx context.Context, st *postgres.Store, ids []string) ([]int, error) {
	s := pgx.Identifier{st.Schema()}.Sanitize()
	share := (st.Partitions() + len(ids) - 1) / len(ids)
	held := make([]int, len(ids))
	err := waitUntil(ctx, st, "the partitions shared among the workers", func() (bool, error) {
		var live int
		if err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM "+s+".aiflow_client WHERE expires_at > now()").Scan(&live); err != nil {
			return false, err
		}
		rows, err := st.Pool().Query(ctx, "SELECT owner FROM "+s+".aiflow_partition WHERE lease_until > now()")
		if err != nil {
			return false, err
		}
		owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return false, err
		}
		clear(held)
		for _, o := range owners {
			i := indexOf(ids, o)
			if i < 0 {
				return false, nil
			}
			held[i]++
		}
		for _, h := range held {
			if h > share {
				return false, nil
			}
		}
		return live == len(ids) && len(owners) == st.Partitions(), nil
	})
	return held, err
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

// workers are the worker processes of a scaling measurement.
type workers struct {
	cmds    []*exec.Cmd
	stdins  []io.WriteCloser
	stdouts []*bufio.Reader
	stderrs []*syncBuffer
	ids     []string // client ids, as each worker said when ready
	limits  []*cpuLimit
	limited string  // how the workers' CPU is limited (ScalingPoint.CPULimit)
	ran     []int64 // task bodies each ran, once stopped
	counted []int64 // events each counted, once stopped
	stopped bool
}

// startWorkers starts n worker processes with cfg, each limited to cores of
// CPU if cores > 0 and the machine allows it, and waits until each has said
// it is ready. Call stop in any case.
func startWorkers(ctx context.Context, exe string, cfg workerConfig, n int, cores float64) (*workers, error) {
	ws := &workers{limited: "none"}
	if cores > 0 {
		for i := range n {
			l, err := newCPULimit(fmt.Sprintf("aiflow-bench-%d-%d", os.Getpid(), i), cores)
			if err != nil {
				ws.limited = "none (" + err.Error() + ")"
				break
			}
			ws.limits = append(ws.limits, l)
		}
		if len(ws.limits) == n {
			ws.limited = fmt.Sprintf("%g of a core", cores)
		} else {
			ws.removeLimits()
		}
	}
	spec, err := json.Marshal(cfg)
	if err != nil {
		return ws, err
	}
	for range n {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), workerEnv+"="+string(spec))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return ws, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return ws, err
		}
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			return ws, fmt.Errorf("starting a worker process (%s): %w", exe, err)
		}
		ws.cmds, ws.stdins = append(ws.cmds, cmd), append(ws.stdins, stdin)
		if len(ws.limits) > 0 {
			// The worker is limited before it says it is ready, so before
			// anything is measured.
			if err := ws.limits[len(ws.cmds)-1].add(cmd.Process.Pid); err != nil {
				return ws, err
			}
		}
		ws.stdouts, ws.stderrs = append(ws.stdouts, bufio.NewReader(stdout)), append(ws.stderrs, stderr)
	}
	for i := range ws.cmds {
		line, err := ws.line(ctx, i)
		if err != nil {
			return ws, err
		}
		id, ok := strings.CutPrefix(line, "ready ")
		if !ok {
			return ws, fmt.Errorf("worker %d said %q: expected \"ready <client id>\"", i, line)
		}
		ws.ids = append(ws.ids, id)
	}
	return ws, nil
}

// line reads the next line worker i writes, within waitTimeout.
func (ws *workers) line(ctx context.Context, i int) (string, error) {
	type read struct {
		s   string
		err error
	}
	got := make(chan read, 1)
	go func() {
		s, err := ws.stdouts[i].ReadString('\n')
		got <- read{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			return "", fmt.Errorf("worker %d: %w (its stderr: %q)", i, r.err, ws.stderrs[i].String())
		}
		return r.s, nil
	case <-time.After(waitTimeout):
		return "", fmt.Errorf("worker %d said nothing for %s", i, waitTimeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// stop closes the workers' standard input, reads what each ran and waits
// for them to exit; those that do not exit within waitTimeout are killed.
func (ws *workers) stop() error {
	if ws.stopped {
		return nil
	}
	ws.stopped = true
	var errs []error
	for _, in := range ws.stdins {
		_ = in.Close()
	}
	ws.ran, ws.counted = make([]int64, len(ws.cmds)), make([]int64, len(ws.cmds))
	for i, cmd := range ws.cmds {
		if i < len(ws.ids) {
			if line, err := ws.line(context.Background(), i); err != nil {
				errs = append(errs, err)
			} else if _, err := fmt.Sscanf(line, "stats %d %d", &ws.ran[i], &ws.counted[i]); err != nil {
				errs = append(errs, fmt.Errorf("worker %d said %q: expected \"stats <runs> <counted>\"", i, line))
			}
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("worker %d: %w (its stderr: %q)", i, err, ws.stderrs[i].String()))
			}
		case <-time.After(waitTimeout):
			_ = cmd.Process.Kill()
			errs = append(errs, fmt.Errorf("worker %d did not exit within %s: killed", i, waitTimeout))
			<-done
		}
	}
	if err := ws.removeLimits(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeLimits removes the workers' control groups, once they have exited.
func (ws *workers) removeLimits() error {
	var errs []error
	for _, l := range ws.limits {
		errs = append(errs, l.remove())
	}
	ws.limits = nil
	return errors.Join(errs...)
}

// syncBuffer is a bytes.Buffer that a process writes to while it is read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Command chaosapp is the program the fault tests kill: it embeds the library
// on the Postgres schema given and runs the chaos workflows until it is killed
// or receives SIGTERM.
//
// Every workflow named by -workflows (chaos1, chaos2, ...) has the same tasks:
//
//	stream  a streaming task started with the execution, running until stopped
//	a       OnEvent("ping", START); fails on purpose one time in five, retried
//	b       StartAfter(a)
//	c       OnCondition(sum of "num" values reaches 10; the sum keeps the rest, START)
//	d       OnEvent("kick", RESTART) (started with the execution)
//	e       OnEvent("go", START), OnEvent("halt", STOP)
//	p       Periodic(every 2 s) (started with the execution, restarted on each tick)
//
// Two more workflows are always registered: chaostrig, whose trigger starts
// an execution on every third "fire" event of the namespace (a count kept in
// the trigger's state), and chaossched, which the test gives a schedule; both
// have one short task, t.
//
// Each body records (task execution, attempt) in the table chaos_run of the
// schema when it starts, with its start time, and its end time when it
// returns, so that the test can tell whether a body ran twice for one
// attempt, whether two attempts of a task ran at once, and whether every
// SUCCESS had a body. The attempt number is the fencing token a real task
// would use the same way.
//
// Only a and stream have a retry policy; b, c, d, e and p have none, so that
// a lost worker that the library took for the task's failure would leave them
// FAILED. The interruptions by lost workers are not limited (the streams are
// interrupted by every kill of their process). c fails on purpose one time
// in four, a one time in five (and is retried). Any body also fails when the
// insert of its start record fails (its connection was terminated, say):
// without a retry policy, its task execution, and for t its execution, then
// end FAILED. Every body that returns an
// error of its own (not one caused by the cancellation of its context)
// appends a line "<task execution id> <attempt> <error>" to the file named by
// -errors first, so that the test can tell a FAILED task whose body failed
// from one that the library failed.
//
// The task leases are short (-lease, -stop-grace, a 200 ms heartbeat) unless
// -default-leases is given: then the store's task heartbeat, lease, stop
// grace, reap interval and leader lease, and the client's partition lease,
// are the library's defaults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/postgres"
)

func main() {
	url := flag.String("url", "", "database URL")
	schema := flag.String("schema", "", "schema")
	id := flag.String("id", "", "client id")
	workflows := flag.String("workflows", "chaos1", "comma-separated workflow names")
	errorsPath := flag.String("errors", os.DevNull, "file the bodies' own errors are appended to")
	lease := flag.Duration("lease", time.Second, "the task lease (postgres.Config.TaskLeaseTTL)")
	grace := flag.Duration("stop-grace", 0, "the stop grace (postgres.Config.TaskStopGrace; 0 for the default)")
	defaults := flag.Bool("default-leases", false, "the library's default lease, heartbeat, grace and reaper settings")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errs, err := os.OpenFile(*errorsPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaosapp:", err)
		os.Exit(1)
	}
	bodyErrors = errs
	if err := run(ctx, *url, *schema, *id, strings.Split(*workflows, ","), *lease, *grace, *defaults); err != nil {
		fmt.Fprintln(os.Stderr, "chaosapp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url, schema, id string, names []string, lease, grace time.Duration, defaults bool) error {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	pcfg.MaxConns = 12
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})).With("client", id)
	scfg := &postgres.Config{
		Schema: schema, Logger: log, LeaderTTL: time.Second, TaskHeartbeat: 200 * time.Millisecond,
		TaskLeaseTTL: lease, TaskStopGrace: grace, ReapInterval: 200 * time.Millisecond, EventPollInterval: 100 * time.Millisecond,
		FetchPollInterval: 100 * time.Millisecond, ListenerReconnect: 50 * time.Millisecond,
	}
	partitionLease := time.Second
	if defaults {
		scfg.LeaderTTL, scfg.TaskHeartbeat, scfg.TaskLeaseTTL, scfg.TaskStopGrace, scfg.ReapInterval = 0, 0, 0, 0, 0
		partitionLease = 0
	}
	st, err := postgres.New(ctx, pool, scfg)
	if err != nil {
		return err
	}
	defer st.Close()

	// body runs work between the records of its start and its end (the
	// clock of this machine, shared by every process of the test).
	body := func(work func(ctx context.Context) error) aiflow.Operator {
		return operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
			_, startErr := pool.Exec(ctx, `INSERT INTO `+schema+`.chaos_run (task_execution_id, attempt, client, started_at)
				VALUES ($1, $2, $3, $4)
				ON CONFLICT (task_execution_id, attempt) DO UPDATE SET runs = chaos_run.runs + 1`, tc.TaskExecutionID, tc.Attempt, id, time.Now())
			err := startErr
			if err == nil {
				err = work(ctx)
			}
			ended := time.Now()
			// Retried while the server restarts or the process is cut off
			// from it: a body without an end counts as still running. When
			// the start's insert failed, it may still have committed (its
			// context ended while the server ran it, which may finish after
			// the error came back): the end is then set on the row once it
			// appears, for up to 5 s of answers saying it is not there.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
			defer cancel()
			var absentSince time.Time
			for {
				res, uerr := pool.Exec(wctx, `UPDATE `+schema+`.chaos_run SET ended_at = $3 WHERE task_execution_id = $1 AND attempt = $2`,
					tc.TaskExecutionID, tc.Attempt, ended)
				if uerr == nil && res.RowsAffected() == 0 && startErr != nil {
					if absentSince.IsZero() {
						absentSince = time.Now()
					}
					if time.Since(absentSince) < 5*time.Second {
						uerr = errors.New("the start's row is not there (yet)")
					}
				}
				if uerr == nil || wctx.Err() != nil {
					if err == nil {
						err = uerr
					}
					return err
				}
				select {
				case <-wctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
	}
	// A batch body works for a few milliseconds, so that events arrive
	// while it is alive.
	batch := body(working(20 * time.Millisecond))
	// The bodies that STOP and RESTART rules interrupt work longer.
	longer := body(working(200 * time.Millisecond))
	stream := body(func(ctx context.Context) error {
		<-ctx.Done()
		return context.Cause(ctx)
	})
	retry := aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 1000, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	var wfs []*aiflow.Workflow
	for _, name := range names {
		wf := aiflow.NewWorkflow(name)
		wf.Task("stream", noted(stream), aiflow.Streaming(), retry)
		a := wf.Task("a", noted(failSometimes(batch, 5)), retry)
		a.OnEvent("ping", aiflow.ActionStart)
		wf.Task("b", noted(batch)).StartAfter(a)
		wf.Task("c", noted(failSometimes(batch, 4))).OnCondition(sumReaches(10), aiflow.ActionStart)
		wf.Task("d", noted(longer)).OnEvent("kick", aiflow.ActionRestart)
		wf.Task("e", noted(longer)).OnEvent("go", aiflow.ActionStart).OnEvent("halt", aiflow.ActionStop)
		wf.Task("p", noted(batch), aiflow.Periodic(aiflow.Every(2*time.Second)))
		wfs = append(wfs, wf)
	}
	trig := aiflow.NewWorkflow("chaostrig")
	trig.Task("t", noted(batch))
	sched := aiflow.NewWorkflow("chaossched")
	sched.Task("t", noted(batch))
	wfs = append(wfs, trig, sched)
	c, err := aiflow.New(&aiflow.Config{
		Store: st, Logger: log, ClientID: id, LeaseTTL: partitionLease, PollInterval: 100 * time.Millisecond,
		StopTimeout: 5 * time.Second,
		// The streams live through every kill of the process running them:
		// no limit on their interruptions here.
		MaxInterruptions: 1 << 20,
	})
	if err != nil {
		return err
	}
	if err := c.Register(ctx, wfs...); err != nil {
		return err
	}
	// Between Register and Start: no "fire" event is consumed before the
	// trigger is evaluated.
	if _, err := c.AddWorkflowTrigger(ctx, "chaostrig", "every3", everyThird("fire"), nil); err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	fmt.Println("ready", id)
	<-ctx.Done()
	return c.Stop(context.Background())
}

// bodyErrors receives a line for every error a body returned of its own.
var bodyErrors *os.File

// noted runs op and, when it returns an error that is not the cancellation
// of its context, appends the error to bodyErrors before returning it (a
// single write with O_APPEND: whole lines, and kept by the kernel if the
// process is killed right after).
func noted(op aiflow.Operator) aiflow.Operator {
	return operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		err := op.Run(ctx, tc)
		if err != nil && ctx.Err() == nil {
			line := fmt.Sprintf("%d %d %s\n", tc.TaskExecutionID, tc.Attempt, strings.ReplaceAll(err.Error(), "\n", " "))
			if _, werr := bodyErrors.WriteString(line); werr != nil {
				return errors.Join(err, werr)
			}
		}
		return err
	})
}

// errOnPurpose is the error of the bodies that fail on purpose.
var errOnPurpose = errors.New("chaos: failing on purpose")

// failSometimes runs op and then fails one time in n.
func failSometimes(op aiflow.Operator, n int) aiflow.Operator {
	return operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		if err := op.Run(ctx, tc); err != nil {
			return err
		}
		if rand.IntN(n) == 0 {
			return errOnPurpose
		}
		return nil
	})
}

// working is the work of a batch body: up to max, or until its context
// ends.
func working(max time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-time.After(rand.N(max)):
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// everyThird is met by every third event with key (a count kept in its
// state).
func everyThird(key string) aiflow.Condition {
	return aiflow.NewCondition([]string{key}, func(cc *aiflow.ConditionContext, _ *aiflow.Event) (bool, error) {
		n := aiflow.ValueState[int](cc, "count")
		v, _, err := n.Value()
		if err != nil {
			return false, err
		}
		v = (v + 1) % 3
		return v == 0, n.Update(v)
	})
}

// sumReaches is met each time the sum of the "num" values it has seen reaches
// limit; it keeps the rest for the next time.
func sumReaches(limit int) aiflow.Condition {
	return aiflow.NewCondition([]string{"num"}, func(cc *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
		n, err := strconv.Atoi(ev.Value)
		if err != nil {
			return false, nil
		}
		sum := aiflow.ValueState[int](cc, "sum")
		v, _, err := sum.Value()
		if err != nil {
			return false, err
		}
		v += n
		met := v >= limit
		if met {
			v -= limit
		}
		return met, sum.Update(v)
	})
}

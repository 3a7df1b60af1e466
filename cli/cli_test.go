package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/cli"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// These tests build the aiflow binary once and run its commands against the
// real Postgres, next to a client in the test process that runs the
// workflows.

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aiflow-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "aiflow")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/aiflow-go/aiflow/cmd/aiflow").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the aiflow command: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(pgtest.LeakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// bed is one test's schema, and optionally a started client on it.
type bed struct {
	t      *testing.T
	ctx    context.Context
	schema string
	client *aiflow.Client
}

func newBed(t *testing.T) *bed {
	t.Helper()
	pool := pgtest.Pool(t, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &bed{t: t, ctx: ctx, schema: pgtest.SchemaName(t, pool)}
}

// env is the environment of the binary: the test database and schema, and
// nothing of the test process's AIFLOW_* variables.
func (b *bed) env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AIFLOW_") {
			out = append(out, kv)
		}
	}
	out = append(out, cli.EnvDatabaseURL+"="+pgtest.URL(), cli.EnvSchema+"="+b.schema)
	return append(out, extra...)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the binary with args; stdin is empty (not a terminal).
func (b *bed) run(env []string, args ...string) result {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else {
		require.NoError(b.t, err)
	}
	return r
}

// ok runs the binary and requires exit code 0.
func (b *bed) ok(args ...string) string {
	b.t.Helper()
	r := b.run(b.env(), args...)
	require.Equal(b.t, 0, r.code, "aiflow %s: stderr: %s", strings.Join(args, " "), r.stderr)
	return r.stdout
}

// fails runs the binary and requires exit code code and stderr containing
// msg.
func (b *bed) fails(code int, msg string, args ...string) {
	b.t.Helper()
	r := b.run(b.env(), args...)
	require.Equal(b.t, code, r.code, "aiflow %s: stdout: %s stderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	require.Contains(b.t, r.stderr, msg)
	require.True(b.t, strings.HasPrefix(r.stderr, "aiflow: error: "), r.stderr)
}

func (b *bed) json(v any, args ...string) {
	b.t.Helper()
	out := b.ok(append(args, "-o", "json")...)
	require.NoError(b.t, json.Unmarshal([]byte(out), v), out)
}

// start migrates the schema with the binary and starts a client on it
// running workflows.
func (b *bed) start(workflows ...*aiflow.Workflow) {
	b.t.Helper()
	require.Contains(b.t, b.ok("migrate"), "schema "+b.schema+" at version")
	pool := pgtest.Pool(b.t, 10)
	logger := slog.New(slog.NewTextHandler(testWriter{b.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := postgres.New(b.ctx, pool, &postgres.Config{Schema: b.schema, Logger: logger, EventPollInterval: 50 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond})
	require.NoError(b.t, err)
	c, err := aiflow.New(&aiflow.Config{Store: st, Logger: logger, PollInterval: 100 * time.Millisecond, LeaseTTL: 2 * time.Second})
	require.NoError(b.t, err)
	require.NoError(b.t, c.Register(b.ctx, workflows...))
	require.NoError(b.t, c.Start(b.ctx))
	b.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
		_ = st.Close()
	})
	b.client = c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor waits until ok holds (polling: the binary's writes reach the test
// process through the database).
func (b *bed) waitFor(what string, ok func() bool) {
	b.t.Helper()
	require.Eventually(b.t, ok, time.Minute, 20*time.Millisecond, what)
}

func (b *bed) runs(exec int64, task string) []aiflow.TaskExecution {
	b.t.Helper()
	tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: exec, Task: task})
	require.NoError(b.t, err)
	return tes
}

func (b *bed) waitRun(exec int64, task string, n int, status aiflow.TaskStatus) aiflow.TaskExecution {
	b.t.Helper()
	var te aiflow.TaskExecution
	b.waitFor(fmt.Sprintf("execution %d: %s #%d %s", exec, task, n, status), func() bool {
		rs := b.runs(exec, task)
		if len(rs) < n {
			return false
		}
		te = rs[n-1]
		return te.Status == status
	})
	return te
}

func (b *bed) waitExecution(id int64, status aiflow.WorkflowStatus) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("execution %d %s", id, status), func() bool {
		x, err := b.client.GetWorkflowExecution(b.ctx, id)
		require.NoError(b.t, err)
		return x.Status == status
	})
}

func nop() aiflow.Operator {
	return operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return tm
}

func parseInt(t *testing.T, s string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	require.NoError(t, err, s)
	return id
}

type eventJSON struct {
	ID              int64  `json:"id"`
	Position        string `json:"position"`
	Time            string `json:"time"`
	Namespace       string `json:"namespace"`
	Key             string `json:"key"`
	Value           string `json:"value"`
	Sender          string `json:"sender"`
	Workflow        string `json:"workflow"`
	ExecutionID     int64  `json:"execution_id"`
	Task            string `json:"task"`
	TaskExecutionID int64  `json:"task_execution_id"`
	SeqNum          int    `json:"seq_num"`
	Broadcast       bool   `json:"broadcast"`
	Internal        bool   `json:"internal"`
}

// decodeEvents reads the JSON objects "event listen -o json" prints, one a
// line.
func decodeEvents(t *testing.T, out string) []eventJSON {
	t.Helper()
	var evs []eventJSON
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var ev eventJSON
		require.NoError(t, json.Unmarshal([]byte(line), &ev), out)
		evs = append(evs, ev)
	}
	return evs
}

// TestEventSendFromATaskReachesItsExecution: a Bash task runs the aiflow
// binary, which picks up the task's context from its environment; the event
// starts the next task of the same execution, and no other.
func TestEventSendFromATaskReachesItsExecution(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	pass := map[string]string{"AIFLOW_BIN": bin, cli.EnvDatabaseURL: pgtest.URL(), cli.EnvSchema: b.schema}

	chain := aiflow.NewWorkflow("chain")
	chain.Task("sender", operators.Bash(`"$AIFLOW_BIN" event send ping "from $AIFLOW_TASK #$AIFLOW_SEQ_NUM"`), aiflow.WithEnv(pass))
	chain.Task("receiver", nop()).OnEvent("ping", aiflow.ActionStart)
	chain.Task("wide", operators.Bash(`"$AIFLOW_BIN" event send --namespace-wide wideping x`), aiflow.WithEnv(pass)).
		OnEvent("go_wide", aiflow.ActionStart)
	chain.Task("keep", nop()).OnEvent("never", aiflow.ActionStart) // keeps the execution RUNNING
	listener := aiflow.NewWorkflow("listener")
	listener.Task("receiver", nop()).OnEvent("ping", aiflow.ActionStart)
	listener.Task("wide_receiver", nop()).OnEvent("wideping", aiflow.ActionStart)
	listener.Task("witness", nop()).OnEvent("witness", aiflow.ActionStart)
	listener.Task("keep", nop()).OnEvent("never", aiflow.ActionStart)
	b.start(chain, listener)

	l := parseInt(t, b.ok("workflow-execution", "start", "listener"))
	b.waitExecution(l, aiflow.WorkflowRunning)
	c := parseInt(t, b.ok("workflow-execution", "start", "chain"))
	sender := b.waitRun(c, "sender", 1, aiflow.TaskSuccess)
	b.waitRun(c, "receiver", 1, aiflow.TaskSuccess)

	// The event carries the task's context, as TaskContext.SendEvent sets it.
	var evs []eventJSON
	b.json(&evs, "event", "list", "ping")
	require.Len(t, evs, 1)
	ev := evs[0]
	require.Equal(t, "from sender #1", ev.Value)
	require.Equal(t, c, ev.ExecutionID)
	require.Equal(t, "chain", ev.Workflow)
	require.Equal(t, "sender", ev.Task)
	require.Equal(t, sender.ID, ev.TaskExecutionID)
	require.Equal(t, 1, ev.SeqNum)
	require.Equal(t, fmt.Sprintf("%d_sender_1", c), ev.Sender)
	require.False(t, ev.Broadcast)
	// The command printed the position to the task's log.
	log := b.ok("task-execution", "logs", strconv.FormatInt(sender.ID, 10))
	require.Equal(t, ev.Position+"\n", log)

	// Witness: an event sent to the listener's execution only. Once it is
	// applied, "ping" (earlier in the log) was too, and did not reach it.
	require.Regexp(t, `^\d+-\d+\n$`, b.ok("event", "send", "--execution-id", strconv.FormatInt(l, 10), "witness"))
	b.waitRun(l, "witness", 1, aiflow.TaskSuccess)
	require.Empty(t, b.runs(l, "receiver"), "the task's event reached only its own execution")

	// --namespace-wide from inside a task reaches the other execution.
	b.ok("event", "send", "--execution-id", strconv.FormatInt(c, 10), "go_wide")
	b.waitRun(c, "wide", 1, aiflow.TaskSuccess)
	b.waitRun(l, "wide_receiver", 1, aiflow.TaskSuccess)
	b.json(&evs, "event", "list", "wideping")
	require.Len(t, evs, 1)
	require.True(t, evs[0].Broadcast)
	require.Equal(t, c, evs[0].ExecutionID)

	// The task context comes from the environment: the same command with a
	// task's variables, run from the test, also targets that execution...
	r := b.run(b.env(aiflow.EnvNamespace+"=default", aiflow.EnvTaskExecutionID+"="+strconv.FormatInt(sender.ID, 10)), "event", "send", "ping", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var sent eventJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sent))
	require.Equal(t, c, sent.ExecutionID)
	require.Equal(t, "sender", sent.Task)
	b.waitRun(c, "receiver", 2, aiflow.TaskSuccess)
	// ... unless told otherwise, and a malformed variable is refused.
	r = b.run(b.env(aiflow.EnvTaskExecutionID+"="+strconv.FormatInt(sender.ID, 10)), "event", "send", "--no-task-context", "other", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	sent = eventJSON{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sent))
	require.Zero(t, sent.ExecutionID)
	r = b.run(b.env(aiflow.EnvTaskExecutionID+"=x"), "event", "send", "ping")
	require.Equal(t, cli.ExitUsage, r.code)
	require.Contains(t, r.stderr, "AIFLOW_TASK_EXECUTION_ID")
	r = b.run(b.env(aiflow.EnvNamespace+"=nope", aiflow.EnvTaskExecutionID+"="+strconv.FormatInt(sender.ID, 10)), "event", "send", "ping")
	require.Equal(t, cli.ExitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, `task execution `+strconv.FormatInt(sender.ID, 10)+` is in namespace "default", not "nope"`)
}

// TestWorkflowAndExecutionCommands steers a running client's workflows with
// the binary.
func TestWorkflowAndExecutionCommands(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	w := aiflow.NewWorkflow("w")
	w.Task("quick", operators.Bash("echo hello from quick"))
	w.Task("stream", operators.Func(func(ctx context.Context, _ *aiflow.TaskContext) error {
		<-ctx.Done()
		return nil
	}), aiflow.Streaming()).OnEvent("restart_stream", aiflow.ActionRestart)
	w.Task("manual", nop()).OnEvent("never", aiflow.ActionStart)
	b.start(w)

	// Workflows, as registered by the client.
	require.Regexp(t, `(?m)^default\s+w\s+\S+\s+true\s`, b.ok("workflow", "list"))
	var wf struct {
		Name       string `json:"name"`
		Version    string `json:"version"`
		Enabled    bool   `json:"enabled"`
		Definition struct {
			Tasks []struct {
				Name string `json:"name"`
			} `json:"tasks"`
		} `json:"definition"`
		Versions []struct {
			Version string `json:"version"`
		} `json:"versions"`
	}
	b.json(&wf, "workflow", "show", "w")
	require.Equal(t, "w", wf.Name)
	require.True(t, wf.Enabled)
	require.Len(t, wf.Versions, 1)
	require.Equal(t, wf.Version, wf.Versions[0].Version)
	require.Len(t, wf.Definition.Tasks, 3)
	require.Contains(t, b.ok("workflow", "show", "w"), "DEFINITION:")
	var yw map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(b.ok("workflow", "show", "w", "-o", "yaml")), &yw))
	require.Equal(t, "w", yw["name"])
	b.fails(cli.ExitNotFound, `workflow not found: "nope"`, "workflow", "show", "nope")
	b.fails(cli.ExitNotFound, `namespace not found: "ghost"`, "workflow", "show", "w", "-n", "ghost")

	b.ok("workflow", "disable", "w")
	b.fails(cli.ExitConflict, "workflow disabled", "workflow-execution", "start", "w")
	b.ok("workflow", "enable", "w")

	// Executions.
	x1 := parseInt(t, b.ok("workflow-execution", "start", "w"))
	x2 := parseInt(t, b.ok("workflow-execution", "start", "w"))
	quick := b.waitRun(x1, "quick", 1, aiflow.TaskSuccess)
	b.waitRun(x1, "stream", 1, aiflow.TaskRunning)
	b.waitRun(x2, "stream", 1, aiflow.TaskRunning)
	require.Regexp(t, fmt.Sprintf(`(?m)^%d\s+default\s+w\s+RUNNING\s+MANUAL`, x1), b.ok("workflow-execution", "list", "w"))

	// The events of one execution, and only the user's.
	x1s := strconv.FormatInt(x1, 10)
	b.ok("event", "send", "--execution-id", x1s, "note", "for x1")
	var evs []eventJSON
	b.waitFor("the note to be listed", func() bool {
		b.json(&evs, "event", "list", "--execution-id", x1s, "--user-only")
		return len(evs) > 0
	})
	require.Len(t, evs, 1)
	require.Equal(t, "note", evs[0].Key)
	require.Equal(t, x1, evs[0].ExecutionID)
	require.False(t, evs[0].Internal)
	b.json(&evs, "event", "list", "--execution-id", x1s)
	internal := 0
	for _, ev := range evs {
		require.Equal(t, x1, ev.ExecutionID, "--execution-id lists only x1's events: %+v", ev)
		if ev.Internal {
			internal++
		}
	}
	require.Positive(t, internal, "without --user-only, the library's events of x1 (start request, status changes) are listed")
	require.Equal(t, len(evs)-1, internal, "and the note")
	b.json(&evs, "event", "list", "--user-only")
	require.Len(t, evs, 1, "the namespace's only user event so far: %+v", evs)
	require.Equal(t, "note", evs[0].Key)
	var xs []struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	b.json(&xs, "workflow-execution", "list", "--status", "running")
	require.Len(t, xs, 2)
	require.Equal(t, x2, xs[0].ID, "newest first")
	var x map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(b.ok("workflow-execution", "show", strconv.FormatInt(x1, 10), "-o", "yaml")), &x))
	require.Equal(t, "RUNNING", x["status"])
	require.Regexp(t, `(?m)^STATUS:\s+RUNNING$`, b.ok("workflow-execution", "show", strconv.FormatInt(x1, 10)))

	// Task executions.
	var tes []struct {
		ID     int64  `json:"id"`
		Task   string `json:"task"`
		Status string `json:"status"`
	}
	b.json(&tes, "task-execution", "list", strconv.FormatInt(x1, 10))
	require.Len(t, tes, 2) // quick and stream; manual waits for its event
	require.Contains(t, b.ok("task-execution", "show", strconv.FormatInt(quick.ID, 10)), "SUCCESS")
	require.Equal(t, "hello from quick\n", b.ok("task-execution", "logs", strconv.FormatInt(quick.ID, 10)))
	require.Equal(t, "from quick\n", b.ok("task-execution", "logs", "--offset", "6", strconv.FormatInt(quick.ID, 10)))
	require.Equal(t, "hello from quick\n", b.ok("task-execution", "logs", "-f", strconv.FormatInt(quick.ID, 10)), "-f ends with a finished task")
	b.ok("task-execution", "start", strconv.FormatInt(x1, 10), "manual")
	b.waitRun(x1, "manual", 1, aiflow.TaskSuccess)
	require.Regexp(t, `(?m)^1\s+\d+\s+SUCCESS\s+event \d+ .*requested`, b.ok("task-execution", "why", strconv.FormatInt(x1, 10), "manual"))
	var why aiflow.TaskExplanation
	b.json(&why, "task-execution", "why", strconv.FormatInt(x1, 10), "manual")
	require.Len(t, why.Runs, 1)
	require.Equal(t, aiflow.OutcomeStarted, why.Runs[0].StartedBy.Outcome)
	b.fails(cli.ExitNotFound, `"nope" is not a task of workflow "w"`, "task-execution", "why", strconv.FormatInt(x1, 10), "nope")
	b.fails(cli.ExitNotFound, "not registered in this process", "replay", "w")
	b.fails(cli.ExitUsage, "--begin-time", "replay", "w", "--begin-time", "yesterday")
	b.fails(cli.ExitNotFound, `"nope" is not a task of workflow "w"`, "task-execution", "start", strconv.FormatInt(x1, 10), "nope")
	b.fails(cli.ExitNotFound, "task execution not found", "task-execution", "show", "999999")
	b.fails(cli.ExitNotFound, "workflow execution not found", "task-execution", "list", "999999")
	b.ok("task-execution", "restart", strconv.FormatInt(x2, 10), "stream")
	b.waitRun(x2, "stream", 2, aiflow.TaskRunning)

	// Stop, stop-all, delete.
	b.ok("workflow-execution", "stop", strconv.FormatInt(x1, 10))
	b.waitExecution(x1, aiflow.WorkflowStopped)
	b.fails(cli.ExitConflict, "workflow execution finished", "workflow-execution", "stop", strconv.FormatInt(x1, 10))
	x3 := parseInt(t, b.ok("workflow-execution", "start", "w"))
	var stopped struct {
		Stopping []int64 `json:"stopping"`
	}
	b.json(&stopped, "workflow-execution", "stop-all", "w")
	require.Equal(t, []int64{x2, x3}, stopped.Stopping)
	b.waitExecution(x2, aiflow.WorkflowStopped)
	b.waitExecution(x3, aiflow.WorkflowStopped)
	// Stopping one task.
	x4 := parseInt(t, b.ok("workflow-execution", "start", "w"))
	b.waitRun(x4, "stream", 1, aiflow.TaskRunning)
	b.ok("task-execution", "stop", strconv.FormatInt(x4, 10), "stream")
	b.waitRun(x4, "stream", 1, aiflow.TaskStopped)

	b.fails(cli.ExitNotConfirmed, "pass -y to confirm", "workflow-execution", "delete", strconv.FormatInt(x1, 10))
	b.ok("workflow-execution", "show", strconv.FormatInt(x1, 10)) // still there
	b.waitFor("x1's tasks to have finished", func() bool {
		for _, te := range b.runs(x1, "") {
			if !te.Status.Finished() {
				return false
			}
		}
		return true
	})
	require.Equal(t, fmt.Sprintf("deleted workflow execution %d\n", x1), b.ok("workflow-execution", "delete", "-y", strconv.FormatInt(x1, 10)))
	b.fails(cli.ExitNotFound, "workflow execution not found", "workflow-execution", "show", strconv.FormatInt(x1, 10))
	b.fails(cli.ExitNotFound, "workflow execution not found", "workflow-execution", "delete", "-y", strconv.FormatInt(x1, 10))
	b.fails(cli.ExitUsage, `workflow execution id "x1"`, "workflow-execution", "show", "x1")

	// Schedules (a long interval: it never fires during the test).
	var s struct {
		ID         int64  `json:"id"`
		Expression string `json:"expression"`
		Paused     bool   `json:"paused"`
	}
	b.json(&s, "workflow-schedule", "add", "w", "interval@1 0 0 0")
	require.Equal(t, "interval@1 0 0 0", s.Expression)
	sid := strconv.FormatInt(s.ID, 10)
	require.Regexp(t, `(?m)^`+sid+`\s+default\s+w\s+interval@1 0 0 0\s+UTC\s+false`, b.ok("workflow-schedule", "list", "w"))
	b.ok("workflow-schedule", "pause", sid)
	b.json(&s, "workflow-schedule", "show", sid)
	require.True(t, s.Paused)
	b.ok("workflow-schedule", "resume", sid)
	b.json(&s, "workflow-schedule", "show", sid)
	require.False(t, s.Paused)
	b.fails(cli.ExitUsage, "expected", "workflow-schedule", "add", "w", "every hour")
	b.fails(cli.ExitNotConfirmed, "pass -y", "workflow-schedule", "delete", sid)
	b.ok("workflow-schedule", "delete", "-y", sid)
	b.fails(cli.ExitNotFound, "workflow schedule not found", "workflow-schedule", "show", sid)
	b.ok("workflow-schedule", "add", "w", "cron@0 0 1 1 *")
	b.ok("workflow-schedule", "add", "w", "cron@0 0 2 1 *", "--time-zone", "Europe/Paris", "--overlap", "skip")
	require.Equal(t, "deleted 2 schedule(s) of workflow w\n", b.ok("workflow-schedule", "delete-all", "-y", "w"))
	require.Equal(t, "[]\n", b.ok("workflow-schedule", "list", "-o", "json"))

	// Triggers: added by the application, steered here.
	_, err := b.client.AddWorkflowTrigger(b.ctx, "w", "on-deploy", aiflow.EventCondition("deploy"), nil)
	require.NoError(t, err)
	var trs []struct {
		ID     int64    `json:"id"`
		Name   string   `json:"name"`
		Keys   []string `json:"keys"`
		Paused bool     `json:"paused"`
	}
	b.json(&trs, "workflow-trigger", "list", "w")
	require.Len(t, trs, 1)
	require.Equal(t, []string{"deploy"}, trs[0].Keys)
	tid := strconv.FormatInt(trs[0].ID, 10)
	b.ok("workflow-trigger", "pause", tid)
	require.Regexp(t, `(?m)^PAUSED:\s+true$`, b.ok("workflow-trigger", "show", tid))
	b.ok("workflow-trigger", "resume", tid)
	// The trigger starts an execution on "deploy".
	b.ok("event", "send", "deploy")
	b.waitFor("an EVENT execution", func() bool {
		xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
		require.NoError(t, err)
		return len(xs) > 0 && xs[0].RunType == aiflow.RunEvent
	})
	b.ok("workflow-trigger", "delete", "-y", tid)
	b.fails(cli.ExitNotFound, "workflow trigger not found", "workflow-trigger", "show", tid)
	_, err = b.client.AddWorkflowTrigger(b.ctx, "w", "t2", aiflow.EventCondition("deploy2"), nil)
	require.NoError(t, err)
	require.Equal(t, "deleted 1 trigger(s) of workflow w\n", b.ok("workflow-trigger", "delete-all", "-y", "w"))

	// Deleting the workflow: refused while an execution is alive.
	b.ok("workflow-execution", "stop-all", "w")
	b.waitFor("no alive execution", func() bool {
		xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w",
			Statuses: []aiflow.WorkflowStatus{aiflow.WorkflowInit, aiflow.WorkflowRunning}})
		require.NoError(t, err)
		return len(xs) == 0
	})
	b.fails(cli.ExitNotConfirmed, "pass -y", "workflow", "delete", "w")
	b.ok("workflow", "delete", "-y", "w")
	b.fails(cli.ExitNotFound, "workflow not found", "workflow", "show", "w")
}

// TestCommandsWithoutAClient covers what needs no running application:
// migrations, namespaces, events, usage errors and exit codes.
func TestCommandsWithoutAClient(t *testing.T) {
	t.Parallel()
	b := newBed(t)

	// Before migrating: the status says so, other commands say what to do.
	require.Contains(t, b.ok("migrate", "status"), "pending: run 'aiflow migrate'")
	b.fails(cli.ExitError, "run 'aiflow migrate'", "namespace", "list")
	all := make([]string, postgres.LatestVersion())
	for i := range all {
		all[i] = strconv.Itoa(i + 1)
	}
	require.Contains(t, b.ok("migrate"), "applied ["+strings.Join(all, " ")+"]")
	require.Contains(t, b.ok("migrate"), "nothing to apply")
	var st struct {
		Version  int  `json:"version"`
		Latest   int  `json:"latest"`
		UpToDate bool `json:"up_to_date"`
	}
	b.json(&st, "migrate", "status")
	require.True(t, st.UpToDate)
	require.Equal(t, postgres.LatestVersion(), st.Version)
	require.Contains(t, b.ok("version"), fmt.Sprintf("schema version %d", postgres.LatestVersion()))

	// Namespaces.
	require.Equal(t, "added namespace team\n", b.ok("namespace", "add", "team"))
	b.fails(cli.ExitConflict, `already exists: namespace "team"`, "namespace", "add", "team")
	b.fails(cli.ExitUsage, "namespace name", "namespace", "add", "bad name")
	var nss []struct {
		Name string `json:"name"`
	}
	b.json(&nss, "namespace", "list")
	require.Equal(t, "default", nss[0].Name)
	require.Equal(t, "team", nss[1].Name)
	b.fails(cli.ExitNotConfirmed, "pass -y to confirm", "namespace", "delete", "team")
	b.ok("namespace", "delete", "team", "-y")
	b.fails(cli.ExitNotFound, "namespace not found", "namespace", "delete", "ghost", "-y")
	b.fails(cli.ExitConflict, `"default" cannot be deleted`, "namespace", "delete", "default", "-y")
	b.ok("namespace", "add", "team")

	// Listing in a namespace that does not exist is an error, as showing
	// one of its workflows is; an existing namespace lists nothing.
	const ghost = `namespace not found: "ghost": add it with Client.AddNamespace or "aiflow namespace add ghost"`
	for _, args := range [][]string{
		{"workflow", "list"}, {"workflow-execution", "list"}, {"workflow-schedule", "list"}, {"workflow-trigger", "list"},
		{"event", "list"}, {"event", "count"}, {"event", "listen", "--max", "1"},
	} {
		b.fails(cli.ExitNotFound, ghost, append(args, "-n", "ghost")...)
		if args[1] == "list" {
			require.Equal(t, "[]\n", b.ok(append(args, "-n", "team", "-o", "json")...), args)
		}
	}
	require.Equal(t, "0\n", b.ok("event", "count", "-n", "team"))
	r := b.run(b.env(aiflow.EnvNamespace+"=ghost"), "workflow", "list")
	require.Equal(t, cli.ExitNotFound, r.code, r.stderr)
	require.Contains(t, r.stderr, ghost)

	// Events: send, list with filters, count, listen.
	p1 := strings.TrimSpace(b.ok("event", "send", "k", "v1"))
	p2 := strings.TrimSpace(b.ok("event", "send", "k", "v2", "--sender", "me"))
	b.ok("event", "send", "other", "x")
	b.ok("event", "send", "k", "in team", "-n", "team")
	b.waitFor("the events to be listed", func() bool {
		return strings.TrimSpace(b.ok("event", "count", "-A")) == "4"
	})
	var evs []eventJSON
	b.json(&evs, "event", "list", "k")
	require.Len(t, evs, 2)
	require.Equal(t, p1, evs[0].Position)
	require.Equal(t, "v2", evs[1].Value)
	require.Equal(t, "aiflow.client", evs[0].Sender)
	b.json(&evs, "event", "list", "k", "--sender", "me")
	require.Len(t, evs, 1)
	b.json(&evs, "event", "list", "k", "--begin-position", p1)
	require.Len(t, evs, 1)
	require.Equal(t, p2, evs[0].Position)
	b.json(&evs, "event", "list", "--begin-time", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	require.Empty(t, evs)
	// --begin-time between events: the later ones only. v2's time is
	// recorded; v1 was appended before it, "other" after.
	b.json(&evs, "event", "list", "k")
	t1, t2 := evs[0].Time, evs[1].Time
	require.True(t, parseTime(t, t1).Before(parseTime(t, t2)), "%s before %s", t1, t2)
	b.json(&evs, "event", "list", "--begin-time", t2)
	require.Len(t, evs, 2, "v2 and other, not v1: %+v", evs)
	require.Equal(t, p2, evs[0].Position)
	require.Equal(t, "other", evs[1].Key)
	b.json(&evs, "event", "list", "k", "--begin-time", t1)
	require.Len(t, evs, 2, "at or after v1's time: v1 too")
	require.Equal(t, "2\n", b.ok("event", "count", "--begin-time", t2))
	require.Equal(t, "3\n", b.ok("event", "count", "-A", "--begin-time", t2), "with the event in team")
	b.json(&evs, "event", "list", "k", "other")
	require.Len(t, evs, 3)
	b.json(&evs, "event", "list", "-A", "k")
	require.Len(t, evs, 3)
	b.json(&evs, "event", "list", "--limit", "1")
	require.Len(t, evs, 1)
	require.Equal(t, "2\n", b.ok("event", "count", "k"))
	require.Equal(t, "1\n", b.ok("event", "count", "k", "-n", "team"))
	var count struct {
		Count int `json:"count"`
	}
	b.json(&count, "event", "count", "--begin-position", p1, "k")
	require.Equal(t, 1, count.Count)
	require.Regexp(t, `(?m)^POSITION\s+TIME\s+NAMESPACE\s+KEY\s+VALUE\s+SENDER\s+EXECUTION\n`+p1+`\s+\S+\s+default\s+k\s+v1\s+aiflow.client\s+-$`, b.ok("event", "list", "k"))
	// A value from stdin.
	cmd := exec.CommandContext(b.ctx, bin, "event", "send", "piped", "-", "-o", "json")
	cmd.Env = b.env()
	cmd.Stdin = strings.NewReader("line 1\nline 2\n")
	out, err := cmd.Output()
	require.NoError(t, err)
	var piped eventJSON
	require.NoError(t, json.Unmarshal(out, &piped))
	require.Equal(t, "line 1\nline 2\n", piped.Value)

	// Listen from a time: the past events at or after it, in log order, up
	// to --max.
	lst := decodeEvents(t, b.ok("event", "listen", "--begin-time", t2, "--max", "2", "-o", "json"))
	require.Len(t, lst, 2)
	require.Equal(t, p2, lst[0].Position)
	require.Equal(t, "other", lst[1].Key)
	lst = decodeEvents(t, b.ok("event", "listen", "k", "--begin-time", t2, "--max", "1", "-o", "json"))
	require.Len(t, lst, 1)
	require.Equal(t, p2, lst[0].Position)

	// Listen from a position: past events first; --max ends it.
	out2 := b.ok("event", "listen", "k", "--begin-position", p1, "--max", "1", "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(out2), &piped))
	require.Equal(t, p2, piped.Position)
	// Listen from now: an event sent while it listens.
	lis := exec.CommandContext(b.ctx, bin, "event", "listen", "live", "--max", "1")
	lis.Env = b.env()
	hdr := &lineWaiter{ch: make(chan struct{}, 1)}
	lis.Stdout = hdr
	require.NoError(t, lis.Start())
	hdr.wait(t, "POSITION") // listening: the header is printed after the start position is read
	b.ok("event", "send", "live", "now")
	require.NoError(t, lis.Wait())
	require.Regexp(t, `(?m)^\d+-\d+\s+\S+\s+default\s+live\s+now\s+aiflow.client\s+-$`, hdr.String())

	// Bad input and usage errors.
	big := strings.Repeat("x", aiflow.MaxEventValueBytes+1)
	b.fails(cli.ExitUsage, "event too large", "event", "send", "k", big)
	b.fails(cli.ExitUsage, "reserved for the library", "event", "send", "aiflow.start_execution")
	b.fails(cli.ExitNotFound, `namespace not found: "ghost"`, "event", "send", "k", "-n", "ghost")
	b.fails(cli.ExitUsage, "expected the form XID-ID", "event", "list", "--begin-position", "12")
	b.fails(cli.ExitUsage, "--begin-time", "event", "list", "--begin-time", "yesterday")
	b.fails(cli.ExitUsage, "unknown command", "nope")
	b.fails(cli.ExitUsage, "unknown flag", "event", "list", "--bogus")
	b.fails(cli.ExitUsage, "accepts 1 arg(s)", "namespace", "add")
	b.fails(cli.ExitUsage, `--output "xml"`, "namespace", "list", "-o", "xml")
	b.fails(cli.ExitNotFound, "workflow execution not found", "event", "send", "k", "--execution-id", "424242")
	r = b.run(nil, "namespace", "list")
	require.Equal(t, cli.ExitUsage, r.code)
	require.Contains(t, r.stderr, "no database: set --database-url or AIFLOW_DATABASE_URL")
	r = b.run(b.env(), "namespace", "list", "--database-url", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	require.Equal(t, cli.ExitError, r.code)
	require.Contains(t, r.stderr, "connecting to the database")
}

// lineWaiter is an io.Writer that lets a test wait for some output.
type lineWaiter struct {
	ch  chan struct{}
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	n, err := w.buf.Write(p)
	w.mu.Unlock()
	select {
	case w.ch <- struct{}{}:
	default:
	}
	return n, err
}

func (w *lineWaiter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *lineWaiter) wait(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for !strings.Contains(w.String(), s) {
		select {
		case <-w.ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %q in %q", s, w.String())
		}
	}
}

// TestConfirmationAtAPrompt runs the commands in process, as an application
// mounting them would, with a terminal that answers the prompt.
func TestConfirmationAtAPrompt(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	b.ok("migrate")
	b.ok("namespace", "add", "team")
	env := map[string]string{cli.EnvDatabaseURL: pgtest.URL(), cli.EnvSchema: b.schema}
	run := func(answer string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := cli.Main(b.ctx, args, &cli.Options{
			Stdin: strings.NewReader(answer), Stdout: &stdout, Stderr: &stderr,
			Getenv:      func(k string) string { return env[k] },
			Interactive: func() bool { return true },
		})
		return code, stdout.String(), stderr.String()
	}
	code, _, stderr := run("n\n", "namespace", "delete", "team")
	require.Equal(t, cli.ExitNotConfirmed, code)
	require.Contains(t, stderr, `delete namespace "team"? [y/N] `)
	require.Contains(t, stderr, "declined")
	code, stdout, stderr := run("y\n", "namespace", "delete", "team")
	require.Equal(t, cli.ExitOK, code, stderr)
	require.Equal(t, "deleted namespace team\n", stdout)
	code, _, _ = run("", "namespace", "delete", "team", "-y")
	require.Equal(t, cli.ExitNotFound, code)
}

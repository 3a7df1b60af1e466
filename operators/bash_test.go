//go:build unix

package operators_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type bed struct {
	t      *testing.T
	ctx    context.Context
	client *aiflow.Client
	// reader, never started, inspects the store (after client stopped too).
	reader *aiflow.Client
}

func newBed(t *testing.T, wfs ...*aiflow.Workflow) *bed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	st := memory.New(nil)
	c, err := aiflow.New(&aiflow.Config{Store: st, PollInterval: 20 * time.Millisecond, StopGracePeriod: 5 * time.Second})
	require.NoError(t, err)
	require.NoError(t, c.Register(ctx, wfs...))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	reader, err := aiflow.New(&aiflow.Config{Store: st})
	require.NoError(t, err)
	return &bed{t: t, ctx: ctx, client: c, reader: reader}
}

// run starts an execution and returns the first run of task once it is in
// one of statuses.
func (b *bed) run(wf, task string, statuses ...aiflow.TaskStatus) (int64, aiflow.TaskExecution) {
	b.t.Helper()
	id, err := b.client.StartWorkflowExecution(b.ctx, wf, nil)
	require.NoError(b.t, err)
	return id, b.wait(id, task, statuses...)
}

func (b *bed) wait(id int64, task string, statuses ...aiflow.TaskStatus) aiflow.TaskExecution {
	b.t.Helper()
	var te aiflow.TaskExecution
	require.Eventually(b.t, func() bool {
		tes, err := b.reader.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: id, Task: task})
		require.NoError(b.t, err)
		if len(tes) == 0 {
			return false
		}
		te = tes[0]
		for _, s := range statuses {
			if te.Status == s {
				return true
			}
		}
		return false
	}, 30*time.Second, 5*time.Millisecond, "task %s of execution %d in %v", task, id, statuses)
	return te
}

// log waits until the task execution's log matches re and returns it.
func (b *bed) log(id int64, re string) string {
	b.t.Helper()
	var out string
	require.Eventually(b.t, func() bool {
		data, _, err := b.reader.ReadTaskLog(b.ctx, id, 0, 0)
		require.NoError(b.t, err)
		out = string(data)
		return regexp.MustCompile(re).MatchString(out)
	}, 30*time.Second, 5*time.Millisecond, "log matching %q", re)
	return out
}

func TestBashOutputEnvironmentAndWorkDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wf := aiflow.NewWorkflow("w")
	wf.Task("sh", operators.Bash(`echo out; echo err >&2; pwd; echo "ns=$AIFLOW_NAMESPACE wf=$AIFLOW_WORKFLOW x=$AIFLOW_WORKFLOW_EXECUTION_ID task=$AIFLOW_TASK te=$AIFLOW_TASK_EXECUTION_ID seq=$AIFLOW_SEQ_NUM attempt=$AIFLOW_ATTEMPT mine=$MINE"`),
		aiflow.WithEnv(map[string]string{"MINE": "yes"}), aiflow.WithWorkDir(dir))
	b := newBed(t, wf)
	id, te := b.run("w", "sh", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	log := b.log(te.ID, "mine=yes")
	require.Contains(t, log, "out\n")
	require.Contains(t, log, "err\n", "stderr goes to the log too")
	require.Contains(t, log, dir+"\n", "the command runs in the task's work dir")
	require.Contains(t, log, "ns=default wf=w x="+strconv.FormatInt(id, 10)+" task=sh te="+strconv.FormatInt(te.ID, 10)+" seq=1 attempt=1 mine=yes")
}

func TestBashNonZeroExitFails(t *testing.T) {
	t.Parallel()
	wf := aiflow.NewWorkflow("w")
	wf.Task("sh", operators.Bash("echo about to fail; exit 3"))
	b := newBed(t, wf)
	_, te := b.run("w", "sh", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskFailed, te.Status)
	require.Contains(t, te.Error, `exited with status 3`)
	b.log(te.ID, "about to fail")
}

// pidAlive reports whether a process exists (a zombie counts as gone).
func pidAlive(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data))
	return len(fields) > 2 && fields[2] != "Z"
}

func TestBashStopTerminatesTheProcessGroup(t *testing.T) {
	t.Parallel()
	wf := aiflow.NewWorkflow("w")
	// A child in the background (same process group) and a TERM trap.
	wf.Task("sh", operators.Bash(`sleep 1000 & echo "child=$!"; trap 'echo got TERM; exit 0' TERM; while :; do sleep 0.05; done`))
	b := newBed(t, wf)
	id, te := b.run("w", "sh", aiflow.TaskRunning)
	log := b.log(te.ID, `child=\d+`)
	child, err := strconv.Atoi(regexp.MustCompile(`child=(\d+)`).FindStringSubmatch(log)[1])
	require.NoError(t, err)
	require.True(t, pidAlive(child))
	require.NoError(t, b.client.StopTaskExecution(b.ctx, id, "sh"))
	te = b.wait(id, "sh", aiflow.TaskStopped)
	b.log(te.ID, "got TERM")
	require.Eventually(t, func() bool { return !pidAlive(child) }, 10*time.Second, 10*time.Millisecond,
		"the background child (same process group) got the signal too")
}

func TestBashStopKillsAfterTheGracePeriod(t *testing.T) {
	t.Parallel()
	wf := aiflow.NewWorkflow("w")
	wf.Task("sh", operators.Bash(`trap '' TERM; echo "pid=$$"; while :; do sleep 0.05; done`, operators.WithKillGrace(200*time.Millisecond)))
	b := newBed(t, wf)
	id, te := b.run("w", "sh", aiflow.TaskRunning)
	log := b.log(te.ID, `pid=\d+`)
	pid, _ := strconv.Atoi(regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(log)[1])
	start := time.Now()
	require.NoError(t, b.client.StopTaskExecution(b.ctx, id, "sh"))
	b.wait(id, "sh", aiflow.TaskStopped)
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "SIGTERM was ignored: SIGKILL came after the grace period")
	require.Eventually(t, func() bool { return !pidAlive(pid) }, 10*time.Second, 10*time.Millisecond)
}

func TestBashDescribesItsCommand(t *testing.T) {
	t.Parallel()
	require.Equal(t, "echo hi", operators.Bash("echo hi").Describe())
	// A changed command is a new workflow version.
	versions := map[string]bool{}
	for _, cmd := range []string{"echo a", "echo b"} {
		wf := aiflow.NewWorkflow("w")
		wf.Task("t", operators.Bash(cmd))
		st := memory.New(nil)
		c, err := aiflow.New(&aiflow.Config{Store: st})
		require.NoError(t, err)
		require.NoError(t, c.Register(context.Background(), wf))
		require.NoError(t, c.Start(context.Background()))
		info, err := c.GetWorkflow(context.Background(), "", "w")
		require.NoError(t, err)
		versions[info.Version] = true
		require.NoError(t, c.Stop(context.Background()))
	}
	require.Len(t, versions, 2)
}

func TestFuncErrorsPanicsAndCancellation(t *testing.T) {
	t.Parallel()
	cancelled := make(chan error, 1)
	wf := aiflow.NewWorkflow("w")
	wf.Task("errs", operators.Func(func(context.Context, *aiflow.TaskContext) error { return syscall.ENOSPC }))
	wf.Task("panics", operators.Func(func(context.Context, *aiflow.TaskContext) error { panic("oops") }))
	wf.Task("waits", operators.Func(func(ctx context.Context, _ *aiflow.TaskContext) error {
		<-ctx.Done()
		cancelled <- context.Cause(ctx)
		return nil
	}))
	b := newBed(t, wf)
	id, te := b.run("w", "errs", aiflow.TaskFailed)
	require.Contains(t, te.Error, "no space left on device")
	require.Contains(t, b.wait(id, "panics", aiflow.TaskFailed).Error, "operator panicked: oops")
	b.wait(id, "waits", aiflow.TaskRunning)
	require.NoError(t, b.client.StopTaskExecution(b.ctx, id, "waits"))
	select {
	case err := <-cancelled:
		require.Error(t, err, "the context says why it ended")
	case <-time.After(30 * time.Second):
		t.Fatal("the function's context was not cancelled on STOP")
	}
	b.wait(id, "waits", aiflow.TaskStopped)
	require.Contains(t, operators.Func(nil).Describe(), "nil")
}

// TestEmptyCommandsAreRefusedAtRegistration: a Bash operator without a
// command, or a Python operator without a script or module, would run
// nothing and succeed; registration refuses them.
func TestEmptyCommandsAreRefusedAtRegistration(t *testing.T) {
	t.Parallel()
	c, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	require.NoError(t, err)
	for _, op := range []aiflow.Operator{
		operators.Bash(""), operators.Bash("  \n"), operators.Bash("true", operators.WithShell("")),
		operators.Python(operators.PythonConfig{}), operators.Python(operators.PythonConfig{Script: " "}),
	} {
		wf := aiflow.NewWorkflow("w")
		wf.Task("t", op)
		err := c.Register(t.Context(), wf)
		require.ErrorIs(t, err, aiflow.ErrInvalidWorkflow, "%#v", op)
		require.ErrorContains(t, err, `task "t": operator: operators.`)
	}
}

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
	"github.com/aiflow-go/aiflow/aiflowtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newEnv returns a started client running wfs on a memory store, on the
// real clock: the operators run processes and wait on real time.
func newEnv(t *testing.T, wfs ...*aiflow.Workflow) *aiflowtest.Env {
	t.Helper()
	return aiflowtest.New(t, &aiflowtest.Opts{RealClock: true, Timeout: waitFor, Config: func(c *aiflow.Config) {
		c.PollInterval, c.StopGracePeriod = 20*time.Millisecond, 5*time.Second
	}}, wfs...)
}

func TestBashOutputEnvironmentAndWorkDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wf := aiflow.NewWorkflow("w")
	wf.Task("sh", operators.Bash(`echo out; echo err >&2; pwd; echo "ns=$AIFLOW_NAMESPACE wf=$AIFLOW_WORKFLOW x=$AIFLOW_WORKFLOW_EXECUTION_ID task=$AIFLOW_TASK te=$AIFLOW_TASK_EXECUTION_ID seq=$AIFLOW_SEQ_NUM attempt=$AIFLOW_ATTEMPT mine=$MINE"`),
		aiflow.WithEnv(map[string]string{"MINE": "yes"}), aiflow.WithWorkDir(dir))
	env := newEnv(t, wf)
	id, te := env.RunTask("w", "sh", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	log := env.WaitTaskLog(te.ID, "mine=yes")
	require.Contains(t, log, "out\n")
	require.Contains(t, log, "err\n", "stderr goes to the log too")
	require.Contains(t, log, dir+"\n", "the command runs in the task's work dir")
	require.Contains(t, log, "ns=default wf=w x="+strconv.FormatInt(id, 10)+" task=sh te="+strconv.FormatInt(te.ID, 10)+" seq=1 attempt=1 mine=yes")
}

func TestBashNonZeroExitFails(t *testing.T) {
	t.Parallel()
	wf := aiflow.NewWorkflow("w")
	wf.Task("sh", operators.Bash("echo about to fail; exit 3"))
	env := newEnv(t, wf)
	_, te := env.RunTask("w", "sh", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskFailed, te.Status)
	require.Contains(t, te.Error, `exited with status 3`)
	env.WaitTaskLog(te.ID, "about to fail")
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
	env := newEnv(t, wf)
	id, te := env.RunTask("w", "sh", aiflow.TaskRunning)
	log := env.WaitTaskLog(te.ID, `child=\d+`)
	child, err := strconv.Atoi(regexp.MustCompile(`child=(\d+)`).FindStringSubmatch(log)[1])
	require.NoError(t, err)
	require.True(t, pidAlive(child))
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), id, "sh"))
	te = env.WaitTaskExecution(id, "sh", 1, aiflow.TaskStopped)
	env.WaitTaskLog(te.ID, "got TERM")
	require.Eventually(t, func() bool { return !pidAlive(child) }, 10*time.Second, 10*time.Millisecond,
		"the background child (same process group) got the signal too")
}

func TestBashStopKillsAfterTheGracePeriod(t *testing.T) {
	t.Parallel()
	wf := aiflow.NewWorkflow("w")
	wf.Task("sh", operators.Bash(`trap '' TERM; echo "pid=$$"; while :; do sleep 0.05; done`, operators.WithKillGrace(200*time.Millisecond)))
	env := newEnv(t, wf)
	id, te := env.RunTask("w", "sh", aiflow.TaskRunning)
	log := env.WaitTaskLog(te.ID, `pid=\d+`)
	pid, _ := strconv.Atoi(regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(log)[1])
	start := time.Now()
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), id, "sh"))
	env.WaitTaskExecution(id, "sh", 1, aiflow.TaskStopped)
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
	env := newEnv(t, wf)
	id, te := env.RunTask("w", "errs", aiflow.TaskFailed)
	require.Contains(t, te.Error, "no space left on device")
	require.Contains(t, env.WaitTaskExecution(id, "panics", 1, aiflow.TaskFailed).Error, "operator panicked: oops")
	env.WaitTaskExecution(id, "waits", 1, aiflow.TaskRunning)
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), id, "waits"))
	select {
	case err := <-cancelled:
		require.Error(t, err, "the context says why it ended")
	case <-time.After(30 * time.Second):
		t.Fatal("the function's context was not cancelled on STOP")
	}
	env.WaitTaskExecution(id, "waits", 1, aiflow.TaskStopped)
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

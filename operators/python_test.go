//go:build unix

package operators_test

import (
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
)

func TestPythonScriptAndModule(t *testing.T) {
	t.Parallel()
	testdata, err := filepath.Abs("testdata")
	require.NoError(t, err)
	wf := aiflow.NewWorkflow("w")
	wf.Task("script", operators.Python(operators.PythonConfig{Script: "train.py", Args: []string{"--epochs", "3"}}),
		aiflow.WithWorkDir(testdata), aiflow.WithEnv(map[string]string{"MINE": "yes"}))
	wf.Task("module", operators.Python(operators.PythonConfig{Module: "pytasks.evaluate", Args: []string{"a", "b"}, InterpreterOptions: []string{"-u"}}),
		aiflow.WithWorkDir(testdata))
	wf.Task("fails", operators.Python(operators.PythonConfig{Script: filepath.Join(testdata, "train.py"), Args: []string{"--fail"}}))
	wf.Task("expands", operators.Python(operators.PythonConfig{Script: "train.py",
		Args: []string{"--te", "${AIFLOW_TASK_EXECUTION_ID}", "${MINE}", "$HOME", "${HOME}", "$${MINE}"}}),
		aiflow.WithWorkDir(testdata), aiflow.WithEnv(map[string]string{"MINE": "yes"}))
	env := newEnv(t, wf)
	x, te := env.RunTask("w", "script", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	log := env.WaitTaskLog(te.ID, "mine=yes")
	require.Contains(t, log, "args=--epochs,3\n")
	require.Contains(t, log, "task=script seq=1 mine=yes\n")
	require.Contains(t, log, "to stderr\n")

	te = env.WaitTaskExecution(x, "module", 1, aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	env.WaitTaskLog(te.ID, "module __main__ args=a,b\n")

	te = env.WaitTaskExecution(x, "expands", 1, aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	env.WaitTaskLog(te.ID, regexp.QuoteMeta("args=--te,"+strconv.FormatInt(te.ID, 10)+",yes,$HOME,${HOME},${MINE}\n"))

	te = env.WaitTaskExecution(x, "fails", 1, aiflow.TaskFailed)
	require.Contains(t, te.Error, "exited with status 4")
	env.WaitTaskLog(te.ID, "args=--fail")

	require.Equal(t, "python3 -u -m pytasks.evaluate a b",
		operators.Python(operators.PythonConfig{Module: "pytasks.evaluate", Args: []string{"a", "b"}, InterpreterOptions: []string{"-u"}}).Describe())
	bad := aiflow.NewWorkflow("bad")
	bad.Task("t", operators.Python(operators.PythonConfig{Script: "a.py", Module: "b"}))
	require.ErrorIs(t, env.Client.Register(env.Context(), bad), aiflow.ErrInvalidWorkflow)
}

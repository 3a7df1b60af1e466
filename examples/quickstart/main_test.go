package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowtest"
	"github.com/aiflow-go/aiflow/examples/internal/exampleenv"
	"github.com/aiflow-go/aiflow/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, pgtest.LeakOptions()...) }

func TestQuickstart(t *testing.T) {
	t.Setenv(exampleenv.DatabaseURLEnv, "") // the memory store
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	status, err := run(ctx, &out)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, status, out.String())
	require.Equal(t, int64(1), checkOutput(t, out.String()))
}

// The quickstart on Postgres, as "AIFLOW_DATABASE_URL=... go run
// ./examples/quickstart" runs it, in a schema of its own (AIFLOW_SCHEMA)
// that is dropped afterwards. It skips without a reachable server, and
// fails instead under AIFLOW_TEST_REQUIRE_POSTGRES=1.
func TestQuickstartOnPostgres(t *testing.T) {
	pool := pgtest.Pool(t, 2)
	schema := pgtest.SchemaName(t, pool)
	t.Setenv(exampleenv.DatabaseURLEnv, pgtest.URL())
	t.Setenv(exampleenv.SchemaEnv, schema)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	status, err := run(ctx, &out)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, status, out.String())
	id := checkOutput(t, out.String())

	// The execution is in the schema named by AIFLOW_SCHEMA.
	var n int
	var got string
	require.NoError(t, pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) OVER (), status FROM %s.aiflow_workflow_execution WHERE id = $1`, schema), id).
		Scan(&n, &got))
	require.Equal(t, 1, n)
	require.Equal(t, string(aiflow.WorkflowSuccess), got)
	require.NoError(t, pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s.aiflow_task_execution WHERE execution_id = $1 AND status = 'SUCCESS'`, schema), id).
		Scan(&n))
	require.Equal(t, 4, n, "task1 to task4 succeeded")
}

// A schema name the store refuses is an error that names the variable
// (before any connection: no server needed).
func TestQuickstartRefusesABadSchema(t *testing.T) {
	t.Setenv(exampleenv.DatabaseURLEnv, pgtest.URL())
	t.Setenv(exampleenv.SchemaEnv, "no-dashes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := run(ctx, &bytes.Buffer{})
	require.ErrorContains(t, err, `AIFLOW_SCHEMA="no-dashes"`)
	require.ErrorContains(t, err, "expected 1 to 63 letters, digits or '_'")
}

var startedRe = regexp.MustCompile(`(?m)^started workflow execution (\d+) of quickstart_workflow$`)

// checkOutput checks the order of the printed status changes and returns
// the execution's id.
func checkOutput(t *testing.T, out string) int64 {
	t.Helper()
	m := startedRe.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	id, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	lines := strings.Split(out, "\n")
	index := func(line string) int {
		t.Helper()
		for i, l := range lines {
			if l == line {
				return i
			}
		}
		t.Fatalf("output lacks %q:\n%s", line, out)
		return -1
	}
	// task3 runs after task1 and task2 succeeded; task4 after task3's event.
	require.Less(t, index("task task1 #1: SUCCESS"), index("task task3 #1: QUEUED"))
	require.Less(t, index("task task2 #1: SUCCESS"), index("task task3 #1: QUEUED"))
	require.Less(t, index(fmt.Sprintf(`event "key" = "This is a custom message." from %d_task3_1`, id)), index("task task4 #1: QUEUED"))
	require.Less(t, index("task task4 #1: SUCCESS"), index(fmt.Sprintf("workflow execution %d: SUCCESS", id)))
	return id
}

// The workflow alone, through the test kit: task3 sends the event, task4
// runs on it, each task once.
func TestWorkflowWithTheTestKit(t *testing.T) {
	env := aiflowtest.New(t, nil, Workflow())
	id, err := env.Client.StartWorkflowExecution(env.Context(), "quickstart_workflow", nil)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, env.WaitExecution(id).Status)
	evs := env.RequireEvents(id, EventKey)
	require.Equal(t, "task3", evs[0].TaskName)
	env.WaitTaskExecution(id, "task4", 1, aiflow.TaskSuccess)
	tes, err := env.Client.ListTaskExecutions(env.Context(), &aiflow.TaskExecutionFilter{ExecutionID: id})
	require.NoError(t, err)
	require.Len(t, tes, 4, "each task ran once")
}

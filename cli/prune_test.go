package cli_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/cli"
)

// TestPrune: "prune --dry-run" counts and deletes nothing, "prune" asks for
// confirmation and then deletes the finished execution older than the
// retention, and keeps the running one.
func TestPrune(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	done := aiflow.NewWorkflow("done")
	done.Task("quick", nop())
	live := aiflow.NewWorkflow("live")
	live.Task("manual", nop()).OnEvent("never", aiflow.ActionStart)
	b.start(done, live)
	x := parseInt(t, b.ok("workflow-execution", "start", "done"))
	running := parseInt(t, b.ok("workflow-execution", "start", "live"))
	b.waitExecution(x, aiflow.WorkflowSuccess)
	b.waitExecution(running, aiflow.WorkflowRunning)

	var dry struct {
		DryRun              bool   `json:"dry_run"`
		ExecutionsRetention string `json:"executions_retention"`
		EventsRetention     string `json:"events_retention"`
		WorkflowExecutions  int64  `json:"workflow_executions"`
		TaskExecutions      int64  `json:"task_executions"`
		Decisions           int64  `json:"decisions"`
		Events              int64  `json:"events"`
	}
	b.json(&dry, "prune", "--dry-run", "--executions", "1ms", "--events", "0")
	require.True(t, dry.DryRun)
	require.Equal(t, "1ms", dry.ExecutionsRetention)
	require.Equal(t, "0 (kept)", dry.EventsRetention)
	require.Equal(t, int64(1), dry.WorkflowExecutions, "the finished execution, not the running one")
	require.Equal(t, int64(1), dry.TaskExecutions)
	require.Positive(t, dry.Decisions, "the decision that started its task")
	require.Zero(t, dry.Events, "events are kept with --events 0")
	_, err := b.client.GetWorkflowExecution(b.ctx, x)
	require.NoError(t, err, "a dry run deletes nothing")
	require.Regexp(t, `(?m)^workflow executions\s+30d\s+0$`, b.ok("prune", "--dry-run"), "nothing is 30 days old")

	b.fails(cli.ExitNotConfirmed, "pass -y to confirm", "prune", "--executions", "1ms")
	out := b.ok("prune", "-y", "--executions", "1ms", "--events", "1ms")
	require.Regexp(t, `(?m)^KIND\s+RETENTION\s+DELETED$`, out)
	require.Regexp(t, `(?m)^workflow executions\s+1ms\s+1$`, out)
	require.Regexp(t, fmt.Sprintf(`(?m)^decisions\s+1ms\s+%d$`, dry.Decisions), out)
	_, err = b.client.GetWorkflowExecution(b.ctx, x)
	require.True(t, errors.Is(err, aiflow.ErrNotFound), "pruned: %v", err)
	_, err = b.client.GetWorkflowExecution(b.ctx, running)
	require.NoError(t, err, "a running execution is kept")

	b.fails(cli.ExitUsage, `--events "3x": expected a duration such as 30d`, "prune", "--dry-run", "--events", "3x")
	b.fails(cli.ExitUsage, `--executions "-1d"`, "prune", "--dry-run", "--executions", "-1d")
}

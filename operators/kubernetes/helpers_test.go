//go:build unix

package kubernetes_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Bounds of require.Eventually in these tests.
const (
	waitFor = 30 * time.Second
	tick    = 5 * time.Millisecond
)

// bed is a started client on the memory store running the test's workflows.
type bed struct {
	t      *testing.T
	ctx    context.Context
	client *aiflow.Client
}

func newBed(t *testing.T, wfs ...*aiflow.Workflow) *bed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	c, err := aiflow.New(&aiflow.Config{Store: memory.New(nil), PollInterval: 20 * time.Millisecond, StopGracePeriod: 5 * time.Second})
	require.NoError(t, err)
	require.NoError(t, c.Register(ctx, wfs...))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return &bed{t: t, ctx: ctx, client: c}
}

// run starts an execution of wf and returns the first run of task once it
// is in one of statuses.
func (b *bed) run(wf, task string, statuses ...aiflow.TaskStatus) (int64, aiflow.TaskExecution) {
	b.t.Helper()
	id, err := b.client.StartWorkflowExecution(b.ctx, wf, nil)
	require.NoError(b.t, err)
	return id, b.wait(id, task, statuses...)
}

// wait returns the first run of task in execution id once it is in one of
// statuses.
func (b *bed) wait(id int64, task string, statuses ...aiflow.TaskStatus) aiflow.TaskExecution {
	b.t.Helper()
	var te aiflow.TaskExecution
	require.Eventually(b.t, func() bool {
		tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: id, Task: task})
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
	}, waitFor, tick, "task %s of execution %d in %v", task, id, statuses)
	return te
}

// log waits until the task execution's log matches re and returns it.
func (b *bed) log(id int64, re string) string {
	b.t.Helper()
	var out string
	require.Eventually(b.t, func() bool {
		data, _, err := b.client.ReadTaskLog(b.ctx, id, 0, 0)
		require.NoError(b.t, err)
		out = string(data)
		return regexp.MustCompile(re).MatchString(out)
	}, waitFor, tick, "log matching %q", re)
	return out
}

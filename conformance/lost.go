package conformance

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// Lost workers: the death of the process running an attempt is an
// interruption, not the task's failure.

// workerLoser is implemented by the stores that can act as if the process
// running their attempts had died (kill -9): both stores have LoseWorkers.
type workerLoser interface {
	LoseWorkers() int
}

// loseWorkers makes the bed's store lose the workers of the attempts it
// runs, and requires that it had some.
func (b *bed) loseWorkers() {
	b.t.Helper()
	l, ok := b.st.(workerLoser)
	if !ok {
		b.t.Skipf("the store %T cannot lose its workers", b.st)
	}
	require.Positive(b.t, l.LoseWorkers(), "the store ran an attempt")
}

// statusData lists the status events of a task in the order of the log
// (waiting until n are listed), with their payloads.
func (b *bed) statusData(wf, task string, n int) ([]string, []store.StatusData) {
	b.t.Helper()
	key := store.StatusKey(wf, task)
	b.eventsN(key, n)
	var values []string
	var data []store.StatusData
	f := store.EventFilter{Keys: []string{key}}
	for {
		evs, next, err := b.st.ListEvents(b.ctx, f)
		require.NoError(b.t, err)
		for i := range evs {
			values = append(values, evs[i].Value)
			data = append(data, store.DecodeStatusData(&evs[i]))
		}
		if len(evs) == 0 || next == f.After {
			return values, data
		}
		f.After = next
	}
}

// testLostWorkerRunsTheAttemptAgain: a task without a retry policy whose
// worker dies while it runs is run again as a new attempt of the same task
// execution, and the status events say why.
func testLostWorkerRunsTheAttemptAgain(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t") // no retry policy
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "t", 1, 1)
	b.waitRun(x, "t", 1, aiflow.TaskRunning)
	b.loseWorkers()

	b.ctl.waitRun(t, x, "t", 1, 2).succeed()
	te := b.waitRun(x, "t", 1, aiflow.TaskSuccess)
	require.Equal(t, 2, te.Attempt)
	require.Zero(t, te.Failures, "a lost worker is not the task's failure")
	require.Equal(t, 1, te.Interruptions)
	require.Equal(t, aiflow.MaxInterruptionsDefault, te.MaxInterruptions)
	require.Len(t, b.runs(x, "t"), 1, "a new attempt of the same task execution")
	require.Equal(t, aiflow.WorkflowSuccess, b.waitExecution(x, aiflow.WorkflowSuccess).Status)

	values, data := b.statusData("w", "t", 5)
	require.Equal(t, []string{"QUEUED", "RUNNING", "RETRYING", "RUNNING", "SUCCESS"}, values)
	lost := data[2]
	require.True(t, strings.HasPrefix(lost.Reason, store.ReasonWorkerLost), "reason %q", lost.Reason)
	require.True(t, lost.Interrupted, "run again at once, without a backoff")
	require.Equal(t, 1, lost.Attempt)
	require.Equal(t, 1, lost.Interruptions)
	require.Zero(t, lost.Failures)
}

// maxInterruptions is the Config.MaxInterruptions of the test of the limit.
const maxInterruptions = 1

// testLostWorkersBeyondTheLimitFail: one interruption more than
// Config.MaxInterruptions fails the task execution, with an error saying
// that the workers kept dying.
func testLostWorkersBeyondTheLimitFail(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t")
	b.register(f.wf)
	x := b.start("w")
	for attempt := 1; attempt <= maxInterruptions+1; attempt++ {
		b.ctl.waitRun(t, x, "t", 1, attempt)
		b.waitFor(fmt.Sprintf("attempt %d RUNNING", attempt), func() bool {
			te := b.runs(x, "t")[0]
			return te.Attempt == attempt && te.Status == aiflow.TaskRunning
		})
		b.loseWorkers()
	}
	te := b.waitRun(x, "t", 1, aiflow.TaskFailed)
	require.Equal(t, maxInterruptions+1, te.Attempt)
	require.Equal(t, maxInterruptions+1, te.Interruptions)
	require.Equal(t, maxInterruptions, te.MaxInterruptions)
	require.Zero(t, te.Failures)
	require.True(t, strings.HasPrefix(te.Error, store.WorkersKeptDying), "error %q", te.Error)
	require.Equal(t, aiflow.WorkflowFailed, b.waitExecution(x, aiflow.WorkflowFailed).Status)
	values, data := b.statusData("w", "t", 5)
	require.Equal(t, []string{"QUEUED", "RUNNING", "RETRYING", "RUNNING", "FAILED"}, values)
	require.True(t, strings.HasPrefix(data[4].Reason, store.ReasonWorkerLost), "reason %q", data[4].Reason)
	require.Equal(t, 2, b.ctl.started("t"), "no attempt after the limit")
}

// testInterruptionsDoNotConsumeRetries: a task with a retry policy of two
// attempts, interrupted once by a lost worker, still has both attempts of
// its policy for its own failures.
func testInterruptionsDoNotConsumeRetries(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t", aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 2}))
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "t", 1, 1)
	b.waitRun(x, "t", 1, aiflow.TaskRunning)
	b.loseWorkers()
	b.ctl.waitRun(t, x, "t", 1, 2).fail(errBoom)
	b.ctl.waitRun(t, x, "t", 1, 3).fail(errBoom)
	te := b.waitRun(x, "t", 1, aiflow.TaskFailed)
	require.Equal(t, 3, te.Attempt)
	require.Equal(t, 2, te.Failures, "the policy's two attempts were the task's own")
	require.Equal(t, 1, te.Interruptions)
	require.Contains(t, te.Error, errBoom.Error())
}

// testStreamingTaskWithALostWorkerIsRestarted: a streaming task whose
// worker dies runs again as a new attempt, and its execution stays RUNNING.
func testStreamingTaskWithALostWorkerIsRestarted(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("stream", aiflow.Streaming())
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "stream", 1, 1)
	b.waitRun(x, "stream", 1, aiflow.TaskRunning)
	b.loseWorkers()

	r := b.ctl.waitRun(t, x, "stream", 1, 2)
	b.waitFor("attempt 2 of the stream RUNNING", func() bool {
		te := b.runs(x, "stream")[0]
		return te.Attempt == 2 && te.Status == aiflow.TaskRunning
	})
	te := b.runs(x, "stream")[0]
	require.Equal(t, 1, te.Interruptions)
	require.Zero(t, te.Failures)
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status)

	r.allowStop()
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	b.waitRun(x, "stream", 1, aiflow.TaskStopped)
	require.Equal(t, aiflow.WorkflowStopped, b.execution(x).Status)
}

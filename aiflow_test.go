package aiflow_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func noop() aiflow.Operator {
	return operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })
}

// registerCase is a workflow that Register must refuse, with every problem
// its error must report.
type registerCase struct {
	name  string
	build func() *aiflow.Workflow
	want  []string // every problem, in any order
}

// declarationCases are workflows with a malformed name, task, rule or
// option; foreign is a task of another workflow.
func declarationCases(foreign *aiflow.Task) []registerCase {
	return []registerCase{
		{"empty workflow name", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("")
			w.Task("a", noop())
			return w
		}, []string{`workflow name is empty`}},
		{"bad namespace name", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w", aiflow.WithNamespace("has space"))
			w.Task("a", noop())
			return w
		}, []string{`namespace name "has space": character ' ' at 3`}},
		{"no tasks", func() *aiflow.Workflow { return aiflow.NewWorkflow("w") },
			[]string{`workflow "w": it has no tasks`}},
		{"empty and duplicate task names, nil operator", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			w.Task("", noop())
			w.Task("a", noop())
			w.Task("a", nil)
			return w
		}, []string{`workflow "w": task name is empty`, `task "a": duplicate task name`, `task "a": operator is nil`}},
		{"upstream of another workflow", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			w.Task("a", noop()).StartAfter(foreign)
			return w
		}, []string{`task "a": rule 1 (start_after): upstream task "foreign" belongs to workflow "other"`}},
		{"nil upstream and no upstream", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			w.Task("a", noop()).StartAfter(nil)
			w.Task("b", noop()).StartAfter()
			return w
		}, []string{`task "a": rule 1 (start_after): upstream task is nil`, `task "b": rule 1 (start_after): no upstream task`}},
		{"bad event keys", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			w.Task("a", noop()).OnEvent("", aiflow.ActionStart).OnEvent("aiflow.mine", aiflow.ActionStop)
			return w
		}, []string{`task "a": rule 1 (on_event): event key is empty`, `task "a": rule 2 (on_event): event key "aiflow.mine": keys starting with "aiflow." are reserved`}},
		{"bad conditions", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			w.Task("a", noop()).OnCondition(nil, aiflow.ActionStart).
				OnCondition(aiflow.NewCondition(nil, nil), aiflow.ActionStart).
				OnCondition(aiflow.AnyOf(aiflow.EventCondition("x"), nil), aiflow.ActionStart)
			return w
		}, []string{`rule 1 (on_condition): condition is nil`, `rule 2 (on_condition): condition aiflow.funcCondition expects no event keys`, `rule 3 (on_condition): a nested condition is nil`}},
		{"bad action and status", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			a := w.Task("a", noop())
			w.Task("b", noop()).OnEvent("k", aiflow.Action(9)).
				OnTaskStatus(map[*aiflow.Task]aiflow.TaskStatus{a: "DONE"}, aiflow.ActionStart)
			return w
		}, []string{`rule 1 (on_event): action 9: expected ActionStart, ActionStop or ActionRestart`, `rule 2 (on_task_status): status "DONE": expected one of INIT, QUEUED`}},
		{"bad task options", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			w.Task("a", noop(), aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: -1}), aiflow.WithTimeout(-time.Second))
			return w
		}, []string{`WithRetry: MaxAttempts is -1`, `WithTimeout: -1s: expected a positive duration`}},
	}
}

// cycleCases are workflows whose tasks can never start, and one whose
// malformed rules are not also reported as a cycle; foreign is a task of
// another workflow.
func cycleCases(foreign *aiflow.Task) []registerCase {
	return []registerCase{
		{"StartAfter cycle", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			a, b, c := w.Task("a", noop()), w.Task("b", noop()), w.Task("c", noop())
			a.StartAfter(c)
			b.StartAfter(a)
			c.StartAfter(b)
			w.Task("d", noop()).StartAfter(a)
			return w
		}, []string{
			`task "a": it can never start: its start rules wait on "c"`,
			`task "b": it can never start: its start rules wait on "a"`,
			`task "c": it can never start: its start rules wait on "b"`,
			`task "d": it can never start: its start rules wait on "a"`,
		}},
		{"StartAfter cycle and a bad key elsewhere, all at once", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			a, b := w.Task("a", noop()), w.Task("b", noop())
			a.StartAfter(b)
			b.StartAfter(a)
			w.Task("c", noop()).OnEvent("", aiflow.ActionStart)
			return w
		}, []string{
			`task "a": it can never start: its start rules wait on "b"`,
			`task "b": it can never start: its start rules wait on "a"`,
			`task "c": rule 1 (on_event): event key is empty`,
		}},
		{"malformed rules are not reported again as a cycle", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			a := w.Task("a", noop())
			a.StartAfter(foreign)
			w.Task("b", noop()).StartAfter(a)
			return w
		}, []string{`task "a": rule 1 (start_after): upstream task "foreign" belongs to workflow "other"`}},
		{"cycle through task status conditions", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			a, b := w.Task("a", noop()), w.Task("b", noop())
			a.OnCondition(aiflow.TaskStatusCondition(map[*aiflow.Task]aiflow.TaskStatus{b: aiflow.TaskSuccess}), aiflow.ActionStart)
			b.OnCondition(aiflow.AllOf(aiflow.TaskStatusCondition(map[*aiflow.Task]aiflow.TaskStatus{a: aiflow.TaskFailed})), aiflow.ActionStart)
			return w
		}, []string{
			`task "a": it can never start: its start rules wait on "b"`,
			`task "b": it can never start: its start rules wait on "a"`,
		}},
	}
}

// statusConditionCases are workflows whose task status conditions name
// tasks or statuses they may not; foreign is a task of another workflow.
func statusConditionCases(foreign *aiflow.Task) []registerCase {
	return []registerCase{
		{"TaskStatusCondition on a task of another workflow", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			w.Task("a", noop()).OnCondition(aiflow.TaskStatusCondition(map[*aiflow.Task]aiflow.TaskStatus{foreign: aiflow.TaskSuccess}), aiflow.ActionStart)
			return w
		}, []string{`workflow "w" task "a": rule 1 (on_condition): TaskStatusCondition: task "foreign" belongs to workflow "other": rules may only depend on tasks of the same workflow`}},
		{"TaskStatusCondition with a nil task, no task, a stray task and a bad status", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			a := w.Task("a", noop())
			stray := aiflow.NewWorkflow("w").Task("stray", noop())
			w.Task("b", noop()).
				OnCondition(aiflow.TaskStatusCondition(map[*aiflow.Task]aiflow.TaskStatus{nil: aiflow.TaskSuccess}), aiflow.ActionStart).
				OnCondition(aiflow.TaskStatusCondition(nil), aiflow.ActionStart).
				OnCondition(aiflow.AnyOf(aiflow.EventCondition("k"),
					aiflow.TaskStatusCondition(map[*aiflow.Task]aiflow.TaskStatus{stray: aiflow.TaskSuccess})), aiflow.ActionStart).
				OnCondition(aiflow.AllOf(aiflow.TaskStatusCondition(map[*aiflow.Task]aiflow.TaskStatus{a: "DONE"})), aiflow.ActionStop)
			return w
		}, []string{
			`task "b": rule 1 (on_condition): TaskStatusCondition: task is nil`,
			`task "b": rule 2 (on_condition): TaskStatusCondition lists no task: expected at least one task of workflow "w"`,
			`task "b": rule 3 (on_condition): TaskStatusCondition: task "stray" belongs to workflow "w": rules may only depend on tasks of the same workflow`,
			`task "b": rule 4 (on_condition): TaskStatusCondition: task "a": status "DONE": expected one of INIT`,
		}},
		{"custom condition expecting the status key of another workflow", func() *aiflow.Workflow {
			w := aiflow.NewWorkflow("w")
			w.Task("a", noop()).OnCondition(aiflow.NewCondition([]string{aiflow.TaskStatusKey("other", "foreign")}, func(*aiflow.ConditionContext, *aiflow.Event) (bool, error) { return true, nil }), aiflow.ActionStart)
			return w
		}, []string{`task "a": rule 1 (on_condition): condition aiflow.funcCondition expects status key "aiflow.task_status.other.foreign", which names no task of workflow "w"`}},
	}
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	other := aiflow.NewWorkflow("other")
	foreign := other.Task("foreign", noop())

	cases := slices.Concat(declarationCases(foreign), cycleCases(foreign), statusConditionCases(foreign))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
			require.NoError(t, err)
			err = client.Register(context.Background(), tc.build())
			require.Error(t, err)
			require.ErrorIs(t, err, aiflow.ErrInvalidWorkflow)
			require.ErrorIs(t, err, aiflow.ErrInvalid)
			var de *aiflow.DeclarationError
			require.ErrorAs(t, err, &de)
			msg := err.Error()
			for _, want := range tc.want {
				require.Contains(t, msg, want)
			}
			require.Len(t, strings.Split(msg, "\n"), len(tc.want), "one line per problem:\n%s", msg)
		})
	}
}

func TestRegisterAcceptsCyclesThatCanStart(t *testing.T) {
	t.Parallel()
	// a and b wait on each other, but a can also start on an event: valid.
	w := aiflow.NewWorkflow("w")
	a, b := w.Task("a", noop()), w.Task("b", noop())
	a.StartAfter(b).OnEvent("go", aiflow.ActionStart)
	b.StartAfter(a)
	// Conditions on this workflow's own tasks are valid too.
	w.Task("c", noop()).OnCondition(aiflow.AnyOf(
		aiflow.TaskStatusCondition(map[*aiflow.Task]aiflow.TaskStatus{a: aiflow.TaskSuccess, b: aiflow.TaskFailed}),
		aiflow.NewCondition([]string{aiflow.TaskStatusKey("w", "b")}, func(*aiflow.ConditionContext, *aiflow.Event) (bool, error) { return true, nil })), aiflow.ActionStart)
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	require.NoError(t, err)
	require.NoError(t, client.Register(context.Background(), w))
}

func TestRegisterTwiceInOneCallAndNil(t *testing.T) {
	t.Parallel()
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	require.NoError(t, err)
	w1 := aiflow.NewWorkflow("w")
	w1.Task("a", noop())
	w2 := aiflow.NewWorkflow("w")
	w2.Task("a", noop())
	err = client.Register(context.Background(), w1, w2, nil)
	require.ErrorIs(t, err, aiflow.ErrInvalidWorkflow)
	require.Contains(t, err.Error(), `workflow "w": registered twice in one call`)
	require.Contains(t, err.Error(), `workflow is nil`)
}

func TestNewRequiresStore(t *testing.T) {
	t.Parallel()
	_, err := aiflow.New(&aiflow.Config{})
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "Config.Store is nil")
	_, err = aiflow.New(nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "Config.Store is nil")
	_, err = aiflow.New(&aiflow.Config{Store: memory.New(nil), TaskLogRetention: -time.Hour})
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "Config.TaskLogRetention is -1h0m0s")
}

func TestBadCalls(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := aiflow.NewWorkflow("w")
	w.Task("a", operators.Func(func(ctx context.Context, _ *aiflow.TaskContext) error { <-ctx.Done(); return nil }))
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil), PollInterval: 10 * time.Millisecond, StopTimeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, client.Register(ctx, w))
	require.NoError(t, client.Start(ctx))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = client.Stop(context.Background())
		}
	})
	err = client.Start(ctx)
	require.ErrorIs(t, err, aiflow.ErrConflict, "a second Start")
	require.ErrorContains(t, err, "already started")

	_, err = client.StartWorkflowExecution(ctx, "nope", nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowNotFound)
	require.ErrorIs(t, err, aiflow.ErrNotFound)
	require.ErrorContains(t, err, `"nope" in namespace "default"`)

	_, err = client.StartWorkflowExecution(ctx, "w", &aiflow.StartWorkflowOpts{Namespace: "missing"})
	require.ErrorIs(t, err, aiflow.ErrNamespaceNotFound)
	require.ErrorContains(t, err, `"missing"`)

	_, err = client.StartWorkflowExecution(ctx, "bad name!", nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, `workflow name "bad name!"`)

	_, err = client.GetWorkflowExecution(ctx, 12345)
	require.ErrorIs(t, err, aiflow.ErrExecutionNotFound)
	require.ErrorContains(t, err, "id 12345")

	_, err = client.GetTaskExecution(ctx, 777)
	require.ErrorIs(t, err, aiflow.ErrTaskExecutionNotFound)

	_, err = client.SendEvent(ctx, "k", "v", &aiflow.SendEventOpts{Namespace: "missing"})
	require.ErrorIs(t, err, aiflow.ErrNamespaceNotFound)

	_, err = client.SendEvent(ctx, "", "v", nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "event key is empty")

	_, err = client.SendEvent(ctx, "aiflow.start_execution", "v", nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "reserved")

	_, err = client.SendEvent(ctx, "big", strings.Repeat("x", aiflow.MaxEventValueBytes+1), nil)
	require.ErrorIs(t, err, aiflow.ErrEventTooLarge)
	require.ErrorContains(t, err, "65537 bytes: expected at most 65536")
	_, err = client.SendEvent(ctx, "big", strings.Repeat("x", aiflow.MaxEventValueBytes), nil)
	require.NoError(t, err, "exactly the limit is accepted")

	id, err := client.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	err = client.StartTaskExecution(ctx, id, "zzz")
	require.ErrorIs(t, err, aiflow.ErrTaskNotFound)
	require.ErrorContains(t, err, `"zzz" is not a task of workflow "w"`)

	require.NoError(t, client.StopWorkflowExecution(ctx, id))
	x, err := client.WaitWorkflowExecution(ctx, id)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowStopped, x.Status)
	err = client.StopWorkflowExecution(ctx, id)
	require.ErrorIs(t, err, aiflow.ErrExecutionFinished)
	require.ErrorIs(t, err, aiflow.ErrConflict)

	require.NoError(t, client.DisableWorkflow(ctx, "", "w"))
	_, err = client.StartWorkflowExecution(ctx, "w", nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowDisabled)
	require.NoError(t, client.EnableWorkflow(ctx, "", "w"))
	_, err = client.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)

	err = client.DeleteNamespace(ctx, aiflow.DefaultNamespace)
	require.ErrorIs(t, err, aiflow.ErrConflict)
	require.NoError(t, client.AddNamespace(ctx, "team"))
	require.ErrorIs(t, client.AddNamespace(ctx, "team"), aiflow.ErrAlreadyExists)
	require.ErrorIs(t, client.AddNamespace(ctx, ""), aiflow.ErrInvalid)
	require.NoError(t, client.DeleteNamespace(ctx, "team"))
	require.ErrorIs(t, client.DeleteNamespace(ctx, "team"), aiflow.ErrNamespaceNotFound)

	ids, err := client.StopWorkflowExecutions(ctx, "", "w")
	require.NoError(t, err)
	require.Len(t, ids, 1)
	x, err = client.WaitWorkflowExecution(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowStopped, x.Status)
	stopped = true
	require.NoError(t, client.Stop(ctx))
	require.NoError(t, client.Stop(ctx), "a second Stop does nothing")
	require.ErrorIs(t, client.Start(ctx), aiflow.ErrConflict, "a stopped client does not start again")
}

// failingLogs is a memory store whose task logs cannot be appended to.
type failingLogs struct{ *memory.Store }

func (failingLogs) AppendTaskLog(context.Context, int64, []byte) error {
	return errors.New("disk full")
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLostTaskLogOutputIsLogged(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := aiflow.NewWorkflow("w")
	chunk := strings.Repeat("x", 70<<10) // over the writer's buffer: each chunk is appended on its own
	w.Task("chatty", operators.Func(func(_ context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprint(tc.Log, chunk)
		fmt.Fprint(tc.Log, chunk)
		return nil
	}))
	var logs syncBuffer
	client, err := aiflow.New(&aiflow.Config{
		Store: failingLogs{memory.New(nil)}, PollInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	require.NoError(t, err)
	require.NoError(t, client.Register(ctx, w))
	require.NoError(t, client.Start(ctx))
	defer func() { require.NoError(t, client.Stop(context.Background())) }()
	id, err := client.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	x, err := client.WaitWorkflowExecution(ctx, id)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, x.Status, "a lost log does not fail the task")

	// The writer is closed before the attempt's status is recorded, so
	// both reports are there now.
	out := logs.String()
	require.Equal(t, 1, strings.Count(out, "appending to the task log failed"), "the first failure is logged, once:\n%s", out)
	require.Contains(t, out, `error="disk full"`)
	require.Contains(t, out, "task=chatty")
	require.Contains(t, out, fmt.Sprintf("bytes=%d", len(chunk)))
	require.Contains(t, out, fmt.Sprintf(`msg="task log output was lost" workflow=w execution_id=%d task=chatty seq=1 attempt=1`, id))
	require.Contains(t, out, fmt.Sprintf("failed_appends=2 bytes=%d", 2*len(chunk)))
}

// TestListingInAnUnknownNamespace: every list, count and listen call fails
// with ErrNamespaceNotFound, naming the namespace and how to add it, instead
// of answering nothing; "" (every namespace), "default" and an added
// namespace are listed.
func TestListingInAnUnknownNamespace(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	require.NoError(t, err)
	require.NoError(t, client.AddNamespace(ctx, "team"))
	_, err = client.SendEvent(ctx, "k", "in team", &aiflow.SendEventOpts{Namespace: "team"})
	require.NoError(t, err)
	_, err = client.SendEvent(ctx, "k", "in default", nil)
	require.NoError(t, err)

	calls := map[string]func(ns string) error{
		"ListWorkflows": func(ns string) error { _, err := client.ListWorkflows(ctx, ns); return err },
		"ListWorkflowExecutions": func(ns string) error {
			_, err := client.ListWorkflowExecutions(ctx, &aiflow.ExecutionFilter{Namespace: ns})
			return err
		},
		"ListWorkflowSchedules": func(ns string) error { _, err := client.ListWorkflowSchedules(ctx, ns, ""); return err },
		"ListWorkflowTriggers":  func(ns string) error { _, err := client.ListWorkflowTriggers(ctx, ns, ""); return err },
		"ListEvents": func(ns string) error {
			_, _, err := client.ListEvents(ctx, &aiflow.EventFilter{Namespace: ns})
			return err
		},
		"CountEvents": func(ns string) error {
			_, err := client.CountEvents(ctx, &aiflow.EventFilter{Namespace: ns})
			return err
		},
		"ListenEvents": func(ns string) error {
			// Stops at the first event; with no namespace check it would
			// wait for one in "ghost" until the test's deadline.
			return client.ListenEvents(ctx, &aiflow.EventFilter{Namespace: ns}, func(aiflow.Event) error { return errEnough })
		},
	}
	for name, call := range calls {
		err := call("ghost")
		require.ErrorIs(t, err, aiflow.ErrNamespaceNotFound, name)
		require.ErrorIs(t, err, aiflow.ErrNotFound, name)
		require.ErrorContains(t, err, `namespace not found: "ghost": add it with Client.AddNamespace or "aiflow namespace add ghost"`, name)
		for _, ns := range []string{"", aiflow.DefaultNamespace, "team"} {
			err := call(ns)
			if name == "ListenEvents" {
				require.ErrorIs(t, err, errEnough, "%s(%q)", name, ns)
			} else {
				require.NoError(t, err, "%s(%q)", name, ns)
			}
		}
	}
	evs, _, err := client.ListEvents(ctx, &aiflow.EventFilter{Namespace: "team"})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "in team", evs[0].Value)
	n, err := client.CountEvents(ctx, &aiflow.EventFilter{Namespace: "team"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

var errEnough = errors.New("enough")

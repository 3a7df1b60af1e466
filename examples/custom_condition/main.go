// Command custom_condition runs the seed system's custom condition example:
// three producer tasks stream random numbers (0 to 9) as "num_event" events;
// the consumer task starts when their sum reaches 100 (NumCondition, which
// keeps the running sum in per-execution state); the producers are stopped
// when the consumer succeeds, and the execution then ends SUCCESS.
//
//	go run ./examples/custom_condition
package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/examples/internal/exampleenv"
	"github.com/aiflow-go/aiflow/operators"
)

// NumEvent is the key of the producers' events.
const NumEvent = "num_event"

// NumCondition is met once the values of the "num_event" events it has seen
// add up to 100 or more. It keeps the sum in the execution's state named
// "num_state", and is met only once per execution.
type NumCondition struct{}

// numState is what NumCondition keeps between events.
type numState struct {
	Sum   int  `json:"sum"`
	Fired bool `json:"fired"`
}

// ExpectedKeys returns the producers' event key.
func (NumCondition) ExpectedKeys() []string { return []string{NumEvent} }

// IsMet adds the event's value to the sum and reports whether it reached 100.
func (NumCondition) IsMet(cc *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
	st := aiflow.ValueState[numState](cc, "num_state")
	s, _, err := st.Value()
	if err != nil {
		return false, err
	}
	if s.Fired {
		return false, nil
	}
	n, err := strconv.Atoi(ev.Value)
	if err != nil {
		return false, fmt.Errorf("num_event value %q: expected an integer", ev.Value)
	}
	s.Sum += n
	s.Fired = s.Sum >= 100
	if err := st.Update(s); err != nil {
		return false, err
	}
	return s.Fired, nil
}

// produce sends a random number every interval until the task is stopped.
func produce(interval time.Duration) func(ctx context.Context, tc *aiflow.TaskContext) error {
	return func(ctx context.Context, tc *aiflow.TaskContext) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			if _, err := tc.SendEvent(ctx, NumEvent, strconv.Itoa(rand.IntN(10)), nil); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// Workflow declares the workflow; producers send a number every interval.
func Workflow(interval time.Duration) *aiflow.Workflow {
	wf := aiflow.NewWorkflow("condition_workflow")
	consumer := wf.Task("consumer", operators.Bash("echo Got 100 records."))
	consumer.OnCondition(NumCondition{}, aiflow.ActionStart)
	for i := 1; i <= 3; i++ {
		p := wf.Task(fmt.Sprintf("producer%d", i), operators.Func(produce(interval)), aiflow.Streaming())
		p.OnTaskStatus(map[*aiflow.Task]aiflow.TaskStatus{consumer: aiflow.TaskSuccess}, aiflow.ActionStop)
	}
	return wf
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	status, err := run(ctx, os.Stdout, 50*time.Millisecond)
	if err != nil {
		fmt.Fprintln(os.Stderr, "custom_condition:", err)
		os.Exit(1)
	}
	if status != aiflow.WorkflowSuccess {
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, interval time.Duration) (aiflow.WorkflowStatus, error) {
	st, closeStore, err := exampleenv.OpenStore(ctx)
	if err != nil {
		return "", err
	}
	defer closeStore()
	client, err := aiflow.New(&aiflow.Config{Store: st})
	if err != nil {
		return "", err
	}
	wf := Workflow(interval)
	if err := client.Register(ctx, wf); err != nil {
		return "", err
	}
	if err := client.Start(ctx); err != nil {
		return "", err
	}
	defer client.Stop(context.WithoutCancel(ctx))
	x, err := exampleenv.RunAndPrint(ctx, client, wf.Name(), out)
	if err != nil {
		return "", err
	}
	return x.Status, nil
}

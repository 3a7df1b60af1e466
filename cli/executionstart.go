package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/aiflow-go/aiflow"
)

// startMany is "workflow-execution start" with --count or --inputs: many
// executions of a workflow, started in calls of at most
// aiflow.MaxStartExecutions executions each (one transaction each).
type startMany struct {
	count  int    // --count: executions, each with input
	input  string // --input
	inputs string // --inputs: a file of inputs, one a line ("-": stdin)
}

// wanted reports whether the flags ask for a bulk start.
func (m *startMany) wanted() bool { return m.count != 0 || m.inputs != "" }

// check rejects flags that do not go together.
func (m *startMany) check(idempotencyKey string) error {
	switch {
	case m.count < 0:
		return usagef("--count %d: expected a positive number of executions", m.count)
	case m.count != 0 && m.inputs != "":
		return usagef("--count and --inputs: expected one of them (--inputs starts one execution per line)")
	case m.inputs != "" && m.input != "":
		return usagef("--input and --inputs: expected one of them")
	case idempotencyKey != "":
		return usagef("--idempotency-key starts one execution: expected no --count or --inputs with it")
	}
	return nil
}

// readInputs returns the inputs to start: --count times --input, or the
// lines of --inputs.
func (m *startMany) readInputs(stdin io.Reader) ([]string, error) {
	if m.inputs == "" {
		out := make([]string, m.count)
		for i := range out {
			out[i] = m.input
		}
		return out, nil
	}
	r := stdin
	if m.inputs != "-" {
		f, err := os.Open(m.inputs)
		if err != nil {
			return nil, usagef("--inputs: %v", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), aiflow.MaxInputBytes+1)
	var out []string
	for sc.Scan() {
		out = append(out, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("--inputs %s: line %d: %v (an input is at most %d bytes)", m.inputs, len(out)+1, err, aiflow.MaxInputBytes)
	}
	if len(out) == 0 {
		return nil, usagef("--inputs %s: no line: expected one input per line, one execution each", m.inputs)
	}
	return out, nil
}

// start starts the executions and prints their ids, one a line. Should a
// call fail, the executions of the calls before it are started: the error
// says how many, and their first and last ids.
func (m *startMany) start(ctx context.Context, e *env, c *aiflow.Client, workflow string) error {
	inputs, err := m.readInputs(e.opts.Stdin)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(inputs))
	for len(inputs) > 0 {
		n := min(len(inputs), aiflow.MaxStartExecutions)
		got, err := c.StartWorkflowExecutions(ctx, workflow, inputs[:n], &aiflow.StartWorkflowExecutionsOpts{Namespace: e.namespace})
		if err != nil {
			if len(ids) > 0 {
				return fmt.Errorf("%w (%d executions were started before, ids %d to %d)", err, len(ids), ids[0], ids[len(ids)-1])
			}
			return err
		}
		ids = append(ids, got...)
		inputs = inputs[n:]
	}
	lines := make([]string, len(ids))
	for i, id := range ids {
		lines[i] = strconv.FormatInt(id, 10)
	}
	return e.done(map[string]any{"ids": ids, "namespace": e.namespace, "workflow": workflow}, "%s", strings.Join(lines, "\n"))
}

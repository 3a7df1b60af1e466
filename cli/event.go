package cli

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

// eventFilterFlags are the filters of list, count and listen.
type eventFilterFlags struct {
	all         bool
	sender      string
	beginPos    string
	beginTime   string
	executionID int64
	userOnly    bool
}

func (f *eventFilterFlags) register(fs *pflag.FlagSet) {
	fs.BoolVarP(&f.all, "all-namespaces", "A", false, "events of every namespace")
	fs.StringVar(&f.sender, "sender", "", "only events from this sender")
	fs.StringVar(&f.beginPos, "begin-position", "", "only events after this position (XID-ID, as printed)")
	fs.StringVar(&f.beginTime, "begin-time", "", "only events appended at or after this time (RFC 3339, or 2006-01-02T15:04:05 local time, or 2006-01-02)")
	fs.Int64Var(&f.executionID, "execution-id", 0, "only the events of this workflow execution")
	fs.BoolVar(&f.userOnly, "user-only", false, "leave out the library's own events (status changes, requests)")
}

func (f *eventFilterFlags) filter(e *env, keys []string) (*aiflow.EventFilter, error) {
	out := &aiflow.EventFilter{Namespace: e.namespace, Keys: keys, Sender: f.sender, ExecutionID: f.executionID, UserOnly: f.userOnly}
	if f.all {
		out.Namespace = ""
	}
	if f.beginPos != "" {
		p, err := aiflow.ParsePosition(f.beginPos)
		if err != nil {
			return nil, usagef("--begin-position: %v", err)
		}
		out.After = p
	}
	if f.beginTime != "" {
		t, err := parseTime(f.beginTime)
		if err != nil {
			return nil, err
		}
		out.Since = t
	}
	return out, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("--begin-time %q: expected RFC 3339 (2024-05-01T10:00:00Z), 2024-05-01T10:00:00 (local time) or 2024-05-01", s)
}

func eventRow(v view.Event) []any {
	ctx := ""
	if v.ExecutionID != 0 {
		ctx = strconv.FormatInt(v.ExecutionID, 10)
		if v.Task != "" {
			ctx += "/" + v.Task + "#" + strconv.Itoa(v.SeqNum)
		}
	}
	return []any{v.Position, v.Time, v.Namespace, v.Key, v.Value, v.Sender, ctx}
}

var eventHeader = []string{"POSITION", "TIME", "NAMESPACE", "KEY", "VALUE", "SENDER", "EXECUTION"}

func (e *env) eventCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "event",
		Short: "Send, list, count and listen to events",
	}

	var sender, idemKey, traceParent string
	var execID, teID int64
	var wide, noTaskCtx bool
	send := &cobra.Command{
		Use:   "send KEY [VALUE|-]",
		Short: "Send a user event (VALUE '-' reads it from stdin) and print its position",
		Long: `Send a user event and print its position. VALUE '-' reads the value from
standard input. Without an execution it reaches every running execution of
the namespace whose rules expect the key.

Inside a task's process (the environment has ` + aiflow.EnvTaskExecutionID + ` and the other
AIFLOW_* variables every task process receives), the event carries the task's
context exactly as TaskContext.SendEvent does: it reaches only the task's own
workflow execution (and the namespace's triggers), its sender is
"<execution>_<task>_<seq>", and the namespace is the task's. --namespace-wide
sends it to the whole namespace instead; --no-task-context ignores the
environment.

--traceparent (or the environment variable TRACEPARENT) gives the W3C trace
context the event is sent in, "00-<trace id>-<span id>-<flags>": the task
executions the event starts join that trace.`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			value := ""
			if len(a) == 2 {
				value = a[1]
			}
			if value == "-" {
				b, err := io.ReadAll(io.LimitReader(e.opts.Stdin, aiflow.MaxEventValueBytes+1))
				if err != nil {
					return fmt.Errorf("reading the value from stdin: %w", err)
				}
				value = string(b)
			}
			opts := &aiflow.SendEventOpts{Namespace: e.namespace, Sender: sender, ExecutionID: execID, TaskExecutionID: teID, ToNamespace: wide,
				IdempotencyKey: idemKey, TraceParent: traceParent}
			if opts.TraceParent == "" {
				opts.TraceParent = e.opts.Getenv("TRACEPARENT")
			}
			if !noTaskCtx && execID == 0 && teID == 0 {
				var err error
				if opts.TaskExecutionID, err = e.envID(aiflow.EnvTaskExecutionID); err != nil {
					return err
				}
				if opts.TaskExecutionID == 0 {
					if opts.ExecutionID, err = e.envID(aiflow.EnvWorkflowExecutionID); err != nil {
						return err
					}
				}
			}
			if (opts.ExecutionID != 0 || opts.TaskExecutionID != 0) && !cmd.Flags().Changed("namespace") && e.opts.Getenv(aiflow.EnvNamespace) == "" {
				opts.Namespace = "" // the execution's
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			ev, err := c.SendEvent(cmd.Context(), a[0], value, opts)
			if err != nil {
				return err
			}
			v := view.NewEvent(*ev)
			return e.print(v, func() writerTo { return message(v.Position) })
		}),
	}
	send.Flags().StringVar(&sender, "sender", "", `sender name (default "aiflow.client", or the task's inside a task)`)
	send.Flags().Int64Var(&execID, "execution-id", 0, "send to this workflow execution only")
	send.Flags().Int64Var(&teID, "task-execution-id", 0, "send as this task execution's task would")
	send.Flags().BoolVar(&wide, "namespace-wide", false, "with a task or execution context, reach the whole namespace instead of only that execution")
	send.Flags().StringVar(&idemKey, "idempotency-key", "", "send once: a retry with the same key prints the first call's event and appends nothing")
	send.Flags().StringVar(&traceParent, "traceparent", "", "W3C trace context to send the event in (default $TRACEPARENT)")
	send.Flags().BoolVar(&noTaskCtx, "no-task-context", false, "ignore the task context in the environment ("+aiflow.EnvTaskExecutionID+", ...)")

	var lf eventFilterFlags
	var limit int
	list := &cobra.Command{
		Use:   "list [KEY...]",
		Short: "List events in log order (those with one of the keys, if any)",
		Args:  args(cobra.ArbitraryArgs),
		RunE: e.run(func(cmd *cobra.Command, keys []string) error {
			f, err := lf.filter(e, keys)
			if err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			if limit < 0 {
				return usagef("--limit %d: expected a positive number, or 0 for every event", limit)
			}
			var out []view.Event
			for {
				evs, next, err := c.ListEvents(cmd.Context(), f)
				if err != nil {
					return err
				}
				for _, ev := range evs {
					if limit > 0 && len(out) == limit {
						break
					}
					out = append(out, view.NewEvent(ev))
				}
				if next == f.After || limit > 0 && len(out) == limit {
					break
				}
				f.After = next
			}
			if out == nil {
				out = []view.Event{}
			}
			return e.print(out, func() writerTo {
				t := &table{header: eventHeader}
				for _, v := range out {
					t.add(eventRow(v)...)
				}
				return t
			})
		}),
	}
	lf.register(list.Flags())
	list.Flags().IntVar(&limit, "limit", 1000, "at most this many events (0: all)")

	var cf eventFilterFlags
	count := &cobra.Command{
		Use:   "count [KEY...]",
		Short: "Count events (those with one of the keys, if any)",
		Args:  args(cobra.ArbitraryArgs),
		RunE: e.run(func(cmd *cobra.Command, keys []string) error {
			f, err := cf.filter(e, keys)
			if err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			n, err := c.CountEvents(cmd.Context(), f)
			if err != nil {
				return err
			}
			return e.done(map[string]int{"count": n}, "%d", n)
		}),
	}
	cf.register(count.Flags())

	var tf eventFilterFlags
	var maxEvents int
	listen := &cobra.Command{
		Use:   "listen [KEY...]",
		Short: "Print events as they are appended, until interrupted",
		Long: `Print events as they are appended (those with one of the keys, if any), one
line (or JSON object, or YAML document) each, until interrupted or --max
events were printed. Without --begin-position or --begin-time it starts
now; with them, it first prints the past events that match.`,
		Args: args(cobra.ArbitraryArgs),
		RunE: e.run(func(cmd *cobra.Command, keys []string) error {
			f, err := tf.filter(e, keys)
			if err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if tf.beginPos == "" && tf.beginTime == "" {
				if f.After, err = c.LastPosition(ctx); err != nil {
					return err
				}
			}
			if e.output == "table" {
				if err := e.printStream(nil, toAny(eventHeader)); err != nil {
					return err
				}
			}
			f.Max = maxEvents
			err = c.ListenEvents(ctx, f, func(ev aiflow.Event) error {
				v := view.NewEvent(ev)
				return e.printStream(v, eventRow(v))
			})
			if ctx.Err() != nil {
				return nil
			}
			return err
		}),
	}
	tf.register(listen.Flags())
	listen.Flags().IntVar(&maxEvents, "max", 0, "exit after this many events (0: never)")
	cmd.AddCommand(send, list, count, listen)
	return cmd
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// envID reads a positive id from an environment variable (0 when unset).
func (e *env) envID(name string) (int64, error) {
	s := e.opts.Getenv(name)
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("environment variable %s=%q: expected a positive integer id (or --no-task-context)", name, s)
	}
	return id, nil
}

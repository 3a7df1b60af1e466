package aiflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/store"
)

// ReplayMaxEventsDefault is ReplayOpts.MaxEvents when it is zero.
const ReplayMaxEventsDefault = 100_000

// ReplayOpts select the stretch of the event log a replay reads. Zero fields
// select everything: the whole log of the workflow's namespace.
type ReplayOpts struct {
	// Namespace is the workflow's namespace for Client.Replay ("default"
	// when empty). Replay uses the workflow's own.
	Namespace string
	// From and To bound the stretch by position: events after From, up to
	// and including To.
	From, To Position
	// Since and Until bound the stretch by time: events appended at or
	// after Since and before Until.
	Since, Until time.Time
	// MaxEvents bounds the events read; ReplayMaxEventsDefault when 0. A
	// replay that reaches it stops there and says so (Truncated).
	MaxEvents int
}

// ReplayReport is what a replay found: what the definition it ran would
// have decided over the stretch of the log, next to what really happened.
// See [Replay].
type ReplayReport struct {
	Namespace string `json:"namespace"`
	Workflow  string `json:"workflow"`
	// Version is the version of the definition replayed.
	Version string `json:"version"`
	// First and Last are the positions of the first and last events read;
	// Events counts them.
	First  Position `json:"first"`
	Last   Position `json:"last"`
	Events int      `json:"events"`
	// Truncated is true when MaxEvents stopped the replay before the end
	// of the stretch.
	Truncated bool `json:"truncated"`
	// Executions are the executions replayed: those whose start lies in
	// the stretch, by id.
	Executions []ReplayExecution `json:"executions"`
	// Decisions are the starts, restarts and stops the replay decided, in
	// order.
	Decisions []ReplayDecision `json:"decisions"`
	// Differences counts the runs that differ (ReplayRun.Difference).
	Differences int `json:"differences"`
}

// ReplayExecution is one replayed execution.
type ReplayExecution struct {
	ID int64 `json:"id"`
	// Version is the definition version it really ran with.
	Version string `json:"version"`
	// Status is its recorded status now; ReplayStatus its status at the end
	// of the replay.
	Status       WorkflowStatus `json:"status"`
	ReplayStatus WorkflowStatus `json:"replay_status"`
	// Runs are the task runs of the replay and of the record, matched by
	// task and sequence number, by task then number.
	Runs []ReplayRun `json:"runs"`
}

// ReplayRun is run SeqNum of a task in the replay and in the record.
type ReplayRun struct {
	Task   string `json:"task"`
	SeqNum int    `json:"seq_num"`
	// Replayed is the run the replay would have started (nil: none).
	Replayed *ReplayedRun `json:"replayed,omitempty"`
	// Recorded is the run that really happened (nil: none).
	Recorded *RecordedRun `json:"recorded,omitempty"`
	// Difference says how they differ; empty when they do not.
	Difference string `json:"difference,omitempty"`
}

// ReplayedRun is a run the replay would have started.
type ReplayedRun struct {
	StartedBy Evaluation `json:"started_by"`
	// StopReason is set when the replay asked the run to stop.
	StopReason string `json:"stop_reason,omitempty"`
}

// RecordedRun is a run that really happened.
type RecordedRun struct {
	TaskExecutionID int64      `json:"task_execution_id"`
	Status          TaskStatus `json:"status"`
	// StartedBy is the recorded start decision (nil when none was
	// recorded: a run older than the store's decisions).
	StartedBy *Evaluation `json:"started_by,omitempty"`
}

// ReplayDecision is a start, restart or stop the replay decided.
type ReplayDecision struct {
	ExecutionID int64  `json:"execution_id"`
	Task        string `json:"task"`
	Evaluation
}

// Replay runs workflow's definition (as declared now, not as registered in
// the store) over a stretch of the event log of its namespace with the
// engine alone: it runs no task and writes nothing. It reports the runs the
// definition would have started, restarted and stopped, next to the runs
// that really happened, and where they differ: a user changes a condition,
// replays last week's events and sees what the change would have done
// before deploying it.
//
// What a replay knows and does not know:
//
//   - It replays the executions whose start lies in the stretch, started
//     when and as they really were (by a request, a schedule or a
//     trigger): it does not decide again which executions start. Events for
//     other executions are ignored.
//   - User events, requests (start, stop, restart a task, stop the
//     execution), periodic ticks and the enabling and disabling of the
//     workflow are applied as recorded.
//   - The statuses of the tasks come from the record: run n of a task in
//     the replay gets the status events that run n of that task really
//     had. A run the replay starts that never happened gets none: its
//     outcome cannot be known, so it stays QUEUED (and what would have
//     followed from it is not replayed). A run that really happened but
//     that the replay does not start has its statuses ignored.
//   - A stop the replay asks for takes effect at once (the replay has no
//     worker to wait for).
//   - Conditions run on the replay's own state; a condition that fails is
//     recorded as CONDITION_FAILED and the event skipped for that
//     execution, as a poison event would be.
//
// The comparison matches runs by task and sequence number; when the record
// has the start decision of a run (see Client.ExplainTask), a run started
// by another event is reported as a difference too.
func Replay(ctx context.Context, st store.Store, workflow *Workflow, opts *ReplayOpts) (*ReplayReport, error) {
	const op = "replay"
	if st == nil {
		return nil, opError(op, fmt.Errorf("%w: store is nil: expected the store the workflow ran on", ErrInvalid))
	}
	if opts == nil {
		opts = &ReplayOpts{}
	}
	if opts.MaxEvents < 0 {
		return nil, opError(op, fmt.Errorf("%w: MaxEvents is %d: expected 0 (the default, %d) or more", ErrInvalid, opts.MaxEvents, ReplayMaxEventsDefault))
	}
	cw, err := workflow.compile()
	if err != nil {
		return nil, opError(op, err)
	}
	r := newReplayer(cw.def)
	if err := r.run(ctx, st, opts); err != nil {
		return nil, opError(op, err)
	}
	rep, err := r.report(ctx, st)
	if err != nil {
		return nil, opError(op, err)
	}
	return rep, nil
}

// Replay replays the definition of workflow registered in this client (see
// the package function Replay) over a stretch of the log of the client's
// store. It fails with ErrWorkflowNotFound when this client has not
// registered the workflow.
func (c *Client) Replay(ctx context.Context, workflow string, opts *ReplayOpts) (*ReplayReport, error) {
	ns := DefaultNamespace
	if opts != nil && opts.Namespace != "" {
		ns = opts.Namespace
	}
	c.mu.Lock()
	cw := c.workflows[workflowKey{ns, workflow}]
	c.mu.Unlock()
	if cw == nil {
		return nil, opError("replay", fmt.Errorf("%w: %q in namespace %q is not registered in this process: a replay runs the definition the program registers",
			store.ErrWorkflowNotFound, workflow, ns))
	}
	return Replay(ctx, c.store, cw.wf, opts)
}

// replayIDs hands out the replay's own task execution ids.
type replayIDs struct{ te int64 }

func (r *replayIDs) NextExecutionID() (int64, error) {
	return 0, fmt.Errorf("a replay starts no execution of its own")
}
func (r *replayIDs) NextTaskExecutionID() (int64, error) { r.te++; return r.te, nil }

// replayRunKey names a run: execution, task, sequence number.
type replayRunKey struct {
	exec int64
	task string
	seq  int
}

// replayer is the state of one replay.
type replayer struct {
	def   *engine.Definition
	eng   *engine.Engine
	ids   replayIDs
	snaps map[string][]byte

	rep    ReplayReport
	starts map[int64]store.Event // the start requests read, by execution
	execs  map[int64]*ReplayExecution
	runs   map[replayRunKey]*ReplayedRun
	teRuns map[int64]replayRunKey // the replay's task execution ids
}

func newReplayer(def *engine.Definition) *replayer {
	reg := engine.NewRegistry()
	reg.Add(def)
	return &replayer{
		def: def, eng: engine.New(reg, 0), snaps: map[string][]byte{},
		rep:    ReplayReport{Namespace: def.Namespace, Workflow: def.Name, Version: def.Version, Executions: []ReplayExecution{}, Decisions: []ReplayDecision{}},
		starts: map[int64]store.Event{}, execs: map[int64]*ReplayExecution{}, runs: map[replayRunKey]*ReplayedRun{}, teRuns: map[int64]replayRunKey{},
	}
}

// run reads the stretch and applies what concerns the workflow.
func (r *replayer) run(ctx context.Context, st store.Store, opts *ReplayOpts) error {
	max := opts.MaxEvents
	if max == 0 {
		max = ReplayMaxEventsDefault
	}
	f := store.EventFilter{Namespace: r.def.Namespace, After: store.Position(opts.From), Since: opts.Since}
	for {
		evs, next, err := st.ListEvents(ctx, f)
		if err != nil {
			return err
		}
		for i := range evs {
			ev := &evs[i]
			if (opts.To != Position{} && opts.To.Less(Position(ev.Position))) || (!opts.Until.IsZero() && !ev.Time.Before(opts.Until)) {
				return nil
			}
			if r.rep.Events == max {
				r.rep.Truncated = true
				return nil
			}
			if r.rep.Events == 0 {
				r.rep.First = Position(ev.Position)
			}
			r.rep.Events++
			r.rep.Last = Position(ev.Position)
			if err := r.apply(ev); err != nil {
				return err
			}
		}
		if len(evs) == 0 || next == f.After {
			return nil
		}
		f.After = next
	}
}

// apply applies one recorded event, if it concerns the replay.
func (r *replayer) apply(ev *store.Event) error {
	wf := r.def.Name
	switch ev.Kind {
	case store.KindStatus:
		if ev.Workflow != wf {
			return nil
		}
		if ev.Key == store.WorkflowStatusKey(wf) {
			if _, known := r.execs[ev.ExecutionID]; known || store.WorkflowStatus(ev.Value) != store.WorkflowRunning {
				return nil
			}
			// The execution started here: start it in the replay, with
			// the replayed definition, on its start request when it had
			// one (else on this status event).
			r.execs[ev.ExecutionID] = &ReplayExecution{ID: ev.ExecutionID, ReplayStatus: WorkflowRunning}
			start, ok := r.starts[ev.ExecutionID]
			if !ok {
				data, _ := json.Marshal(store.StartExecutionData{RunType: store.RunManual})
				start = *ev
				start.Kind, start.Key, start.Value, start.Data = store.KindControl, store.KeyStartExecution, "", data
			}
			delete(r.starts, ev.ExecutionID)
			return r.unit(&start)
		}
		if _, known := r.execs[ev.ExecutionID]; !known || ev.TaskName == "" {
			return nil
		}
	case store.KindControl:
		switch ev.Key {
		case store.KeyStartExecution:
			if ev.Workflow == wf {
				r.starts[ev.ExecutionID] = *ev
			}
			return nil
		case store.KeyEnableWorkflow, store.KeyDisableWorkflow:
			if ev.Workflow != wf {
				return nil
			}
		case store.KeyStopExecution, store.KeyStartTask, store.KeyStopTask, store.KeyRestartTask, store.KeyPeriodicTick:
			if _, known := r.execs[ev.ExecutionID]; !known {
				return nil
			}
		default:
			return nil // schedules, triggers, the engine's records
		}
	}
	return r.unit(ev)
}

// unit applies one event in a unit of work of its own; a condition that
// fails is skipped as poison, after reloading the state the unit began
// with.
func (r *replayer) unit(ev *store.Event) error {
	r.eng.Begin(&r.ids, nil)
	err := r.eng.Apply(ev)
	if ee, ok := engine.IsEvalError(err); ok {
		_ = r.eng.End()
		if err := r.eng.Load(r.snapshots()); err != nil {
			return err
		}
		r.eng.Begin(&r.ids, map[engine.PoisonKey]string{ee.Key: ee.Err.Error()})
		err = r.eng.Apply(ev)
	}
	if err != nil {
		_ = r.eng.End()
		return err
	}
	fx := r.eng.End()
	r.record(fx)
	// A stop takes effect at once: the stopped runs report STOPPED.
	for _, s := range fx.Stops {
		k, ok := r.teRuns[s.TaskExecutionID]
		if !ok {
			continue
		}
		if run := r.runs[k]; run != nil && run.StopReason == "" {
			run.StopReason = s.Reason
		}
		stopped := store.NewStatusEvent(&store.TaskExecutionRecord{
			ID: s.TaskExecutionID, ExecutionID: k.exec, Namespace: r.def.Namespace, Workflow: r.def.Name, Task: k.task, SeqNum: k.seq,
		}, store.TaskStopped, store.StatusData{}, store.SenderEngine)
		stopped.ID, stopped.Position, stopped.Time = ev.ID, ev.Position, ev.Time
		if err := r.unit(&stopped); err != nil {
			return err
		}
	}
	return nil
}

// record keeps what a unit decided.
func (r *replayer) record(fx *store.Effects) {
	for _, s := range fx.Snapshots {
		if s.Delete {
			delete(r.snaps, s.Key)
		} else {
			r.snaps[s.Key] = s.Data
		}
	}
	for _, te := range fx.NewTaskExecutions {
		r.teRuns[te.ID] = replayRunKey{te.ExecutionID, te.Task, te.SeqNum}
	}
	for _, u := range fx.ExecutionUpdates {
		if x := r.execs[u.ID]; x != nil {
			x.ReplayStatus = WorkflowStatus(u.Status)
		}
	}
	for _, d := range fx.Decisions {
		switch d.Outcome {
		case store.DecisionStarted, store.DecisionRestarted, store.DecisionStopRequested:
		default:
			continue
		}
		ev := evaluationOf(d)
		r.rep.Decisions = append(r.rep.Decisions, ReplayDecision{ExecutionID: d.ExecutionID, Task: d.Task, Evaluation: ev})
		if d.Outcome.Starts() {
			r.runs[replayRunKey{d.ExecutionID, d.Task, d.SeqNum}] = &ReplayedRun{StartedBy: ev}
		}
	}
}

func (r *replayer) snapshots() []store.Snapshot {
	keys := make([]string, 0, len(r.snaps))
	for k := range r.snaps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]store.Snapshot, len(keys))
	for i, k := range keys {
		out[i] = store.Snapshot{Key: k, Data: r.snaps[k]}
	}
	return out
}

// report compares the replay with the record.
func (r *replayer) report(ctx context.Context, st store.Store) (*ReplayReport, error) {
	ids := make([]int64, 0, len(r.execs))
	for id := range r.execs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		x := r.execs[id]
		rec, err := st.GetExecution(ctx, id)
		if err != nil {
			return nil, err
		}
		x.Status, x.Version = WorkflowStatus(rec.Status), rec.Version
		tes, err := st.ListTaskExecutions(ctx, store.TaskExecutionFilter{ExecutionID: id})
		if err != nil {
			return nil, err
		}
		ds, err := st.ListDecisions(ctx, id, "")
		if err != nil {
			return nil, err
		}
		startedBy := map[int64]*Evaluation{}
		for _, d := range ds {
			if d.Outcome.Starts() {
				ev := evaluationOf(d)
				startedBy[d.TaskExecutionID] = &ev
			}
		}
		byKey := map[replayRunKey]*ReplayRun{}
		var keys []replayRunKey
		at := func(k replayRunKey) *ReplayRun {
			if run := byKey[k]; run != nil {
				return run
			}
			run := &ReplayRun{Task: k.task, SeqNum: k.seq}
			byKey[k] = run
			keys = append(keys, k)
			return run
		}
		for _, te := range tes {
			at(replayRunKey{id, te.Task, te.SeqNum}).Recorded = &RecordedRun{TaskExecutionID: te.ID, Status: TaskStatus(te.Status), StartedBy: startedBy[te.ID]}
		}
		for k, run := range r.runs {
			if k.exec == id {
				at(k).Replayed = run
			}
		}
		slices.SortFunc(keys, func(a, b replayRunKey) int {
			if c := strings.Compare(a.task, b.task); c != 0 {
				return c
			}
			return a.seq - b.seq
		})
		x.Runs = []ReplayRun{}
		for _, k := range keys {
			run := byKey[k]
			run.Difference = runDifference(run)
			if run.Difference != "" {
				r.rep.Differences++
			}
			x.Runs = append(x.Runs, *run)
		}
		r.rep.Executions = append(r.rep.Executions, *x)
	}
	return &r.rep, nil
}

// runDifference says how a replayed run differs from the recorded one.
func runDifference(run *ReplayRun) string {
	rp, rc := run.Replayed, run.Recorded
	switch {
	case rp == nil:
		s := "would not start"
		if rc.StartedBy != nil {
			s += "; really started by " + describeStart(*rc.StartedBy)
		}
		return s
	case rc == nil:
		return "would start (did not happen): " + describeStart(rp.StartedBy)
	case rc.StartedBy != nil && (rc.StartedBy.Rule != rp.StartedBy.Rule || rp.StartedBy.Rule > 0 && rc.StartedBy.EventID != rp.StartedBy.EventID):
		// Starts without a rule (the execution's start, requests, ticks)
		// are replayed from the record: only rules can differ.
		return "would start by " + describeStart(rp.StartedBy) + "; really started by " + describeStart(*rc.StartedBy)
	case rp.StopReason != "" && rc.Status != TaskStopped:
		return fmt.Sprintf("would be stopped (%s); really %s", rp.StopReason, rc.Status)
	case rp.StopReason == "" && rc.Status == TaskStopped:
		return "would not be stopped; really STOPPED"
	}
	return ""
}

// describeStart says what started a run.
func describeStart(ev Evaluation) string {
	if ev.Rule > 0 {
		return fmt.Sprintf("rule %d on event %d (%s)", ev.Rule, ev.EventID, ev.EventKey)
	}
	s := fmt.Sprintf("event %d (%s)", ev.EventID, ev.EventKey)
	if ev.Reason != "" {
		s += ": " + ev.Reason
	}
	return s
}

// evaluationOf is the public form of a decision.
func evaluationOf(d store.Decision) Evaluation {
	ev := Evaluation{Rule: d.Rule, EventID: d.EventID, EventKey: d.EventKey, Time: d.Time, Outcome: Outcome(d.Outcome),
		Reason: d.Reason, TaskExecutionID: d.TaskExecutionID, SeqNum: d.SeqNum, Count: max(d.Count, 1), FirstEventID: d.FirstEventID}
	if ev.Count == 1 {
		ev.FirstEventID = 0
	}
	return ev
}

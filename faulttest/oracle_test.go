package faulttest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// The oracle replays the event log with the rules of the chaos workflows
// (see testdata/chaosapp) and the library's semantics, written here again on
// its own:
//
//   - stream, d and p start with the execution;
//   - "ping" STARTs a, "num" adds its value to the execution's sum and STARTs
//     c each time the sum reaches sumLimit (keeping the rest);
//   - every status change of a's latest run STARTs b when that run is
//     SUCCESS;
//   - "kick" RESTARTs d, a periodic tick of the execution RESTARTs p, "go"
//     STARTs e and "halt" STOPs it;
//   - a START while the task is alive is ignored; a STOP of a task that is
//     not alive does nothing;
//   - a RESTART of a task that is not alive STARTs it; of an alive one, it
//     stops the run (which is then "stopping") and creates the next run,
//     left INIT until every stopping run of the task has finished (then it
//     is QUEUED); a RESTART while the latest run is INIT is coalesced into
//     it (nothing);
//   - a stop request stops the alive tasks and ends the execution, which then
//     ignores every later event.
//
// Besides the executions it checks, it counts what the test checks of the
// triggers and schedules: the "fire" events after the trigger of chaostrig
// was added (every third starts an execution), the ticks of the schedule of
// chaossched, and the periodic ticks of every execution.
//
// It reads the log in position order, as the consumers do: the engine's own
// decisions take effect at once (a new run is QUEUED when decided; its QUEUED
// status event comes later in the log), and every status event of a task's
// latest run changes its status unless the status it has is finished (a
// finished status is final). The status stored for a run is its last status
// in the log, or its first finished one: a report can follow a final status
// in the log (position order is not commit order) and is then ignored.

const sumLimit = 10

type oracleTask struct {
	seq    int
	status store.TaskStatus
	// stopping holds the earlier runs stopped by a RESTART that have not
	// finished yet, by seq, with their status.
	stopping map[int]store.TaskStatus
}

type oracleExec struct {
	id       int64
	workflow string
	running  bool
	sum      int
	tasks    map[string]*oracleTask
	// last is the status the log gives each run (its last one, or its first
	// final one), by task and seq.
	last map[string]map[int]store.TaskStatus
}

func (x *oracleExec) task(name string) *oracleTask {
	t := x.tasks[name]
	if t == nil {
		t = &oracleTask{}
		x.tasks[name] = t
	}
	return t
}

func (t *oracleTask) alive() bool { return t.seq > 0 && t.status.Alive() }

// next creates the task's next run: QUEUED, or INIT while earlier runs are
// stopping.
func (t *oracleTask) next() {
	t.seq++
	t.status = store.TaskQueued
	if len(t.stopping) > 0 {
		t.status = store.TaskInit
	}
}

// start STARTs a task: a new run unless it is alive.
func (x *oracleExec) start(name string) {
	if t := x.task(name); !t.alive() {
		t.next()
	}
}

// stop STOPs a task: its run goes STOPPING if it is alive.
func (x *oracleExec) stop(name string) {
	if t := x.task(name); t.alive() {
		t.status = store.TaskStopping
	}
}

// restart RESTARTs a task.
func (x *oracleExec) restart(name string) {
	t := x.task(name)
	switch {
	case !t.alive():
		t.next()
	case t.status == store.TaskInit: // coalesced
	default:
		t.status = store.TaskStopping
		if t.stopping == nil {
			t.stopping = map[int]store.TaskStatus{}
		}
		t.stopping[t.seq] = store.TaskStopping
		t.next()
	}
}

// oracleTimers is what the oracle counts of triggers and ticks.
type oracleTimers struct {
	// fires counts the "fire" events after the trigger of chaostrig was
	// added.
	fires int
	// scheduleTicks are the fire times of the ticks of chaossched's
	// schedule, in log order; scheduleSkipped the runs of missed ticks it
	// skipped.
	scheduleTicks   []time.Time
	scheduleSkipped []store.TickData
	// periodicTicks counts the periodic ticks by execution and fire time.
	periodicTicks map[string]int
}

// runOracle replays events (every event of the log, in position order) for
// the executions of the named workflows.
func runOracle(events []store.Event, workflows []string) (map[int64]*oracleExec, *oracleTimers, error) {
	execs := map[int64]*oracleExec{}
	timers := &oracleTimers{periodicTicks: map[string]int{}}
	triggered := false
	var running []*oracleExec // in id order, as the engine routes
	for i := range events {
		ev := &events[i]
		switch ev.Kind {
		case store.KindControl:
			switch ev.Key {
			case store.KeyTriggerAdded:
				triggered = triggered || ev.Workflow == "chaostrig"
			case store.KeyScheduleTick, store.KeyScheduleSkipped, store.KeyPeriodicTick:
				var d store.TickData
				if err := json.Unmarshal(ev.Data, &d); err != nil {
					return nil, nil, fmt.Errorf("event %d (%s): %v", ev.ID, ev.Key, err)
				}
				switch {
				case ev.Key == store.KeyPeriodicTick:
					timers.periodicTicks[fmt.Sprintf("execution %d task %s at %s", ev.ExecutionID, ev.TaskName, d.FireTime.Format(time.RFC3339Nano))]++
					if x := execs[ev.ExecutionID]; x != nil && x.running && ev.TaskName == "p" {
						x.restart("p")
					}
				case ev.Workflow != "chaossched":
				case ev.Key == store.KeyScheduleTick:
					timers.scheduleTicks = append(timers.scheduleTicks, d.FireTime)
				default:
					timers.scheduleSkipped = append(timers.scheduleSkipped, d)
				}
			case store.KeyStartExecution:
				if !slices.Contains(workflows, ev.Workflow) || execs[ev.ExecutionID] != nil {
					continue
				}
				x := &oracleExec{id: ev.ExecutionID, workflow: ev.Workflow, running: true,
					tasks: map[string]*oracleTask{}, last: map[string]map[int]store.TaskStatus{}}
				execs[x.id] = x
				i, _ := slices.BinarySearchFunc(running, x.id, func(a *oracleExec, id int64) int { return int(a.id - id) })
				running = slices.Insert(running, i, x)
				x.start("stream")
				x.start("d")
				x.start("p")
			case store.KeyStopExecution:
				x := execs[ev.ExecutionID]
				if x == nil || !x.running {
					continue
				}
				for _, t := range x.tasks {
					if t.status.Alive() {
						t.status = store.TaskStopping
					}
				}
				x.running = false
				running = slices.DeleteFunc(running, func(r *oracleExec) bool { return r == x })
			}
		case store.KindUser:
			if ev.ExecutionID != 0 && !ev.Broadcast {
				return nil, nil, fmt.Errorf("event %d: the test sends no execution-scoped event", ev.ID)
			}
			if ev.Key == "fire" && triggered {
				timers.fires++
			}
			for _, x := range running {
				switch ev.Key {
				case "ping":
					x.start("a")
				case "num":
					n, err := strconv.Atoi(ev.Value)
					if err != nil {
						continue
					}
					x.sum += n
					if x.sum >= sumLimit {
						x.sum -= sumLimit
						x.start("c")
					}
				case "kick":
					x.restart("d")
				case "go":
					x.start("e")
				case "halt":
					x.stop("e")
				}
			}
		case store.KindStatus:
			x := execs[ev.ExecutionID]
			if x == nil || ev.TaskName == "" {
				continue
			}
			s := store.TaskStatus(ev.Value)
			if x.last[ev.TaskName] == nil {
				x.last[ev.TaskName] = map[int]store.TaskStatus{}
			}
			// A finished status is final: a report that comes after it in
			// the log (committed before it, by a writer that saw the run
			// alive) changes nothing. Two different final statuses of one
			// run would be a bug.
			if prev, ok := x.last[ev.TaskName][ev.SeqNum]; !ok || !prev.Finished() {
				x.last[ev.TaskName][ev.SeqNum] = s
			} else if s.Finished() && s != prev {
				return nil, nil, fmt.Errorf("event %d: execution %d task %s #%d: %s after %s: two final statuses",
					ev.ID, ev.ExecutionID, ev.TaskName, ev.SeqNum, s, prev)
			}
			t := x.tasks[ev.TaskName]
			if t == nil {
				continue
			}
			if st, ok := t.stopping[ev.SeqNum]; ok {
				// A run stopped by a RESTART: once it has finished, the
				// next run is dispatched.
				old := &oracleTask{status: st}
				transition(old, s)
				t.stopping[ev.SeqNum] = old.status
				if old.status.Finished() {
					delete(t.stopping, ev.SeqNum)
					if len(t.stopping) == 0 && t.status == store.TaskInit && x.running {
						t.status = store.TaskQueued
					}
				}
				continue
			}
			if t.seq != ev.SeqNum {
				continue // a run that is no longer the latest: no effect
			}
			transition(t, s)
			if x.running && ev.TaskName == "a" && t.status == store.TaskSuccess {
				x.start("b")
			}
		}
	}
	return execs, timers, nil
}

// transition applies a reported status to a task's latest run.
func transition(t *oracleTask, s store.TaskStatus) {
	if t.status.Finished() {
		return
	}
	switch s {
	case store.TaskQueued:
		if t.status == store.TaskInit {
			t.status = s
		}
	case store.TaskRunning:
		if t.status == store.TaskQueued || t.status == store.TaskRetrying || t.status == store.TaskInit {
			t.status = s
		}
	case store.TaskRetrying:
		if t.status != store.TaskStopping {
			t.status = s
		}
	case store.TaskStopping, store.TaskSuccess, store.TaskFailed, store.TaskStopped:
		t.status = s
	}
}

package faulttest

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/aiflow-go/aiflow/store"
)

// The oracle replays the event log with the rules of the chaos workflows
// (see testdata/chaosapp) and the library's semantics, written here again on
// its own:
//
//   - stream starts with the execution;
//   - "ping" STARTs a, "num" adds its value to the execution's sum and STARTs
//     c each time the sum reaches sumLimit (keeping the rest);
//   - every status change of a's latest run STARTs b when that run is
//     SUCCESS;
//   - a START while the task is alive is ignored;
//   - a stop request stops the alive tasks and ends the execution, which then
//     ignores every later event.
//
// It reads the log in position order, as the consumers do: the engine's own
// decisions take effect at once (a new run is QUEUED when decided; its QUEUED
// status event comes later in the log), and every status event of a task's
// latest run changes its status unless the status it has is finished (a
// finished status is final).

const sumLimit = 10

type oracleTask struct {
	seq    int
	status store.TaskStatus
}

type oracleExec struct {
	id       int64
	workflow string
	running  bool
	sum      int
	tasks    map[string]*oracleTask
	// last is the last status in the log of each run, by task and seq.
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

// start STARTs a task: a new run unless it is alive.
func (x *oracleExec) start(name string) {
	t := x.task(name)
	if t.seq > 0 && t.status.Alive() {
		return
	}
	t.seq++
	t.status = store.TaskQueued
}

// runOracle replays events (every event of the log, in position order) for
// the executions of the named workflows.
func runOracle(events []store.Event, workflows []string) (map[int64]*oracleExec, error) {
	execs := map[int64]*oracleExec{}
	var running []*oracleExec // in id order, as the engine routes
	for i := range events {
		ev := &events[i]
		switch ev.Kind {
		case store.KindControl:
			switch ev.Key {
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
				return nil, fmt.Errorf("event %d: the test sends no execution-scoped event", ev.ID)
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
			x.last[ev.TaskName][ev.SeqNum] = s
			t := x.tasks[ev.TaskName]
			if t == nil || t.seq != ev.SeqNum {
				continue // a run that is no longer the latest: no effect
			}
			transition(t, s)
			if x.running && ev.TaskName == "a" && t.status == store.TaskSuccess {
				x.start("b")
			}
		}
	}
	return execs, nil
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

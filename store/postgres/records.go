package postgres

import (
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aiflow-go/aiflow/store"
)

// This file turns a unit of work's records (store.Effects) into the
// statements of its write.

// dispatchKey names one dispatch row: an attempt of a task execution.
type dispatchKey struct {
	te      int64
	attempt int
}

// dispatchRow is a dispatch row as read: its River job and state.
type dispatchRow struct {
	jobID int64
	state string
}

// Dispatch row states.
const (
	dispatchPending   = "pending"
	dispatchRunning   = "running"
	dispatchDone      = "done"
	dispatchReaped    = "reaped"
	dispatchCancelled = "cancelled"
)

// newDispatch is a dispatch row a unit of work creates.
type newDispatch struct {
	key       dispatchKey
	notBefore time.Time
	streaming bool
	dropped   bool // stopped in the same unit: recorded, no job
	handoff   bool // started by this unit, run by this process's workers
}

// state is the state the dispatch row is inserted in: cancelled when
// dropped, running when handed off, else pending.
func (d *newDispatch) state() string {
	switch {
	case d.dropped:
		return dispatchCancelled
	case d.handoff:
		return dispatchRunning
	}
	return dispatchPending
}

// executionRecords returns the statements that insert fx's new workflow
// executions (replacing an INIT one of the same id) and apply its execution
// updates.
func (s *Store) executionRecords(fx *store.Effects) []stmt {
	var out []stmt
	if len(fx.NewExecutions) > 0 {
		out = append(out, stmt{
			sql: s.q(checkedSQL(`INSERT INTO {s}.aiflow_workflow_execution AS x
			(id, namespace, workflow, version, status, run_type, note, schedule_id, trigger_id, created_at, updated_at, ended_at)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
				$8::bigint[], $9::bigint[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[])
			ON CONFLICT (id) DO UPDATE SET namespace = EXCLUDED.namespace, workflow = EXCLUDED.workflow,
				version = EXCLUDED.version, status = EXCLUDED.status, run_type = EXCLUDED.run_type, note = EXCLUDED.note,
				schedule_id = EXCLUDED.schedule_id, trigger_id = EXCLUDED.trigger_id, updated_at = EXCLUDED.updated_at,
				ended_at = EXCLUDED.ended_at
			WHERE x.status = 'INIT'
			RETURNING id`, 1, "workflow execution", "")),
			args: execArrays(fx.NewExecutions),
		})
	}
	if ups := foldExecutionUpdates(fx.ExecutionUpdates); len(ups) > 0 {
		ids, statuses, notes, ended := make([]int64, len(ups)), make([]string, len(ups)), make([]string, len(ups)), make([]pgtype.Timestamptz, len(ups))
		for i, u := range ups {
			ids[i], statuses[i], notes[i], ended[i] = u.ID, string(u.Status), u.Note, tsOrNil(u.EndedAt)
		}
		out = append(out, stmt{sql: s.q(`UPDATE {s}.aiflow_workflow_execution AS x SET status = u.status, updated_at = clock_timestamp(),
				note = CASE WHEN u.note <> '' THEN u.note ELSE x.note END, ended_at = coalesce(u.ended_at, x.ended_at)
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS u(id, status, note, ended_at)
			WHERE x.id = u.id`), args: []any{ids, statuses, notes, ended}})
	}
	return out
}

// newTERow is a task execution a unit of work inserts: running is set for a
// handed-off attempt's (RUNNING, started now), folded when the unit set its
// status (its updated_at is the insert's time, as an update's would be).
type newTERow struct {
	folded, running []bool
	// onRunning receives the times of a running one and its execution's
	// version and input.
	onRunning func(id int64, started, updated time.Time, version, input string)
}

// runningExecutionSQL is a FROM item: the rows r of task executions (with
// the columns execution_id and running) joined with the version and input
// of the workflow execution of each running one, which executionColsSQL
// selects (empty for the others). Each running row reads its execution's row
// once, by its primary key, and the others read nothing: the LIMIT keeps
// the planner from flattening the subquery into a join, which would probe
// for every row (running is then a join filter) or hash the whole table.
const runningExecutionSQL = `r LEFT JOIN LATERAL (SELECT x.version, x.input FROM {s}.aiflow_workflow_execution x
	WHERE r.running AND x.id = r.execution_id LIMIT 1) x ON true`

// executionColsSQL selects the version and input that runningExecutionSQL
// joins.
const executionColsSQL = `coalesce(x.version, '') AS version, coalesce(x.input, '') AS input`

// insertTaskExecutionsSQL inserts task executions ($1 to $23: the columns,
// $24 folded, $25 running, see newTERow) and returns each id, whether it is
// running, its times and its workflow execution's id.
const insertTaskExecutionsSQL = `INSERT INTO {s}.aiflow_task_execution
	(id, execution_id, namespace, workflow, task, seq_num, attempt, failures, max_attempts, status, error, note,
	 status_message, metrics, streaming, timeout_us, created_at, updated_at, started_at, ended_at,
	 interruptions, max_interruptions, trace_parent)
	SELECT id, execution_id, namespace, workflow, task, seq_num, attempt, failures, max_attempts, status, error, note,
		status_message, nullif(metrics, 'null'::jsonb), streaming, timeout_us, created_at,
		CASE WHEN folded OR running THEN clock_timestamp() ELSE updated_at END,
		CASE WHEN running THEN clock_timestamp() ELSE started_at END, ended_at,
		interruptions, max_interruptions, trace_parent
	FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::integer[],
		$8::integer[], $9::integer[], $10::text[], $11::text[], $12::text[], $13::text[], $14::jsonb[], $15::boolean[],
		$16::bigint[], $17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::timestamptz[],
		$21::integer[], $22::integer[], $23::text[], $24::boolean[], $25::boolean[])
		AS u(id, execution_id, namespace, workflow, task, seq_num, attempt, failures, max_attempts, status, error, note,
			status_message, metrics, streaming, timeout_us, created_at, updated_at, started_at, ended_at,
			interruptions, max_interruptions, trace_parent, folded, running)
	ON CONFLICT (id) DO NOTHING
	RETURNING id, status = 'RUNNING' AS running, started_at, updated_at, execution_id`

// taskExecutionRecords returns the statement that inserts the new task
// executions news as r says (none when there are none); a task execution
// that exists already fails it with store.ErrAlreadyExists.
func (s *Store) taskExecutionRecords(news []store.TaskExecutionRecord, r newTERow) []stmt {
	if len(news) == 0 {
		return nil
	}
	return []stmt{{
		// Every id must be inserted: the statement raises checkExists
		// otherwise, before the unit's COMMIT (which may ride in the same
		// round trip).
		// The running ones come with their execution's version and input.
		sql: s.q(checkedSQL(insertTaskExecutionsSQL, 1, "task execution",
			"r.id, r.running, r.started_at, r.updated_at, "+executionColsSQL+" FROM "+runningExecutionSQL)),
		args: append(teArrays(news), r.folded, r.running),
		handle: func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			var id int64
			var running bool
			var started pgtype.Timestamptz
			var updated time.Time
			var version, input string
			_, err = pgx.ForEachRow(rows, []any{&id, &running, &started, &updated, &version, &input}, func() error {
				if running && r.onRunning != nil {
					r.onRunning(id, started.Time, updated, version, input)
				}
				return nil
			})
			return err
		},
	}}
}

// queueNewTaskExecutions inserts the unit's new task executions as the unit
// leaves them (dispatched: QUEUED; handed off: RUNNING, their times and
// execution read back into the handed-off runs), rather than INIT and then
// updated once or twice. Those the unit ended are inserted as they are and
// ended by queueStatuses.
func (u *unitWrite) queueNewTaskExecutions() {
	if len(u.news) == 0 {
		return
	}
	handoff := make(map[int64]int, len(u.res.handoffs))
	for i, h := range u.res.handoffs {
		handoff[h.te] = i
	}
	u.insertedRunning = make(map[int64]bool, len(u.res.handoffs))
	news := make([]store.TaskExecutionRecord, len(u.news))
	r := newTERow{folded: make([]bool, len(u.news)), running: make([]bool, len(u.news))}
	for i, id := range u.news {
		te := *u.tes[id]
		if _, ok := handoff[id]; ok {
			te.Status, te.Error = store.TaskRunning, ""
			r.running[i] = true
			u.insertedRunning[id] = true
		}
		if u.changed[id] && !u.ended[id] {
			r.folded[i] = true
			delete(u.changed, id)
		}
		news[i] = te
	}
	r.onRunning = func(id int64, started, updated time.Time, version, input string) {
		if i, ok := handoff[id]; ok && u.res.handoffs[i].run != nil {
			run := u.res.handoffs[i].run
			run.StartedAt, run.UpdatedAt, run.Version, run.Input = started, updated, version, input
		}
	}
	u.pending = append(u.pending, u.s.taskExecutionRecords(news, r)...)
}

// taskNotes returns the statement that writes the last note of each task
// execution, and sets the note on the ones in known.
func (s *Store) taskNotes(taskNotes []store.TaskNote, known map[int64]*store.TaskExecutionRecord) []stmt {
	notes := foldNotes(taskNotes)
	if len(notes) == 0 {
		return nil
	}
	ids, texts := make([]int64, 0, len(notes)), make([]string, 0, len(notes))
	for id, n := range notes {
		ids, texts = append(ids, id), append(texts, n)
		if te := known[id]; te != nil {
			te.Note = n
		}
	}
	return []stmt{{sql: s.q(`UPDATE {s}.aiflow_task_execution AS t SET note = u.note, updated_at = clock_timestamp()
			FROM unnest($1::bigint[], $2::text[]) AS u(id, note) WHERE t.id = u.id`), args: []any{ids, texts}}}
}

// snapshotWrites returns the statements that write the last write or
// delete of each snapshot key of the partition.
func (s *Store) snapshotWrites(partition int, snaps []store.Snapshot) []stmt {
	var out []stmt
	puts, dels := foldSnapshots(snaps)
	if len(puts) > 0 {
		keys, data := make([][]byte, len(puts)), make([][]byte, len(puts))
		for i, sn := range puts {
			keys[i], data[i] = []byte(sn.Key), sn.Data
			if data[i] == nil {
				data[i] = []byte{}
			}
		}
		out = append(out, stmt{sql: s.q(`INSERT INTO {s}.aiflow_snapshot (partition, key, data) SELECT $1, k, d FROM unnest($2::bytea[], $3::bytea[]) AS u(k, d)
			ON CONFLICT (partition, key) DO UPDATE SET data = EXCLUDED.data`), args: []any{partition, keys, data}})
	}
	if len(dels) > 0 {
		keys := make([][]byte, len(dels))
		for i, k := range dels {
			keys[i] = []byte(k)
		}
		out = append(out, stmt{sql: s.q("DELETE FROM {s}.aiflow_snapshot WHERE partition = $1 AND key = ANY($2::bytea[])"),
			args: []any{partition, keys}})
	}
	return out
}

// execArrays lays out execution records as the arrays of the insert.
func execArrays(xs []store.WorkflowExecutionRecord) []any {
	n := len(xs)
	ids, scheds, trigs := make([]int64, n), make([]int64, n), make([]int64, n)
	ns, wf, ver, st, rt, note := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created, updated, ended := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, x := range xs {
		ids[i], ns[i], wf[i], ver[i], st[i], rt[i], note[i] = x.ID, x.Namespace, x.Workflow, x.Version, string(x.Status), string(x.RunType), x.Note
		scheds[i], trigs[i] = x.ScheduleID, x.TriggerID
		c, u := x.CreatedAt, x.UpdatedAt
		if c.IsZero() {
			c = time.Now()
		}
		if u.IsZero() {
			u = c
		}
		created[i], updated[i], ended[i] = tsOrNil(c), tsOrNil(u), tsOrNil(x.EndedAt)
	}
	return []any{ids, ns, wf, ver, st, rt, note, scheds, trigs, created, updated, ended}
}

// teArrays lays out task execution records as the arrays of the insert.
func teArrays(tes []store.TaskExecutionRecord) []any {
	n := len(tes)
	ids, execs, timeouts := make([]int64, n), make([]int64, n), make([]int64, n)
	ns, wf, task, st, errs, notes, msgs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seq, att, fail, maxAtt := make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
	intr, maxIntr := make([]int32, n), make([]int32, n)
	// Metrics as JSON text ("null" without any): a []map has no text
	// encoding, which the simple protocol (PgBouncer) needs.
	metrics := make([]string, n)
	streaming := make([]bool, n)
	traceParents := make([]string, n)
	created, updated, started, ended := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, te := range tes {
		ids[i], execs[i], ns[i], wf[i], task[i] = te.ID, te.ExecutionID, te.Namespace, te.Workflow, te.Task
		seq[i], att[i], fail[i], maxAtt[i] = int32(te.SeqNum), int32(te.Attempt), int32(te.Failures), int32(te.MaxAttempts)
		intr[i], maxIntr[i] = int32(te.Interruptions), int32(te.MaxInterruptions)
		st[i], errs[i], notes[i], msgs[i] = string(te.Status), te.Error, te.Note, te.StatusMessage
		m, err := json.Marshal(te.Metrics)
		if err != nil {
			m = []byte("null") // map[string]float64 fails only on NaN or infinities
		}
		metrics[i], streaming[i], timeouts[i], traceParents[i] = string(m), te.Streaming, te.Timeout.Microseconds(), te.TraceParent
		c, u := te.CreatedAt, te.UpdatedAt
		if c.IsZero() {
			c = time.Now()
		}
		if u.IsZero() {
			u = c
		}
		created[i], updated[i], started[i], ended[i] = tsOrNil(c), tsOrNil(u), tsOrNil(te.StartedAt), tsOrNil(te.EndedAt)
	}
	return []any{ids, execs, ns, wf, task, seq, att, fail, maxAtt, st, errs, notes, msgs, metrics, streaming, timeouts,
		created, updated, started, ended, intr, maxIntr, traceParents}
}

// foldExecutionUpdates merges the updates of one execution in order, as
// applying them one after the other would.
func foldExecutionUpdates(ups []store.ExecutionUpdate) []store.ExecutionUpdate {
	if len(ups) < 2 {
		return ups
	}
	idx := map[int64]int{}
	var out []store.ExecutionUpdate
	for _, u := range ups {
		i, ok := idx[u.ID]
		if !ok {
			idx[u.ID] = len(out)
			out = append(out, u)
			continue
		}
		cur := &out[i]
		cur.Status = u.Status
		if u.Note != "" {
			cur.Note = u.Note
		}
		if !u.EndedAt.IsZero() {
			cur.EndedAt = u.EndedAt
		}
	}
	return out
}

// foldNotes keeps the last note of each task execution.
func foldNotes(notes []store.TaskNote) map[int64]string {
	out := make(map[int64]string, len(notes))
	for _, n := range notes {
		out[n.TaskExecutionID] = n.Note
	}
	return out
}

// foldSnapshots keeps the last write or delete of each key.
func foldSnapshots(snaps []store.Snapshot) (puts []store.Snapshot, dels []string) {
	last := make(map[string]int, len(snaps))
	puts = make([]store.Snapshot, 0, len(snaps))
	for i, sn := range snaps {
		last[sn.Key] = i
	}
	for i, sn := range snaps {
		if last[sn.Key] != i {
			continue
		}
		if sn.Delete {
			dels = append(dels, sn.Key)
		} else {
			puts = append(puts, sn)
		}
	}
	return puts, dels
}

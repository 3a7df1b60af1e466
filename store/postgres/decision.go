package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// decisionWrites returns the statement that records a unit of work's
// decisions (store.FoldDecisions of them): a row per start decision, and per
// (execution, task, rule) evaluated, the upsert of its ring (see migrations
// 11 and 17). Each decision draws its id from the table's identity, in the
// unit's order.
func (s *Store) decisionWrites(ds []store.Decision) []stmt {
	ds = store.FoldDecisions(ds)
	n := len(ds)
	if n == 0 {
		return nil
	}
	execs, events, tes, firsts := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	tasks, keys, outcomes, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	rules, seqs, counts := make([]int32, n), make([]int32, n), make([]int32, n)
	times := make([]time.Time, n)
	kept, single := make([]bool, n), make([]bool, n)
	entries := make(map[ringKey]int, n)
	for i := range ds {
		if !ds[i].Outcome.Starts() {
			entries[ringKey{ds[i].ExecutionID, ds[i].Task, ds[i].Rule}]++
		}
	}
	starts, singles := 0, 0
	for i, d := range ds {
		execs[i], tasks[i], rules[i], events[i], keys[i] = d.ExecutionID, d.Task, int32(d.Rule), d.EventID, d.EventKey
		times[i], outcomes[i], reasons[i], tes[i], seqs[i] = d.Time, string(d.Outcome), d.Reason, d.TaskExecutionID, int32(d.SeqNum)
		counts[i], firsts[i] = int32(d.Count), d.FirstEventID
		kept[i] = d.Outcome.Starts()
		single[i] = !kept[i] && entries[ringKey{d.ExecutionID, d.Task, d.Rule}] == 1
		if kept[i] {
			starts++
		} else if single[i] {
			singles++
		}
	}
	// A unit whose decisions are all starts, or all the one entry of their
	// ring, has a statement of its own: Postgres plans and starts every part
	// of a statement whatever rows reach it, and writeDecisionsSQL's parts
	// cost about 0.2 – 0.4 ms for one start, on the path from event to start.
	switch {
	case starts == n:
		return []stmt{{sql: s.q(writeStartsSQL), args: []any{execs, tasks, rules, events, keys, times, outcomes, reasons, tes, seqs}}}
	case singles == n:
		return []stmt{{sql: s.q(writeSinglesSQL), args: []any{execs, tasks, rules, events, keys, times, outcomes, reasons, tes, seqs,
			counts, firsts, store.DecisionsKept - 1}}}
	}
	return []stmt{{sql: s.q(writeDecisionsSQL), args: []any{execs, tasks, rules, events, keys, times, outcomes, reasons, tes, seqs, kept,
		counts, firsts, store.DecisionsKept - 1, single}}}
}

// decisionRows is the FROM clause of the unit's decisions ($1 to $10, then
// extra, WITH ORDINALITY as u, in the unit's order by u.ord).
func decisionRows(extra, cols string) string {
	return `unnest($1::bigint[], $2::text[], $3::integer[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[], $8::text[],
		$9::bigint[], $10::integer[]` + extra + `) WITH ORDINALITY
		AS u(execution_id, task, rule, event_id, event_key, time, outcome, reason, task_execution_id, seq_num` + cols + `, ord)`
}

// writeStartsSQL is writeDecisionsSQL for a unit whose decisions are all
// starts: a row each, its id drawn in the unit's order.
var writeStartsSQL = `INSERT INTO {s}.aiflow_decision (execution_id, task, rule, event_id, event_key, time, outcome, reason,
	task_execution_id, seq_num, kept)
SELECT execution_id, task, rule, event_id, event_key, time, outcome, reason, task_execution_id, seq_num, true
FROM ` + decisionRows("", "") + `
ORDER BY ord`

// writeSinglesSQL is writeDecisionsSQL for a unit whose decisions are each
// the only entry of its ring in the unit (most units: their evaluations
// folded, store.FoldDecisions): writeDecisionsSQL's ones, with $13 for the
// ring's size less one.
var writeSinglesSQL = `INSERT INTO {s}.aiflow_decision AS d (execution_id, task, rule, kept, newest_id, event_id, event_key, time,
	outcome, reason, task_execution_id, seq_num, count, first_event_id)
SELECT execution_id, task, rule, false, id, event_id, event_key, time, outcome, reason, task_execution_id, seq_num, count,
	first_event_id
FROM (SELECT u.*, nextval('{s}.aiflow_decision_id_seq'::regclass) AS id
	FROM ` + decisionRows(", $11::integer[], $12::bigint[]", ", count, first_event_id") + `
	ORDER BY ord) AS u
ON CONFLICT (execution_id, task, rule) WHERE NOT kept DO UPDATE SET ` + singleRingUpdate("$13")

// ringKey identifies a ring.
type ringKey struct {
	exec int64
	task string
	rule int
}

// writeDecisionsSQL inserts the start decisions and upserts the rings of
// the others (migration 17): the ring's newest entry in the row's columns,
// the older ones in its older_* arrays, at most $14 of them. A ring's new
// entries are aggregated from input sorted once by ring and id, not with an
// ORDER BY in each array_agg: before Postgres 16 each such aggregate sorts
// every group on its own, which cost a unit of work whose events each reach
// one execution about as much as the upserts themselves. A GROUP BY keeps its
// input's order within a group (whether it sorts or hashes, it reads the
// sorted input in order). The rings with one entry in the unit ($15, most
// often all of them) skip that aggregation: their entry is the row
// inserted. The row inserted carries the unit's entries as a new ring would
// hold them (the last in the columns, the others in the arrays), which is
// what the update reads from EXCLUDED: see ringUpdate.
var writeDecisionsSQL = strings.NewReplacer("{ring_update}", ringUpdate, "{single_update}", singleRingUpdate("$14")).
	Replace(writeDecisionsTemplate)

// writeDecisionsTemplate is writeDecisionsSQL with {ring_update} for the
// SET list of the rings' upserts and {single_update} for that of the rings
// with one entry in the unit.
const writeDecisionsTemplate = `WITH u AS MATERIALIZED (
	SELECT u.*, nextval('{s}.aiflow_decision_id_seq'::regclass) AS id
	FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[], $8::text[],
		$9::bigint[], $10::integer[], $11::boolean[], $12::integer[], $13::bigint[], $15::boolean[]) WITH ORDINALITY
		AS u(execution_id, task, rule, event_id, event_key, time, outcome, reason, task_execution_id, seq_num, kept, count,
			first_event_id, single, ord)
	ORDER BY ord),
ones AS (
	INSERT INTO {s}.aiflow_decision AS d (execution_id, task, rule, kept, newest_id, event_id, event_key, time, outcome, reason,
		task_execution_id, seq_num, count, first_event_id)
	SELECT execution_id, task, rule, false, id, event_id, event_key, time, outcome, reason, task_execution_id, seq_num, count,
		first_event_id
	FROM u WHERE single
	ON CONFLICT (execution_id, task, rule) WHERE NOT kept DO UPDATE SET {single_update}),
starts AS (
	INSERT INTO {s}.aiflow_decision (id, execution_id, task, rule, event_id, event_key, time, outcome, reason,
		task_execution_id, seq_num, kept)
	OVERRIDING SYSTEM VALUE
	SELECT id, execution_id, task, rule, event_id, event_key, time, outcome, reason, task_execution_id, seq_num, true
	FROM u WHERE kept),
g AS (
	SELECT execution_id, task, rule, count(*)::integer AS m, array_agg(id) AS ids, array_agg(event_id) AS event_ids,
		array_agg(event_key) AS event_keys, array_agg(time) AS times, array_agg(outcome) AS outcomes,
		array_agg(reason) AS reasons, array_agg(task_execution_id) AS tes, array_agg(seq_num) AS seqs,
		array_agg(count) AS counts, array_agg(first_event_id) AS firsts
	FROM (SELECT * FROM u WHERE NOT kept AND NOT single ORDER BY execution_id, task, rule, id) AS s
	GROUP BY execution_id, task, rule)
INSERT INTO {s}.aiflow_decision AS d (execution_id, task, rule, kept, newest_id, event_id, event_key, time, outcome, reason,
	task_execution_id, seq_num, count, first_event_id, older_id, older_event_id, older_event_key, older_time, older_outcome,
	older_reason, older_task_execution_id, older_seq_num, older_count, older_first_event_id)
SELECT execution_id, task, rule, false, ids[m], event_ids[m], event_keys[m], times[m], outcomes[m], reasons[m], tes[m],
	seqs[m], counts[m], firsts[m],
	CASE WHEN m > 1 THEN ids[:m-1] END, CASE WHEN m > 1 THEN event_ids[:m-1] END, CASE WHEN m > 1 THEN event_keys[:m-1] END,
	CASE WHEN m > 1 THEN times[:m-1] END, CASE WHEN m > 1 THEN outcomes[:m-1] END, CASE WHEN m > 1 THEN reasons[:m-1] END,
	CASE WHEN m > 1 THEN tes[:m-1] END, CASE WHEN m > 1 THEN seqs[:m-1] END, CASE WHEN m > 1 THEN counts[:m-1] END,
	CASE WHEN m > 1 THEN firsts[:m-1] END
FROM g
ON CONFLICT (execution_id, task, rule) WHERE NOT kept DO UPDATE SET {ring_update}`

// ringUpdate is the SET list of a ring's upsert. EXCLUDED holds the unit's
// entries of the ring, oldest first: its older_* arrays then its columns.
// The first of them repeats the ring's newest entry (ringRepeats) or not;
// when it does and it is the unit's only entry (ringHot: every evaluation of
// the unit repeated the newest), only the narrow columns change and the
// arrays are kept as they are. Otherwise the ring's entries are its older
// ones, its newest (unless repeated: then counted in the unit's first), and
// the unit's; the last becomes the newest and the $14 before it the older.
var ringUpdate = func() string {
	b := `newest_id = EXCLUDED.newest_id, event_id = EXCLUDED.event_id, event_key = EXCLUDED.event_key, time = EXCLUDED.time,
	outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, task_execution_id = EXCLUDED.task_execution_id,
	seq_num = EXCLUDED.seq_num,
	count = CASE WHEN ` + ringHot + ` THEN d.count + EXCLUDED.count ELSE EXCLUDED.count END,
	first_event_id = CASE WHEN ` + ringHot + ` THEN d.first_event_id ELSE EXCLUDED.first_event_id END`
	for _, c := range []struct{ col, typ, unit string }{
		{"id", "bigint", "EXCLUDED.older_id"}, {"event_id", "bigint", ""}, {"event_key", "text", ""},
		{"time", "timestamptz", ""}, {"outcome", "text", ""}, {"reason", "text", ""},
		{"task_execution_id", "bigint", ""}, {"seq_num", "integer", ""},
		{"count", "integer", `CASE WHEN ` + ringRepeats + ` THEN (d.count + EXCLUDED.older_count[1]) || EXCLUDED.older_count[2:]
			ELSE EXCLUDED.older_count END`},
		{"first_event_id", "bigint", `CASE WHEN ` + ringRepeats + ` THEN d.first_event_id || EXCLUDED.older_first_event_id[2:]
			ELSE EXCLUDED.older_first_event_id END`},
	} {
		newest := "d." + c.col
		if c.col == "id" {
			newest = "d.newest_id"
		}
		if c.unit == "" {
			c.unit = "EXCLUDED.older_" + c.col
		}
		b += fmt.Sprintf(`,
	older_%[1]s = CASE WHEN %[2]s THEN d.older_%[1]s
		ELSE (d.older_%[1]s || CASE WHEN %[3]s THEN '{}'::%[4]s[] ELSE ARRAY[%[5]s] END || %[6]s)[%[7]s:] END`,
			c.col, ringHot, ringRepeats, c.typ, newest, c.unit, ringFrom)
	}
	return b
}()

// singleRingUpdate is ringUpdate for a ring that has one entry in the unit,
// bound being the parameter of the ring's size less one: EXCLUDED has no
// older entries (its older_* are NULL), so that the entry repeats the
// ring's newest exactly when ringHot holds, and ringUpdate's expressions
// reduce to these (the same values, without the tests and the array
// arithmetic of EXCLUDED's older entries, which a unit whose events each
// reach one execution evaluated a dozen times per ring for nothing). When
// the entry repeats, the narrow columns change and the count grows;
// otherwise the ring's newest joins its older entries, of which the last
// bound are kept.
func singleRingUpdate(bound string) string {
	rep := singleRepeats
	b := `newest_id = EXCLUDED.newest_id, event_id = EXCLUDED.event_id, event_key = EXCLUDED.event_key, time = EXCLUDED.time,
	outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, task_execution_id = EXCLUDED.task_execution_id,
	seq_num = EXCLUDED.seq_num,
	count = CASE WHEN ` + rep + ` THEN d.count + EXCLUDED.count ELSE EXCLUDED.count END,
	first_event_id = CASE WHEN ` + rep + ` THEN d.first_event_id ELSE EXCLUDED.first_event_id END`
	from := `greatest(1, coalesce(cardinality(d.older_id), 0) + 2 - ` + bound + `)`
	for _, col := range []string{"id", "event_id", "event_key", "time", "outcome", "reason", "task_execution_id", "seq_num",
		"count", "first_event_id"} {
		newest := "d." + col
		if col == "id" {
			newest = "d.newest_id"
		}
		b += fmt.Sprintf(`,
	older_%[1]s = CASE WHEN %[2]s THEN d.older_%[1]s ELSE (d.older_%[1]s || ARRAY[%[3]s])[%[4]s:] END`, col, rep, newest, from)
	}
	return b
}

// singleRepeats is ringRepeats for a unit's only entry of a ring (EXCLUDED
// without older entries).
const singleRepeats = `(d.outcome <> 'STOP_REQUESTED' AND d.outcome = EXCLUDED.outcome AND d.reason = EXCLUDED.reason
	AND d.task_execution_id = EXCLUDED.task_execution_id AND d.seq_num = EXCLUDED.seq_num)`

// ringRepeats holds when the unit's first entry of a ring repeats the
// ring's newest (store.Decision.Repeats; a ring holds no start).
const ringRepeats = `(d.outcome <> 'STOP_REQUESTED' AND d.outcome = coalesce(EXCLUDED.older_outcome[1], EXCLUDED.outcome)
	AND d.reason = coalesce(EXCLUDED.older_reason[1], EXCLUDED.reason)
	AND d.task_execution_id = coalesce(EXCLUDED.older_task_execution_id[1], EXCLUDED.task_execution_id)
	AND d.seq_num = coalesce(EXCLUDED.older_seq_num[1], EXCLUDED.seq_num))`

// ringHot holds when the unit's only entry of a ring repeats its newest.
const ringHot = `(EXCLUDED.older_id IS NULL AND ` + ringRepeats + `)`

// ringFrom is the first index, in the ring's older entries followed by the
// newest (unless repeated) and the unit's older ones, that the ring keeps:
// the last $14.
const ringFrom = `greatest(1, coalesce(cardinality(d.older_id), 0) + CASE WHEN ` + ringRepeats + ` THEN 0 ELSE 1 END
	+ coalesce(cardinality(EXCLUDED.older_id), 0) - $14 + 1)`

// ListDecisions returns the decisions about a task of an execution (every
// task when task is empty), oldest first.
func (s *Store) ListDecisions(ctx context.Context, executionID int64, task string) ([]store.Decision, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT CASE WHEN kept THEN id ELSE newest_id END AS id, execution_id, task, rule,
			event_id, event_key, time, outcome, reason, task_execution_id, seq_num, count, coalesce(first_event_id, event_id)
		FROM {s}.aiflow_decision WHERE execution_id = $1 AND ($2::text = '' OR task = $2)
		UNION ALL
		SELECT r.id, d.execution_id, d.task, d.rule, r.event_id, r.event_key, r.time, r.outcome, r.reason,
			r.task_execution_id, r.seq_num, r.count, r.first_event_id
		FROM {s}.aiflow_decision d,
			unnest(d.older_id, d.older_event_id, d.older_event_key, d.older_time, d.older_outcome, d.older_reason,
				d.older_task_execution_id, d.older_seq_num, d.older_count, d.older_first_event_id)
			AS r(id, event_id, event_key, time, outcome, reason, task_execution_id, seq_num, count, first_event_id)
		WHERE d.execution_id = $1 AND ($2::text = '' OR d.task = $2) AND NOT d.kept
		ORDER BY id`), executionID, task)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Decision, error) {
		var d store.Decision
		var rule, seq, count int32
		var outcome string
		err := r.Scan(&d.ID, &d.ExecutionID, &d.Task, &rule, &d.EventID, &d.EventKey, &d.Time, &outcome, &d.Reason,
			&d.TaskExecutionID, &seq, &count, &d.FirstEventID)
		d.Rule, d.SeqNum, d.Count, d.Outcome = int(rule), int(seq), int(count), store.DecisionOutcome(outcome)
		return d, err
	})
}

package faulttest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// checkTimers checks the triggers and ticks against the oracle's counts (in
// the snapshot of q): every periodic tick fired once; the schedule's ticks
// fired once each, with none missing between the first and the last (its
// missed ticks are caught up), and each started one execution; every third
// "fire" event started one execution of chaostrig; and every one of those
// executions ended SUCCESS, or FAILED after a body of its task returned an
// error of its own (t has no retry policy, and its body fails when its
// record's insert does: a lost connection fails it).
func (b *bundle) checkTimers(ctx context.Context, q querier, timers *oracleTimers) {
	b.t.Helper()
	for tick, n := range timers.periodicTicks {
		require.Equal(b.t, 1, n, "periodic tick %s fired %d times", tick, n)
	}
	seen := map[time.Time]int{}
	for _, at := range timers.scheduleTicks {
		seen[at.UTC()]++
	}
	covered := slices.Clone(timers.scheduleTicks)
	for _, d := range timers.scheduleSkipped {
		for at := d.FirstMissed; !at.After(d.FireTime); at = at.Add(scheduleEvery) {
			covered = append(covered, at)
		}
	}
	for at, n := range seen {
		require.Equal(b.t, 1, n, "schedule tick %s fired %d times", at, n)
	}
	slices.SortFunc(covered, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(covered); i++ {
		require.Equal(b.t, scheduleEvery, covered[i].Sub(covered[i-1]), "schedule ticks %s and %s: none missing, none twice",
			covered[i-1], covered[i])
	}
	var bodyFailed []int64
	for id := range b.bodyFailed() {
		bodyFailed = append(bodyFailed, id)
	}
	var failed int // executions FAILED after a body error
	count := func(wf string, rt store.RunType) (n, unfinished int) {
		var f int
		require.NoError(b.t, q.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status <> 'SUCCESS'), count(*) FILTER (WHERE status = 'FAILED' AND EXISTS (
				SELECT FROM `+b.schema+`.aiflow_task_execution t
				WHERE t.execution_id = e.id AND t.status = 'FAILED' AND t.id = ANY($3)))
			FROM `+b.schema+`.aiflow_workflow_execution e WHERE workflow = $1 AND run_type = $2`, wf, string(rt), bodyFailed).Scan(&n, &unfinished, &f))
		failed += f
		return n, unfinished - f
	}
	scheduled, notSuccess := count("chaossched", store.RunPeriodic)
	require.Equal(b.t, len(timers.scheduleTicks), scheduled, "one execution of chaossched per tick")
	require.Zero(b.t, notSuccess, "executions of chaossched that did not end SUCCESS (nor FAILED after a body error):\n%s", b.notSuccess(ctx, q, "chaossched"))
	triggered, notSuccess := count("chaostrig", store.RunEvent)
	require.Equal(b.t, timers.fires/3, triggered, "one execution of chaostrig per third \"fire\" event (%d)", timers.fires)
	require.Zero(b.t, notSuccess, "executions of chaostrig that did not end SUCCESS (nor FAILED after a body error):\n%s", b.notSuccess(ctx, q, "chaostrig"))
	b.t.Logf("%d schedule ticks (%d skipped runs), %d periodic ticks, %d \"fire\" events: %d triggered executions; %d executions of both FAILED after a body error",
		len(timers.scheduleTicks), len(timers.scheduleSkipped), len(timers.periodicTicks), timers.fires, triggered, failed)
}

// notSuccess describes the executions of workflow wf that did not end
// SUCCESS (up to 5): each one's status and its task executions' statuses,
// attempts and errors, to explain a failed check.
func (b *bundle) notSuccess(ctx context.Context, q querier, wf string) string {
	rows, err := q.Query(ctx, `SELECT e.id, e.status, coalesce(string_agg(format('task execution %s (%s #%s) %s attempt %s error %L',
			t.id, t.task, t.seq_num, t.status, t.attempt, t.error), '; ' ORDER BY t.id), 'no task executions')
		FROM `+b.schema+`.aiflow_workflow_execution e LEFT JOIN `+b.schema+`.aiflow_task_execution t ON t.execution_id = e.id
		WHERE e.workflow = $1 AND e.status <> 'SUCCESS' GROUP BY e.id, e.status ORDER BY e.id LIMIT 5`, wf)
	if err != nil {
		return err.Error()
	}
	var out []string
	var id int64
	var status, tasks string
	_, err = pgx.ForEachRow(rows, []any{&id, &status, &tasks}, func() error {
		out = append(out, fmt.Sprintf("execution %d %s: %s", id, status, tasks))
		return nil
	})
	if err != nil {
		return err.Error()
	}
	return strings.Join(out, "\n")
}

// checkSends checks that every send of the producers that returned success
// is in the log exactly once, and every other at most once (each send has
// its own sender name).
func (b *bundle) checkSends(events []store.Event) {
	b.t.Helper()
	inLog := map[string]int{}
	for i := range events {
		if events[i].Kind == store.KindUser {
			inLog[events[i].Sender]++
		}
	}
	var wrong []string
	acked := 0
	for _, p := range b.producers {
		for sender, ok := range p.acked {
			switch n := inLog[sender]; {
			case ok && n != 1:
				wrong = append(wrong, fmt.Sprintf("%s: acknowledged, %d times in the log", sender, n))
			case !ok && n > 1:
				wrong = append(wrong, fmt.Sprintf("%s: not acknowledged, %d times in the log", sender, n))
			}
			if ok {
				acked++
			}
		}
	}
	slices.Sort(wrong)
	require.Empty(b.t, wrong, "sends not in the log exactly once (%d), for example:\n%s", len(wrong), strings.Join(wrong[:min(len(wrong), 5)], "\n"))
	b.t.Logf("%d acknowledged sends, each in the log once", acked)
}

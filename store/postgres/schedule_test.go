package postgres

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store"
)

func registerWorkflow(t *testing.T, s *Store, name string) {
	t.Helper()
	_, err := s.RegisterWorkflow(context.Background(), store.WorkflowRecord{Namespace: "default", Name: name, Version: "v1", Definition: []byte(`{}`)})
	require.NoError(t, err)
}

// listed lists the events matching f once at least n are listed: ListEvents
// returns only events that no later commit can precede, so an event may be
// listed a little after its commit while other transactions (other tests
// sharing the server) are open.
func listed(t *testing.T, s *Store, f store.EventFilter, n int) []store.Event {
	t.Helper()
	var evs []store.Event
	eventually(t, func() bool {
		var err error
		evs, _, err = s.ListEvents(context.Background(), f)
		require.NoError(t, err)
		return len(evs) >= n
	}, fmt.Sprintf("%d events listed", n))
	return evs
}

func changedEvent(wf string) store.Event {
	return store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyScheduleChanged, Workflow: wf}
}

func TestScheduleRecords(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, nil)
	ctx := context.Background()
	registerWorkflow(t, s, "w")
	_, err := s.AddSchedule(ctx, store.ScheduleRecord{Namespace: "default", Workflow: "nope", Expression: "interval@0 0 0 1", TimeZone: "UTC", Overlap: "allow"}, changedEvent("nope"))
	require.ErrorIs(t, err, store.ErrWorkflowNotFound)

	rec, err := s.AddSchedule(ctx, store.ScheduleRecord{Namespace: "default", Workflow: "w", Expression: "interval@0 0 0 1", TimeZone: "UTC", Overlap: "skip", CatchUp: 3}, changedEvent("w"))
	require.NoError(t, err)
	require.Equal(t, rec.CreatedAt.Truncate(time.Second), rec.CreatedAt, "creation times anchor interval ticks on whole seconds")
	got, err := s.GetSchedule(ctx, rec.ID)
	require.NoError(t, err)
	require.Equal(t, "skip", got.Overlap)
	require.Equal(t, 3, got.CatchUp)
	require.NoError(t, s.SetSchedulePaused(ctx, rec.ID, true, changedEvent("w")))
	list, err := s.ListSchedules(ctx, "default", "w")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.True(t, list[0].Paused)
	require.NoError(t, s.DeleteSchedule(ctx, rec.ID, changedEvent("w")))
	_, err = s.GetSchedule(ctx, rec.ID)
	require.ErrorIs(t, err, store.ErrScheduleNotFound)
	require.ErrorIs(t, s.DeleteSchedule(ctx, rec.ID, changedEvent("w")), store.ErrScheduleNotFound)
	evs := listed(t, s, store.EventFilter{Keys: []string{store.KeyScheduleChanged}}, 3)
	require.Len(t, evs, 3, "each change appended its event in the same transaction")
	require.JSONEq(t, fmt.Sprintf(`{"schedule_id":%d}`, rec.ID), string(evs[0].Data))
}

func TestFireTimerOnce(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, nil)
	ctx := context.Background()
	registerWorkflow(t, s, "w")
	rec, err := s.AddSchedule(ctx, store.ScheduleRecord{Namespace: "default", Workflow: "w", Expression: "interval@0 0 0 1", TimeZone: "UTC", Overlap: "allow"}, changedEvent("w"))
	require.NoError(t, err)
	at := rec.CreatedAt.Add(time.Second)
	tick := store.Firing{Key: "schedule:1", At: at, ScheduleID: rec.ID,
		Event: store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyScheduleTick, Workflow: "w"}}

	// Ten leaders fire the same tick at once: one wins.
	var fired atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.FireTimer(ctx, tick)
			require.NoError(t, err)
			if ok {
				fired.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, fired.Load())
	got, err := s.GetSchedule(ctx, rec.ID)
	require.NoError(t, err)
	require.True(t, got.LastFireAt.Equal(at))

	// A paused or deleted schedule does not fire.
	next := tick
	next.At = at.Add(time.Second)
	require.NoError(t, s.SetSchedulePaused(ctx, rec.ID, true, changedEvent("w")))
	ok, err := s.FireTimer(ctx, next)
	require.NoError(t, err)
	require.False(t, ok)
	// Resuming records when; ticks at or before it never fire.
	require.NoError(t, s.SetSchedulePaused(ctx, rec.ID, false, changedEvent("w")))
	got, err = s.GetSchedule(ctx, rec.ID)
	require.NoError(t, err)
	require.False(t, got.ResumedAt.Before(rec.CreatedAt))
	require.NoError(t, s.SetSchedulePaused(ctx, rec.ID, false, changedEvent("w")))
	again, err := s.GetSchedule(ctx, rec.ID)
	require.NoError(t, err)
	require.True(t, again.ResumedAt.Equal(got.ResumedAt), "resuming a schedule that is not paused changes nothing")
	old := tick
	old.At = got.ResumedAt
	ok, err = s.FireTimer(ctx, old)
	require.NoError(t, err)
	require.False(t, ok, "a tick at or before the last resume")
	require.NoError(t, s.SetSchedulePaused(ctx, rec.ID, true, changedEvent("w")))
	ok, err = s.FireTimer(ctx, next)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, s.DeleteSchedule(ctx, rec.ID, changedEvent("w")))
	ok, err = s.FireTimer(ctx, next)
	require.NoError(t, err)
	require.False(t, ok)
	// A timer without a schedule (a periodic task) fires once per tick.
	periodic := store.Firing{Key: "periodic:7:t", At: at,
		Event: store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyPeriodicTick, Workflow: "w", ExecutionID: 7, TaskName: "t"}}
	ok, err = s.FireTimer(ctx, periodic)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.FireTimer(ctx, periodic)
	require.NoError(t, err)
	require.False(t, ok)
	require.Len(t, listed(t, s, store.EventFilter{Keys: []string{store.KeyScheduleTick, store.KeyPeriodicTick}}, 2), 2)
}

func TestTriggerRecords(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, nil)
	ctx := context.Background()
	registerWorkflow(t, s, "w")
	ev := func(r store.TriggerRecord) store.Event {
		return store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyTriggerAdded, Workflow: r.Workflow,
			Data: fmt.Appendf(nil, `{"trigger_id":%d,"name":%q}`, r.ID, r.Name)}
	}
	rec, created, err := s.UpsertTrigger(ctx, store.TriggerRecord{Namespace: "default", Workflow: "w", Name: "t", Keys: []string{"a", "b"}}, ev)
	require.NoError(t, err)
	require.True(t, created)
	again, created, err := s.UpsertTrigger(ctx, store.TriggerRecord{Namespace: "default", Workflow: "w", Name: "t", Keys: []string{"x"}}, ev)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, rec.ID, again.ID)
	require.Equal(t, []string{"a", "b"}, again.Keys, "an existing trigger is returned unchanged")
	_, _, err = s.UpsertTrigger(ctx, store.TriggerRecord{Namespace: "default", Workflow: "nope", Name: "t", Keys: []string{"a"}}, ev)
	require.ErrorIs(t, err, store.ErrWorkflowNotFound)
	pause := store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyTriggerPaused, Workflow: "w"}
	require.NoError(t, s.SetTriggerPaused(ctx, rec.ID, true, pause))
	got, err := s.GetTrigger(ctx, rec.ID)
	require.NoError(t, err)
	require.True(t, got.Paused)
	list, err := s.ListTriggers(ctx, "", "")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NoError(t, s.DeleteTrigger(ctx, rec.ID, pause))
	_, err = s.GetTrigger(ctx, rec.ID)
	require.ErrorIs(t, err, store.ErrTriggerNotFound)
	require.Len(t, listed(t, s, store.EventFilter{Kinds: []store.EventKind{store.KindControl}}, 3), 3, "added (once), paused, deleted")
}

func TestElectFailsOver(t *testing.T) {
	t.Parallel()
	a, pool := newTestStore(t, nil)
	b := openStore(t, pool, &Config{Schema: a.Schema(), Logger: testLogger(t), LeaderTTL: time.Second})
	actx, stopA := context.WithCancel(context.Background())
	defer stopA()
	bctx, stopB := context.WithCancel(context.Background())
	defer stopB()
	cha, err := a.Elect(actx, "a")
	require.NoError(t, err)
	first := requireNext(t, cha)
	require.True(t, first, "the first client leads")
	chb, err := b.Elect(bctx, "b")
	require.NoError(t, err)
	stopA() // a resigns
	require.False(t, requireNext(t, cha))
	_, open := <-cha
	require.False(t, open, "the channel closes after the last transition")
	require.True(t, requireNext(t, chb), "b takes over")
}

func requireNext(t *testing.T, ch <-chan bool) bool {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("no leadership transition")
		return false
	}
}

// TestScheduleTicksOnceWhenTheLeaderIsKilled runs three client processes on
// one schema with a one-second schedule, kills the leader of the timers with
// SIGKILL in the middle, and checks that every tick started exactly one
// execution, none missing.
func TestScheduleTicksOnceWhenTheLeaderIsKilled(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	bin := filepath.Join(t.TempDir(), "schedapp")
	build := exec.Command("go", "build", "-o", bin, "./testdata/schedapp")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	s, pool := newTestStore(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	procs := map[string]*exec.Cmd{}
	for _, id := range []string{"c1", "c2", "c3"} {
		cmd := exec.Command(bin, "-url", pgtest.URL(), "-schema", s.Schema(), "-id", id)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		procs[id] = cmd
		ready := bufio.NewScanner(stdout)
		require.True(t, ready.Scan(), "client %s did not start", id)
		go func() { _, _ = bufio.NewReader(stdout).WriteTo(discard{}) }()
	}
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	})
	eventually(t, func() bool { _, err := s.GetWorkflow(ctx, "default", "tick"); return err == nil }, "the clients registered the workflow")
	sched, err := s.AddSchedule(ctx, store.ScheduleRecord{Namespace: "default", Workflow: "tick", Expression: "interval@0 0 0 1",
		TimeZone: "UTC", Overlap: "allow", CatchUp: 30}, changedEvent("tick"))
	require.NoError(t, err)

	ticks := func() []time.Time {
		evs, _, err := s.ListEvents(ctx, store.EventFilter{Keys: []string{store.KeyScheduleTick}, Limit: 100000})
		require.NoError(t, err)
		var out []time.Time
		for _, ev := range evs {
			var d store.TickData
			require.NoError(t, json.Unmarshal(ev.Data, &d))
			out = append(out, d.FireTime)
		}
		return out
	}
	eventually(t, func() bool { return len(ticks()) >= 3 }, "three ticks")
	var leaderID string
	require.NoError(t, pool.QueryRow(ctx, "SELECT leader_id FROM "+s.schema+".aiflow_leader WHERE name = 'timers'").Scan(&leaderID))
	killed := len(ticks())
	require.NoError(t, procs[leaderID].Process.Signal(syscall.SIGKILL))
	_ = procs[leaderID].Wait()
	delete(procs, leaderID)
	eventually(t, func() bool { return len(ticks()) >= killed+5 }, "five more ticks after the leader was killed")
	// No more ticks; let the survivors consume every tick, then stop them.
	require.NoError(t, s.SetSchedulePaused(ctx, sched.ID, true, changedEvent("tick")))
	executions := func() int {
		xs, err := s.ListExecutions(ctx, store.ExecutionFilter{Workflow: "tick"})
		require.NoError(t, err)
		return len(xs)
	}
	eventually(t, func() bool { return executions() == len(ticks()) }, "every tick consumed")
	for _, p := range procs {
		require.NoError(t, p.Process.Signal(syscall.SIGTERM))
		require.NoError(t, p.Wait())
	}
	procs = nil

	got := ticks()
	slices.SortFunc(got, func(a, b time.Time) int { return a.Compare(b) })
	// Ticks are anchored at the schedule's creation (a whole second), and
	// CatchUp 30 fires the first even if no leader had armed it in time.
	require.True(t, got[0].Equal(sched.CreatedAt.Add(time.Second)), "the first tick at %s, the schedule created at %s", got[0], sched.CreatedAt)
	for i := 1; i < len(got); i++ {
		require.Equal(t, time.Second, got[i].Sub(got[i-1]), "ticks %d and %d: no tick missing or fired twice", i-1, i)
	}
	xs, err := s.ListExecutions(ctx, store.ExecutionFilter{Workflow: "tick"})
	require.NoError(t, err)
	// One execution per tick, but the processes were stopped as the last tick
	// fired: its event may still wait for a consumer.
	require.LessOrEqual(t, len(xs), len(got), "no tick started two executions")
	require.GreaterOrEqual(t, len(xs), len(got)-1, "every tick but one fired as the processes stopped started its execution")
	t.Logf("%d ticks, leader %s killed after %d", len(got), leaderID, killed)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestPruneFiringsInBatches prunes more records than a batch holds, with
// records of several keys made at the same instant (the cursor's ties).
func TestPruneFiringsInBatches(t *testing.T) {
	t.Parallel()
	s, pool := newTestStore(t, nil)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := pool.Exec(ctx, s.q(`INSERT INTO {s}.aiflow_timer_fire (key, at, fired_at)
		SELECT k, $1::timestamptz + make_interval(secs => g), now() - interval '2 hours' + make_interval(secs => g / 1000.0)
		FROM unnest(ARRAY['a', 'b', 'c']) k, generate_series(1, 5000) g`), base)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, s.q(`INSERT INTO {s}.aiflow_timer_fire (key, at)
		SELECT 'a', $1::timestamptz + make_interval(secs => g) FROM generate_series(5001, 5010) g`), base)
	require.NoError(t, err)
	require.Greater(t, 15000, firingPruneBatch, "the test spans several batches")

	n, err := s.PruneFirings(ctx, map[string]int{"a": 3, "b": 7}, time.Hour)
	require.NoError(t, err)
	require.Equal(t, 5000+4993+5000, n, "a's old records, all but b's latest 7, all of c's")
	rows, err := pool.Query(ctx, s.q(`SELECT key, count(*), min(at) FROM {s}.aiflow_timer_fire GROUP BY key ORDER BY key`))
	require.NoError(t, err)
	type left struct {
		Key   string
		N     int
		First time.Time
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[left])
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a", got[0].Key)
	require.Equal(t, 10, got[0].N, "records younger than minAge stay")
	require.Equal(t, "b", got[1].Key)
	require.Equal(t, 7, got[1].N)
	require.True(t, got[1].First.Equal(base.Add(4994*time.Second)), "b keeps its latest: from %s", got[1].First)
}

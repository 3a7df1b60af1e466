package timer

import (
	"context"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow/internal/schedule"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// firingStore is a memory store that tells each tick it records.
type firingStore struct {
	*memory.Store
	fired chan store.Firing
}

func (s *firingStore) FireTimer(ctx context.Context, f store.Firing) (bool, error) {
	ok, err := s.Store.FireTimer(ctx, f)
	if err == nil {
		s.fired <- f
	}
	return ok, err
}

// A timer armed for a tick that falls due while it is being armed (the
// leader read the clock 1 ms before the tick, gocron reads it 1 ms after)
// fires that tick at once: it does not wait for the next resync.
func TestTimerArmedAsItsTickFallsDueFiresAtOnce(t *testing.T) {
	tick := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	// Time passes between the leader's read and gocron's: the two fake
	// clocks stand for the two reads, and neither moves.
	leaderClock := clockwork.NewFakeClockAt(tick.Add(-time.Millisecond))
	gocronClock := clockwork.NewFakeClockAt(tick.Add(time.Millisecond))
	gs, err := gocron.NewScheduler(gocron.WithClock(gocronClock), gocron.WithLocation(time.UTC))
	require.NoError(t, err)
	gs.Start()
	defer func() { require.NoError(t, gs.Shutdown()) }()

	st := &firingStore{Store: memory.New(&memory.Config{Clock: leaderClock}), fired: make(chan store.Firing, 4)}
	s := New(Config{Store: st, Owner: "test", Clock: leaderClock})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &leader{s: s, ctx: ctx, gs: gs, jobs: map[string]*armed{}}
	sc, err := schedule.Parse("* * * * *", time.UTC)
	require.NoError(t, err)
	sp := spec{key: "periodic:1:tick", sched: sc, anchor: tick.Add(-time.Hour), ns: "default", wf: "wf", execID: 1, task: "tick"}

	l.mu.Lock()
	l.arm(sp, tick.Add(-30*time.Second), "test")
	l.mu.Unlock()

	select {
	case f := <-st.fired:
		require.Equal(t, sp.key, f.Key)
		require.True(t, f.At.Equal(tick), "fired the tick at %s, want %s", f.At, tick)
	case <-time.After(10 * time.Second): // a deadline, not a wait: the tick fires at once
		t.Fatalf("the tick at %s was not fired: the timer waits for the next resync (%s)", tick, ResyncIntervalDefault)
	}
	// ring armed the next tick, a minute later.
	l.mu.Lock()
	a := l.jobs[sp.key]
	l.mu.Unlock()
	require.NotNil(t, a, "the next tick is armed")
	require.True(t, a.at.Equal(tick.Add(time.Minute)), "next tick armed at %s", a.at)
}

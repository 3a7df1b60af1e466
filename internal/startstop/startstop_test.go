package startstop

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitRun is a run function that returns when its context ends and closes
// started when it begins.
func waitRun(started chan<- struct{}) func(context.Context) {
	return func(ctx context.Context) {
		close(started)
		<-ctx.Done()
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	var s Service
	require.False(t, s.Started())
	started := make(chan struct{})
	require.NoError(t, s.Start(context.Background(), waitRun(started)))
	<-started
	require.True(t, s.Started())
	select {
	case <-s.Done():
		t.Fatal("Done is closed while the service runs")
	default:
	}
	require.ErrorIs(t, s.Start(context.Background(), waitRun(make(chan struct{}))), ErrStarted)
	done := s.Done()
	require.NoError(t, s.Stop(context.Background()))
	<-done
	require.False(t, s.Started())
}

func TestStopWithoutStartAndTwice(t *testing.T) {
	t.Parallel()
	var s Service
	require.NoError(t, s.Stop(context.Background()), "stop without start")
	<-s.Done() // closed: nothing runs
	require.NoError(t, s.Start(context.Background(), waitRun(make(chan struct{}))))
	require.NoError(t, s.Stop(context.Background()))
	require.NoError(t, s.Stop(context.Background()), "second stop")
}

func TestConcurrentStops(t *testing.T) {
	t.Parallel()
	var s Service
	require.NoError(t, s.Start(context.Background(), waitRun(make(chan struct{}))))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, s.Stop(context.Background()))
		}()
	}
	wg.Wait()
	require.False(t, s.Started())
}

func TestRestartAfterStop(t *testing.T) {
	t.Parallel()
	var s Service
	for range 3 {
		started := make(chan struct{})
		require.NoError(t, s.Start(context.Background(), waitRun(started)))
		<-started
		require.NoError(t, s.Stop(context.Background()))
	}
}

func TestStartInitFailure(t *testing.T) {
	t.Parallel()
	var s Service
	boom := errors.New("boom")
	var initCtx context.Context
	err := s.StartInit(context.Background(), func(ctx context.Context) error {
		initCtx = ctx
		return boom
	}, func(context.Context) { t.Error("run must not be called after a failed init") })
	require.ErrorIs(t, err, boom)
	require.Error(t, initCtx.Err(), "the context given to a failed init is cancelled")
	require.False(t, s.Started())
	require.NoError(t, s.Stop(context.Background()))
}

func TestStartInitSharesContext(t *testing.T) {
	t.Parallel()
	var s Service
	var initCtx context.Context
	started := make(chan struct{})
	require.NoError(t, s.StartInit(context.Background(), func(ctx context.Context) error {
		initCtx = ctx
		return nil
	}, waitRun(started)))
	<-started
	require.NoError(t, initCtx.Err(), "init's context lives while the service runs")
	require.NoError(t, s.Stop(context.Background()))
	require.Error(t, initCtx.Err(), "Stop cancels init's context")
}

func TestStartWithEndedContext(t *testing.T) {
	t.Parallel()
	var s Service
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Start(ctx, func(context.Context) { t.Error("run called") }), context.Canceled)
	require.False(t, s.Started())
}

func TestParentContextEndsRun(t *testing.T) {
	t.Parallel()
	var s Service
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, s.Start(ctx, func(ctx context.Context) { <-ctx.Done() }))
	cancel()
	<-s.Done() // the run ends with its parent context
	require.True(t, s.Started(), "Started until Stop, even when run has returned")
	require.NoError(t, s.Stop(context.Background()))
}

func TestStopBoundedByContext(t *testing.T) {
	t.Parallel()
	var s Service
	release := make(chan struct{})
	require.NoError(t, s.Start(context.Background(), func(context.Context) { <-release }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Stop(ctx), context.DeadlineExceeded, "run ignores cancellation: Stop gives up with ctx")
	require.True(t, s.Started())
	close(release)
	require.NoError(t, s.Stop(context.Background()))
	<-s.Done()
}

func TestCancelDoesNotWait(t *testing.T) {
	t.Parallel()
	var s Service
	s.Cancel() // not started: nothing happens
	release := make(chan struct{})
	ended := make(chan struct{})
	require.NoError(t, s.Start(context.Background(), func(ctx context.Context) {
		<-ctx.Done()
		<-release
		close(ended)
	}))
	s.Cancel() // returns while run is still blocked on release
	require.True(t, s.Started())
	close(release)
	<-ended
	<-s.Done()
	require.NoError(t, s.Stop(context.Background()))
	require.False(t, s.Started())
}

func TestNilRunIsAContext(t *testing.T) {
	t.Parallel()
	var s Service
	var ctx context.Context
	require.NoError(t, s.StartInit(context.Background(), func(c context.Context) error {
		ctx = c
		return nil
	}, nil))
	require.True(t, s.Started())
	select {
	case <-s.Done():
		t.Fatal("Done is closed while the service's context lives")
	default:
	}
	require.ErrorIs(t, s.Start(context.Background(), nil), ErrStarted)
	require.NoError(t, s.Stop(context.Background()))
	require.Error(t, ctx.Err(), "Stop cancels the service's context")
	<-s.Done()
	require.False(t, s.Started())

	parent, cancel := context.WithCancel(context.Background())
	require.NoError(t, s.Start(parent, nil))
	cancel()
	<-s.Done() // closed once the parent context ends
	require.NoError(t, s.Stop(context.Background()))
}

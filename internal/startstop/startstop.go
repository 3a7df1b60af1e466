// Package startstop is the lifecycle of a background service: one goroutine
// started with a context and stopped by cancelling it and waiting for the
// goroutine to return.
//
// A [Service] is used as a field of the type it runs (its zero value is
// ready). A service without a goroutine (a nil run) is only a context that
// lives from Start to Stop, for an owner that starts goroutines of its own
// under it and waits for them itself. Stop is safe without Start and more than once, and a stopped
// service can be started again; the owner decides whether it allows that.
//
// Import rule: startstop imports only the standard library.
package startstop

import (
	"context"
	"errors"
	"sync"
)

// ErrStarted is returned by Start and StartInit while the service runs.
var ErrStarted = errors.New("startstop: the service is already started")

// Service runs one background goroutine between Start and Stop. The zero
// value is a service that is not started.
type Service struct {
	mu     sync.Mutex
	cancel context.CancelFunc // nil when not started
	done   chan struct{}      // closed when run has returned
}

// closed is the Done channel of a service that was never started.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Start runs run in a new goroutine with a context derived from ctx that
// Stop cancels (pass context.WithoutCancel(ctx) when the service must
// outlive ctx). It returns ErrStarted if the service runs already. A nil run
// starts no goroutine: the service is then only its context, and Done is
// closed once that has ended.
func (s *Service) Start(ctx context.Context, run func(ctx context.Context)) error {
	return s.StartInit(ctx, nil, run)
}

// StartInit is Start for a service that must set up before it runs: init
// (when not nil) is called first, synchronously, with the service's context;
// if it fails, the context is cancelled, the service stays stopped and
// init's error is returned. Otherwise run is started as by Start.
func (s *Service) StartInit(ctx context.Context, init func(ctx context.Context) error, run func(ctx context.Context)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return ErrStarted
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	if init != nil {
		if err := init(rctx); err != nil {
			cancel()
			return err
		}
	}
	done := make(chan struct{})
	s.cancel, s.done = cancel, done
	if run == nil {
		context.AfterFunc(rctx, func() { close(done) })
		return nil
	}
	go func() {
		defer close(done)
		run(rctx)
	}()
	return nil
}

// Stop cancels the service's context and waits until its goroutine has
// returned or ctx ends (it then returns ctx's error; the goroutine still
// stops, and Done tells when). Stop on a service that is not started returns
// nil at once; a second Stop waits as the first does.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	if s.done == done {
		s.cancel, s.done = nil, nil
	}
	s.mu.Unlock()
	return nil
}

// Cancel cancels the service's context without waiting for its goroutine:
// for an owner that abandons a service and need not know when it has
// stopped (Done tells). A Stop is still needed before the service can be
// started again. Cancel on a service that is not started does nothing.
func (s *Service) Cancel() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Started reports whether the service was started and Stop has not yet
// completed.
func (s *Service) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancel != nil
}

// Done returns a channel that is closed once the goroutine of the latest
// Start has returned, whether it was stopped or ended by itself. For a
// service that is not started it returns a closed channel.
func (s *Service) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		return closed
	}
	return s.done
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/aiflow-go/aiflow/internal/leader"
	"github.com/aiflow-go/aiflow/store"
)

// taskArgs are the arguments of the River job of one attempt.
type taskArgs struct {
	TaskExecutionID int64 `json:"te"`
	Attempt         int   `json:"attempt"`
}

// Kind is the River job kind of task attempts.
func (taskArgs) Kind() string { return "aiflow_task" }

// taskWorker is the River worker of task attempts.
type taskWorker struct {
	river.WorkerDefaults[taskArgs]
	s *Store
}

// Timeout is -1: attempts are bounded by the store's own lease, never by
// River (whose rescuer would run a healthy long job twice).
func (*taskWorker) Timeout(*river.Job[taskArgs]) time.Duration { return -1 }

func (w *taskWorker) Work(ctx context.Context, job *river.Job[taskArgs]) error {
	return w.s.workers.work(ctx, job)
}

func (s *Store) newRiverClient() (*river.Client[pgx.Tx], error) {
	ws := river.NewWorkers()
	if err := river.AddWorkerSafely(ws, &taskWorker{s: s}); err != nil {
		return nil, err
	}
	c, err := river.NewClient(riverpgxv5.New(s.pool), &river.Config{
		FetchCooldown:     s.cfg.FetchCooldown,
		FetchPollInterval: s.cfg.FetchPollInterval,
		JobTimeout:        -1,
		Logger:            slog.New(quietRiver{s.cfg.Logger.Handler()}),
		MaxAttempts:       1,
		Middleware:        s.cfg.RiverMiddleware,
		PollOnly:          s.cfg.PollOnly,
		Queues: map[string]river.QueueConfig{
			QueueBatch:     {MaxWorkers: s.cfg.MaxWorkers},
			QueueStreaming: {MaxWorkers: s.cfg.StreamingMaxWorkers},
		},
		Schema:   s.cfg.Schema,
		TestOnly: s.cfg.riverTestOnly,
		Workers:  ws,

		// River's job cleaner deletes finished jobs (Config.*JobRetention).
		CompletedJobRetentionPeriod: s.cfg.CompletedJobRetention,
		CancelledJobRetentionPeriod: s.cfg.CancelledJobRetention,
		DiscardedJobRetentionPeriod: s.cfg.DiscardedJobRetention,
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: River client: %w", err)
	}
	return c, nil
}

// Errors that end attempts.
var (
	errLeaseLost     = errors.New("aiflow: the attempt's lease was lost (heartbeats failed or the attempt was reaped)")
	errHeartbeatLost = errors.New("heartbeat lost: the worker stopped renewing the attempt's lease")
)

// workers runs task attempts through River.
type workers struct {
	s *Store

	mu       sync.Mutex
	handler  store.TaskHandler
	owner    string
	started  bool
	stopping bool
	running  map[int64]*attempt // by task execution id
	forced   bool               // StopWorkers cancelled every attempt: interrupt those that start
	cancel   context.CancelFunc // background services
	handoffN int                // handoff slots taken
	idle     chan struct{}      // closed when handoffN drops to 0
	bctx     context.Context    // of the background services and handed-off attempts

	handedOff    atomic.Int64 // attempts started by handoff (for tests)
	dropHandoffs bool         // tests: run no handed-off attempt, as a process that died after its unit committed
	// clock is the monotonic clock of the leases (time.Now; tests shift it
	// to simulate a pause of the process).
	clock func() time.Time
	// heartbeatsPaused makes the heartbeat skip its renewals (tests: a
	// database that does not answer).
	heartbeatsPaused atomic.Bool
	wg               sync.WaitGroup
	elector          *leader.Elector
	starter          *batcher[*river.Job[taskArgs], *store.TaskRun]
	finisher         *batcher[finishReq, struct{}]
}

type attempt struct {
	te          int64
	attempt     int
	streaming   bool
	cancel      context.CancelCauseFunc
	interrupted bool
	// abandoned: LoseWorkers made this process act as dead for the
	// attempt, which records nothing any more. Guarded by workers.mu.
	abandoned bool
	// leaseSent is when (monotonic clock) this process sent the last
	// statement that took or renewed the attempt's lease successfully: the
	// database set its expiry to at least leaseSent + TaskLeaseTTL. Guarded
	// by workers.mu.
	leaseSent time.Time
	// leaseLost is set once the attempt was cancelled for a lease it could
	// no longer prove. Guarded by workers.mu.
	leaseLost bool
}

func newWorkers(s *Store) *workers {
	return &workers{s: s, running: map[int64]*attempt{}, clock: time.Now,
		starter: newStarter(s), finisher: newBatcher(finishBatchMax, s.finishBatch)}
}

// StartWorkers starts running dispatched attempts with the handler: the River
// client (fetching from the batch and streaming queues), the heartbeats of
// running attempts, and the leader election and reaper.
func (s *Store) StartWorkers(ctx context.Context, params store.WorkersParams) error {
	if params.Handler == nil {
		return fmt.Errorf("%w: WorkersParams.Handler is nil", store.ErrInvalid)
	}
	if params.Owner == "" {
		return fmt.Errorf("%w: WorkersParams.Owner is empty: expected the client's id", store.ErrInvalid)
	}
	w := s.workers
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return fmt.Errorf("%w: workers already started", store.ErrConflict)
	}
	el, err := leader.New(leader.Config{
		Pool: s.pool, Table: s.schema + ".aiflow_leader", Name: "aiflow", ID: params.Owner, TTL: s.cfg.LeaderTTL, Logger: s.cfg.Logger,
	})
	if err != nil {
		return err
	}
	w.handler, w.owner, w.stopping, w.forced = params.Handler, params.Owner, false, false
	if err := s.river.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("postgres: starting River: %w", err)
	}
	if err := el.Start(ctx); err != nil {
		_ = s.river.Stop(context.WithoutCancel(ctx))
		return err
	}
	w.elector = el
	w.starter.start()
	w.finisher.start()
	bctx, cancel := context.WithCancel(context.Background())
	w.bctx, w.cancel = bctx, cancel
	w.started = true
	w.wg.Add(3)
	go func() {
		defer w.wg.Done()
		w.heartbeatLoop(bctx)
	}()
	go func() {
		defer w.wg.Done()
		w.leaseWatch(bctx)
	}()
	go func() {
		defer w.wg.Done()
		w.reapLoop(bctx)
	}()
	return nil
}

// StopWorkers stops fetching jobs and taking handoffs, interrupts streaming
// attempts at once, waits for the other running attempts until ctx ends, then
// cancels those still running and waits for them to return. Interrupted attempts end
// RETRYING without counting as a failure, so another client runs them again.
func (s *Store) StopWorkers(ctx context.Context) error {
	w := s.workers
	w.mu.Lock()
	if !w.started {
		w.mu.Unlock()
		return nil
	}
	w.stopping = true
	for _, a := range w.running {
		if a.streaming {
			a.interrupted = true
			a.cancel(store.ErrStopped)
		}
	}
	w.mu.Unlock()

	err := s.river.Stop(ctx)
	riverStopped := err == nil
	if err == nil {
		err = w.waitHandoffs(ctx)
	}
	if err != nil {
		w.mu.Lock()
		w.forced = true
		for _, a := range w.running {
			a.interrupted = true
			a.cancel(store.ErrStopped)
		}
		w.mu.Unlock()
		if !riverStopped {
			if serr := s.river.Stop(context.Background()); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		_ = w.waitHandoffs(context.Background())
	}
	// River and the handoffs have stopped: no attempt is starting or
	// finishing any more.
	w.starter.stop()
	w.finisher.stop()
	w.mu.Lock()
	cancel, el := w.cancel, w.elector
	w.mu.Unlock()
	cancel()
	w.wg.Wait()
	rctx, rcancel := context.WithTimeout(context.Background(), s.cfg.ResignTimeout)
	if rerr := el.Stop(rctx); rerr != nil {
		s.log.Warn("resigning the leader lease failed", slog.Any("error", rerr))
	}
	rcancel()
	w.mu.Lock()
	w.started, w.handler, w.elector = false, nil, nil
	w.mu.Unlock()
	return err
}

// IsLeader reports whether this store's workers hold the leader lease.
func (s *Store) IsLeader() bool {
	w := s.workers
	w.mu.Lock()
	el := w.elector
	w.mu.Unlock()
	return el != nil && el.IsLeader()
}

// work runs one attempt River fetched: RUNNING (fenced), then run.
func (w *workers) work(ctx context.Context, job *river.Job[taskArgs]) error {
	s := w.s
	args := job.Args
	// The statement that takes the lease sets its expiry from its own
	// start, later than this.
	sent := w.clock()
	run, err := w.starter.do(job)
	if err == nil && run == nil {
		return nil // fenced out (stopped or superseded): River completes the job
	}
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted before it started: River makes the job available
			// again (it was cancelled by a shutdown).
			return ctx.Err()
		}
		s.log.WarnContext(ctx, "recording RUNNING failed; the reaper will retry the attempt",
			slog.Int64("task_execution_id", args.TaskExecutionID), slog.Int("attempt", args.Attempt), slog.Any("error", err))
		return err
	}
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a := &attempt{te: run.ID, attempt: run.Attempt, streaming: run.Streaming, cancel: cancel, leaseSent: sent}
	w.mu.Lock()
	w.running[run.ID] = a
	if (a.streaming && w.stopping) || w.forced {
		a.interrupted = true
		a.cancel(store.ErrStopped)
	}
	w.checkLeaseLocked(a, w.clock())
	w.mu.Unlock()
	w.run(hctx, a, job, run, false)
	return nil
}

// run runs a started attempt registered in w.running: the handler (unless
// the attempt was interrupted before it began), then the final status. A
// handed-off attempt (handoff) has its job completed here should the final
// status not be recorded.
func (w *workers) run(ctx context.Context, a *attempt, job *river.Job[taskArgs], run *store.TaskRun, handoff bool) {
	s := w.s
	w.mu.Lock()
	handler, interrupted := w.handler, a.interrupted
	w.mu.Unlock()
	var runErr error
	if interrupted && handoff {
		runErr = store.ErrStopped // started as the workers stopped: never began
	} else {
		runErr = callHandler(ctx, handler, run)
	}
	// Cancelled because this process could not keep the attempt's lease:
	// its worker is as good as lost.
	lost := errors.Is(context.Cause(ctx), errLeaseLost)
	a.cancel(nil)

	w.mu.Lock()
	interrupted, abandoned := a.interrupted, a.abandoned
	if w.running[run.ID] == a {
		delete(w.running, run.ID)
	}
	w.mu.Unlock()
	if abandoned {
		return // as a dead process: the reaper ends the attempt
	}
	if _, err := w.finisher.do(finishReq{job: job, runErr: runErr, interrupted: interrupted, lost: lost}); err != nil {
		s.log.ErrorContext(ctx, "recording the final status failed; the reaper will end the attempt once its lease expires",
			slog.Int64("task_execution_id", run.ID), slog.Int("attempt", run.Attempt), slog.Any("error", err))
		if handoff {
			s.completeJobNow(job)
		}
	}
}

// waitHandoffs waits until every handoff slot is given back, or ctx ends.
func (w *workers) waitHandoffs(ctx context.Context) error {
	w.mu.Lock()
	if w.handoffN == 0 {
		w.mu.Unlock()
		return nil
	}
	idle := w.idle
	w.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// callHandler runs the handler and turns a panic into an error.
func callHandler(ctx context.Context, h store.TaskHandler, run *store.TaskRun) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("task panicked: %v", r)
		}
	}()
	return h(ctx, run)
}

// retry runs fn until it succeeds, ctx ends or the budget is spent, with
// backoff between tries.
func retry(ctx context.Context, budget time.Duration, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(budget)
	delay := 50 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || isStoreSentinel(err) || ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func (w *workers) ownerID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.owner
}

// finishBatchMax bounds the attempts one finishing transaction records.
const finishBatchMax = 200

// finishReq is an attempt that returned.
type finishReq struct {
	job         *river.Job[taskArgs]
	runErr      error
	interrupted bool
	// lost: the attempt was cancelled because its lease could no longer be
	// kept (store.WorkerLost decides unless it succeeded all the same).
	lost bool
}

// end decides how the attempt of r ends, te being its task execution as
// stored.
func (r *finishReq) end(te *store.TaskExecutionRecord) (store.TaskStatus, store.StatusData) {
	if r.lost && r.runErr != nil {
		return store.WorkerLost(te, errLeaseLost.Error())
	}
	return store.FinalStatus(te, r.runErr, r.interrupted)
}

// finishBatch records the final status of attempts (finishReq.end) with
// their status events, releases their leases and completes their River jobs,
// all in one transaction, fenced by each attempt and its lease, which must
// still be this process's (a reaped attempt writes nothing, but its job is
// completed all the same, as River would when its worker returns). Under load
// the attempts that return together share the transaction, and their jobs
// are completed by one statement.
func (s *Store) finishBatch(calls []*batchCall[finishReq, struct{}]) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.TaskLeaseTTL+s.cfg.CompleteJobTimeout)
	defer cancel()
	var appended []int32 // partitions of the appended events
	err := retry(ctx, s.cfg.TaskLeaseTTL, func(ctx context.Context) error {
		appended = nil
		return s.inTx(ctx, func(tx pgx.Tx) error {
			tes, atts := make([]int64, len(calls)), make([]int32, len(calls))
			for i, c := range calls {
				tes[i], atts[i] = c.req.job.Args.TaskExecutionID, int32(c.req.job.Args.Attempt)
			}
			rows, err := tx.Query(ctx, s.q(`SELECT `+teColsOf("t")+`, l.attempt IS NOT NULL
				FROM {s}.aiflow_task_execution t
				JOIN unnest($1::bigint[], $2::integer[]) AS r(te, attempt) ON r.te = t.id
				LEFT JOIN {s}.aiflow_task_lease l ON l.task_execution_id = t.id AND l.attempt = r.attempt AND l.owner = $3
				ORDER BY t.id FOR UPDATE OF t`), tes, atts, s.workers.ownerID())
			if err != nil {
				return err
			}
			byID := map[int64]store.TaskExecutionRecord{}
			leased := map[int64]bool{}
			for rows.Next() {
				var l bool
				te, err := scanTE(rows, &l)
				if err != nil {
					rows.Close()
					return err
				}
				byID[te.ID], leased[te.ID] = te, l
			}
			if err := rows.Err(); err != nil {
				return err
			}
			var ids []int64
			var statuses, errs []string
			var failures, interruptions []int32
			var endeds []bool
			var events []store.Event
			for _, c := range calls {
				te, ok := byID[c.req.job.Args.TaskExecutionID]
				if !ok || !leased[te.ID] || te.Attempt != c.req.job.Args.Attempt ||
					(te.Status != store.TaskRunning && te.Status != store.TaskStopping) {
					continue // fenced: someone else decided this attempt's fate
				}
				status, data := c.req.end(&te)
				events = append(events, store.NewStatusEvent(&te, status, data, store.SenderWorker))
				ids, statuses, failures = append(ids, te.ID), append(statuses, string(status)), append(failures, int32(data.Failures))
				interruptions = append(interruptions, int32(data.Interruptions))
				errs, endeds = append(errs, data.Error), append(endeds, status.Finished())
			}
			if len(ids) > 0 {
				a := s.eventArgs(events)
				b := &pgx.Batch{}
				b.Queue(s.q(updateFinalSQL), ids, statuses, failures, errs, endeds, interruptions)
				b.Queue(s.q("DELETE FROM {s}.aiflow_task_lease WHERE task_execution_id = ANY($1)"), ids)
				b.Queue(s.q(`UPDATE {s}.aiflow_dispatch AS d SET state = 'done', updated_at = clock_timestamp() FROM {s}.aiflow_task_execution t
					WHERE t.id = ANY($1) AND d.task_execution_id = t.id AND d.attempt = t.attempt`), ids)
				a.queue(b, s.q(insertEventsSQL))
				br := tx.SendBatch(ctx, b)
				for range 3 {
					if _, err := br.Exec(); err != nil {
						br.Close()
						return err
					}
				}
				evRows, err := br.Query()
				ok := true
				if err == nil {
					_, ok, err = s.readInserted(events, a, evRows)
				}
				if cerr := br.Close(); err == nil {
					err = cerr
				}
				if err == nil && !ok {
					err = s.missingNamespace(ctx, tx, a.namespace)
				}
				if err != nil {
					return err
				}
				appended = a.partition
			}
			return s.completeJobs(ctx, tx, calls)
		})
	})
	if appended != nil && err == nil {
		s.hub.appended(appended)
	}
	for _, c := range calls {
		c.err = err
		close(c.done)
	}
}

// completeJobs completes the River jobs of calls in tx with one statement:
// what river.JobCompleteTx does for one job (River's JobSetStateIfRunningMany
// through the client's pilot, with the parameters of
// riverdriver.JobSetStateCompleted), for all of them at once. Only a job
// still running changes; a job finalized meanwhile (cancelled by a stop and
// rescued) or deleted is left alone. When the worker returns, River's
// completer finds the job completed already and leaves it so, without an
// error or a log (its completed event is emitted as usual). Unlike
// JobCompleteTx it merges no metadata recorded by the worker
// (river.RecordOutput): the store's worker records none, and River's
// completer would merge it afterwards anyway.
//
// River has no stable API that completes many jobs in a transaction:
// Client.Pilot, Client.Driver and the riverdriver interfaces are exported but
// documented as unstable. This is the code JobCompleteTx runs (River
// v0.51.1); a River upgrade that changes it fails to compile or fails
// TestAtomicJobCompletion.
func (s *Store) completeJobs(ctx context.Context, tx pgx.Tx, calls []*batchCall[finishReq, struct{}]) error {
	n := len(calls)
	p := &riverdriver.JobSetStateIfRunningManyParams{
		ID:              make([]int64, n),
		Attempt:         make([]*int, n),
		ErrData:         make([][]byte, n),
		FinalizedAt:     make([]*time.Time, n),
		MetadataDoMerge: make([]bool, n),
		MetadataUpdates: make([][]byte, n),
		ScheduledAt:     make([]*time.Time, n),
		Schema:          s.cfg.Schema,
		State:           make([]rivertype.JobState, n),
	}
	now := time.Now()
	for i, c := range calls {
		one := riverdriver.JobSetStateCompleted(c.req.job.ID, now, nil)
		p.ID[i], p.Attempt[i], p.ErrData[i], p.FinalizedAt[i] = one.ID, one.Attempt, one.ErrData, one.FinalizedAt
		p.MetadataDoMerge[i], p.MetadataUpdates[i] = one.MetadataDoMerge, one.MetadataUpdates
		p.ScheduledAt[i], p.State[i] = one.ScheduledAt, one.State
	}
	if _, err := s.river.Pilot().JobSetStateIfRunningMany(ctx, s.river.Driver().UnwrapExecutor(tx), p); err != nil {
		return fmt.Errorf("completing %d River jobs: %w", n, err)
	}
	return nil
}

// heartbeatLoop renews the leases of this process's running attempts every
// TaskHeartbeat (or as soon as the previous renewal returned, if it took
// longer), in one query bounded by the earliest deadline of their leases
// (see leaseWatch), and cancels the attempts whose lease is gone
// (reaped) and those whose task is STOPPING (a stop that did not reach them
// otherwise). An attempt whose lease could not be renewed in time is
// cancelled by leaseWatch.
func (w *workers) heartbeatLoop(ctx context.Context) {
	s := w.s
	t := time.NewTicker(s.cfg.TaskHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if w.heartbeatsPaused.Load() {
			continue
		}
		sent := w.clock()
		w.mu.Lock()
		owner := w.owner
		list := make([]*attempt, 0, len(w.running))
		// A slow renewal still proves the leases from sent: wait for it up
		// to the earliest deadline of the leases it renews.
		deadline := sent.Add(s.cfg.TaskLeaseTTL - s.cfg.TaskStopGrace)
		for _, a := range w.running {
			list = append(list, a)
			if d := w.leaseDeadline(a); !a.leaseLost && d.After(sent) && d.Before(deadline) {
				deadline = d
			}
		}
		w.mu.Unlock()
		if len(list) == 0 {
			continue
		}
		tes, atts := make([]int64, len(list)), make([]int32, len(list))
		for i, a := range list {
			tes[i], atts[i] = a.te, int32(a.attempt)
		}
		// A renewal that arrives after the deadline cannot save the
		// attempts any more: do not wait for it longer (the deadline is on
		// the lease clock; the timeout on the real one).
		qctx, cancel := context.WithTimeout(ctx, deadline.Sub(sent))
		rows, err := s.pool.Query(qctx, s.q(`UPDATE {s}.aiflow_task_lease AS l SET expires_at = now() + $4::interval
			FROM unnest($1::bigint[], $2::integer[]) AS u(te, attempt)
			WHERE l.task_execution_id = u.te AND l.attempt = u.attempt AND l.owner = $3
			RETURNING l.task_execution_id, l.attempt, EXISTS (SELECT 1 FROM {s}.aiflow_task_execution t
				WHERE t.id = l.task_execution_id AND t.attempt = l.attempt AND t.status = 'STOPPING')`), tes, atts, owner, s.cfg.TaskLeaseTTL)
		var renewed []int64
		var stopping []stopRequest
		if err == nil {
			var id int64
			var att int32
			var stop bool
			_, err = pgx.ForEachRow(rows, []any{&id, &att, &stop}, func() error {
				renewed = append(renewed, id)
				if stop {
					stopping = append(stopping, stopRequest{te: id, attempt: int(att)})
				}
				return nil
			})
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.WarnContext(ctx, "renewing task leases failed", slog.Any("error", err), slog.Int("attempts", len(list)))
			continue
		}
		ok := make(map[int64]bool, len(renewed))
		for _, id := range renewed {
			ok[id] = true
		}
		w.mu.Lock()
		for _, a := range list {
			if w.running[a.te] != a {
				continue
			}
			if ok[a.te] {
				if sent.After(a.leaseSent) {
					a.leaseSent = sent
				}
				continue
			}
			s.log.WarnContext(ctx, "task lease lost; cancelling the attempt", slog.Int64("task_execution_id", a.te), slog.Int("attempt", a.attempt))
			a.leaseLost = true
			a.cancel(errLeaseLost)
		}
		w.mu.Unlock()
		// A stop whose cancellation did not reach the attempt (a handed-off
		// attempt stopped by another process, or River's notification lost).
		w.cancelLocal(stopping)
	}
}

// leaseDeadline is when the holder of a's lease must have cancelled it: the
// database expires the lease TaskLeaseTTL after the last renewal was sent at
// the earliest, and the attempt gets TaskStopGrace before that to stop.
// Called with w.mu held.
func (w *workers) leaseDeadline(a *attempt) time.Time {
	return a.leaseSent.Add(w.s.cfg.TaskLeaseTTL - w.s.cfg.TaskStopGrace)
}

// checkLeaseLocked cancels a if its lease can no longer be proven at now.
// Called with w.mu held.
func (w *workers) checkLeaseLocked(a *attempt, now time.Time) {
	if a.leaseLost || now.Before(w.leaseDeadline(a)) {
		return
	}
	a.leaseLost = true
	w.s.log.Warn("cannot prove the task lease any more (no renewal in time); cancelling the attempt",
		slog.Int64("task_execution_id", a.te), slog.Int("attempt", a.attempt),
		slog.Duration("since_last_renewal_sent", now.Sub(a.leaseSent)))
	a.cancel(errLeaseLost)
}

// leaseWatchStep is the period of leaseWatch: a small part of the stop
// grace, so that an attempt is cancelled almost at its deadline.
func (w *workers) leaseWatchStep() time.Duration {
	return max(min(100*time.Millisecond, w.s.cfg.TaskStopGrace/4), time.Millisecond)
}

// leaseWatch is the watchdog of the leases: every leaseWatchStep it cancels
// the attempts whose lease this process can no longer prove (no renewal
// sent within TaskLeaseTTL minus TaskStopGrace was answered), whether the
// heartbeat failed, blocks, or the whole process was paused (SIGSTOP, a
// frozen VM): after a pause its first tick cancels them at once, on the
// monotonic clock, before any renewal is tried. Pauses longer than the stop
// grace are logged.
func (w *workers) leaseWatch(ctx context.Context) {
	step := w.leaseWatchStep()
	t := time.NewTicker(step)
	defer t.Stop()
	last := w.clock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := w.clock()
		if gap := now.Sub(last); gap > step+w.s.cfg.TaskStopGrace {
			w.s.log.Warn("the process did not run for a while (paused or starved); checking the task leases", slog.Duration("gap", gap))
		}
		last = now
		w.mu.Lock()
		for _, a := range w.running {
			w.checkLeaseLocked(a, now)
		}
		w.mu.Unlock()
	}
}

// ReportProgress records an operator's progress on a running attempt.
func (s *Store) ReportProgress(ctx context.Context, id int64, attemptNo int, r store.Report) error {
	tag, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_execution SET
			status_message = CASE WHEN $3 <> '' THEN $3 ELSE status_message END,
			metrics = CASE WHEN $4::jsonb IS NULL THEN metrics
				WHEN jsonb_typeof(metrics) = 'object' THEN metrics || $4::jsonb ELSE $4::jsonb END,
			updated_at = clock_timestamp()
		WHERE id = $1 AND attempt = $2 AND status IN ('RUNNING', 'STOPPING')`), id, attemptNo, r.StatusMessage, metricsArg(r.Metrics))
	if err != nil {
		return opErr("report progress", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := s.GetTaskExecution(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("%w: task execution %d attempt %d is not running", store.ErrConflict, id, attemptNo)
}

// metricsArg is the jsonb argument of metrics, as JSON text (a map has no
// text encoding, which the simple protocol and QueryExecModeExec need): SQL
// NULL when there are none.
func metricsArg(m map[string]float64) any {
	if m == nil {
		return nil
	}
	data, err := json.Marshal(m)
	if err != nil { // NaN or infinities: let the query fail with pgx's error, as before
		return m
	}
	return string(data)
}

// quietRiver lowers to Info River's log of a remotely cancelled job: for the
// store that is how every STOP reaches its worker, not a warning.
type quietRiver struct{ slog.Handler }

func (h quietRiver) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.HasSuffix(r.Message, ": job cancelled remotely") {
		r.Level = slog.LevelInfo
		if !h.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietRiver) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietRiver{h.Handler.WithAttrs(attrs)}
}

func (h quietRiver) WithGroup(name string) slog.Handler { return quietRiver{h.Handler.WithGroup(name)} }

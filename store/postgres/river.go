package postgres

// The River side of task attempts: the job kind, the worker River calls,
// and the River client with its queues and quiet logger.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
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

package aiflow

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// RetentionDefault is how long finished workflow executions and events are
// kept when Config.Retention is nil.
const RetentionDefault = 30 * 24 * time.Hour

// Retention says how long finished records are kept (Config.Retention). A
// zero field keeps those records forever.
//
// What is never deleted, however old: an event that some partition has not
// consumed yet; a workflow execution that is not finished, or one of whose
// task executions is alive (with all its task executions, finished or not,
// and their logs); workflows, their versions, schedules and triggers, and the
// state of trigger conditions, which live as long as their workflow. Rule
// state held for an execution is dropped when the execution finishes.
type Retention struct {
	// Executions is how long a finished workflow execution is kept after it
	// ended, with its task executions, their logs kept in the store and the
	// engine's decisions about its tasks
	// (Config.TaskLogRetention may delete logs sooner; logs kept in a
	// Config.TaskLogDir follow TaskLogRetention only).
	Executions time.Duration
	// Events is how long an event is kept after it was appended. Events are
	// history, once consumed: nothing the library decides reads them again.
	// A reader that pages through the log (ListEvents, ListenEvents) and
	// falls further behind than this misses the events pruned meanwhile.
	Events time.Duration
}

// defaultRetention is Config.Retention when nil.
func defaultRetention() *Retention {
	return &Retention{Executions: RetentionDefault, Events: RetentionDefault}
}

// check returns an error naming the first negative field, prefixed with
// what (such as "Config.Retention").
func (r *Retention) check(what string) error {
	for _, f := range []struct {
		name, kept string
		v          time.Duration
	}{{"Executions", "finished executions", r.Executions}, {"Events", "events", r.Events}} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s.%s is %s: expected a positive duration, or 0 to keep %s forever", ErrInvalid, what, f.name, f.v, f.kept)
		}
	}
	return nil
}

// shortest is the shortest positive retention of r, or 0 when r keeps
// everything.
func (r *Retention) shortest() time.Duration {
	var d time.Duration
	for _, v := range []time.Duration{r.Executions, r.Events} {
		if v > 0 && (d == 0 || v < d) {
			d = v
		}
	}
	return d
}

// params are the store's prune parameters for r at now.
func (r *Retention) params(now time.Time, dryRun bool) store.PruneParams {
	p := store.PruneParams{DryRun: dryRun}
	if r.Executions > 0 {
		p.ExecutionsBefore = now.Add(-r.Executions)
	}
	if r.Events > 0 {
		p.EventsBefore = now.Add(-r.Events)
	}
	return p
}

// PruneResult counts the records a prune deleted (or, for a dry run, would
// delete), per kind.
type PruneResult struct {
	Events             int64 `json:"events"`
	WorkflowExecutions int64 `json:"workflow_executions"`
	TaskExecutions     int64 `json:"task_executions"`
	// TaskLogs counts the task logs kept in the store that went with their
	// task executions.
	TaskLogs int64 `json:"task_logs"`
	// Decisions counts the engine's recorded decisions that went with their
	// workflow executions.
	Decisions int64 `json:"decisions"`
}

// PruneOpts are the options of Client.Prune. A nil *PruneOpts means the
// defaults.
type PruneOpts struct {
	// DryRun counts what would be deleted and deletes nothing.
	DryRun bool
	// Retention replaces Config.Retention for this call; nil means the
	// client's. A zero field keeps those records.
	Retention *Retention
}

// Prune deletes, once, the records older than the retention (see Retention
// for what is never deleted) and returns how many of each kind went. A
// started client already does this on the elected leader about every tenth
// of the shortest retention (at most every hour); Prune is for tools ("aiflow
// prune") and for a dry run, which deletes nothing. The store deletes in
// small batches, each its own short transaction. A prune cut short by ctx or
// an error returns what it deleted so far with the error.
func (c *Client) Prune(ctx context.Context, opts *PruneOpts) (PruneResult, error) {
	if opts == nil {
		opts = &PruneOpts{}
	}
	r := c.cfg.Retention
	if opts.Retention != nil {
		if err := opts.Retention.check("PruneOpts.Retention"); err != nil {
			return PruneResult{}, opError("prune", err)
		}
		r = opts.Retention
	}
	res, err := c.store.Prune(ctx, r.params(c.clock.Now(), opts.DryRun))
	return PruneResult(res), opError("prune", err)
}

// leaderPrunes reports whether the elected leader has anything to prune:
// old records (Config.Retention) or old idempotency keys
// (Config.IdempotencyKeyRetention).
func (c *Client) leaderPrunes() bool {
	return c.cfg.Retention.shortest() > 0 || c.cfg.IdempotencyKeyRetention > 0
}

// leaderPruning is the pruning the elected leader does during each of its
// terms (until ctx ends): the old records of Config.Retention and the old
// idempotency keys of Config.IdempotencyKeyRetention, each (when kept for a
// limited time) at once and then every pruneInterval of its retention.
func (c *Client) leaderPruning(ctx context.Context) {
	var wg sync.WaitGroup
	if r := c.cfg.Retention.shortest(); r > 0 {
		wg.Go(func() { c.pruneEvery(ctx, pruneInterval(r), c.pruneRecords) })
	}
	if r := c.cfg.IdempotencyKeyRetention; r > 0 {
		wg.Go(func() { c.pruneEvery(ctx, pruneInterval(r), c.pruneIdempotencyKeys) })
	}
	wg.Wait()
}

// pruneEvery calls prune at once and then every interval until ctx ends.
func (c *Client) pruneEvery(ctx context.Context, interval time.Duration, prune func(ctx context.Context)) {
	t := c.clock.NewTicker(interval)
	defer t.Stop()
	for {
		prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}

// pruneRecords deletes the records older than Config.Retention.
func (c *Client) pruneRecords(ctx context.Context) {
	res, err := c.store.Prune(ctx, c.cfg.Retention.params(c.clock.Now(), false))
	switch {
	case err != nil && ctx.Err() == nil:
		c.log.WarnContext(ctx, "pruning old records failed", slog.Any("error", err))
	case res != store.PruneResult{}:
		c.log.InfoContext(ctx, "pruned old records", slog.Int64("events", res.Events),
			slog.Int64("workflow_executions", res.WorkflowExecutions), slog.Int64("task_executions", res.TaskExecutions),
			slog.Int64("task_logs", res.TaskLogs), slog.Int64("decisions", res.Decisions))
	}
}

// pruneIdempotencyKeys forgets the idempotency keys older than
// Config.IdempotencyKeyRetention. The store deletes them in small batches.
func (c *Client) pruneIdempotencyKeys(ctx context.Context) {
	retention := c.cfg.IdempotencyKeyRetention
	n, err := c.store.PruneIdempotencyKeys(ctx, c.clock.Now().Add(-retention))
	switch {
	case err != nil && ctx.Err() == nil:
		c.log.WarnContext(ctx, "pruning idempotency keys failed", slog.Any("error", err))
	case n > 0:
		c.log.InfoContext(ctx, "pruned idempotency keys", slog.Int("count", n), slog.Duration("retention", retention))
	}
}

package postgres

// Finishing attempts: the final status, its event and the River job
// completed, for a batch of attempts in one transaction.

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/aiflow-go/aiflow/store"
)

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
// their status events, releases their leases and completes their River jobs
// (handed-off attempts have none), all in one transaction, fenced by each
// attempt and its lease, which must still be this process's (a reaped
// attempt writes nothing, but its job is completed all the same, as River
// would when its worker returns). Under load
// the attempts that return together share the transaction, and their jobs
// are completed by one statement.
func (s *Store) finishBatch(calls []*batchCall[finishReq, struct{}]) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.TaskLeaseTTL+s.cfg.CompleteJobTimeout)
	defer cancel()
	var appended []int32 // partitions of the appended events
	err := retry(ctx, s.cfg.TaskLeaseTTL, func(ctx context.Context) error {
		appended = nil
		// A unit's transaction (inUnitTx): the read below goes in the
		// BEGIN's round trip, and the statements run generic plans.
		return inUnitTx(ctx, s.pool, func(tx pgx.Tx) error {
			tes, atts := make([]int64, len(calls)), make([]int32, len(calls))
			for i, c := range calls {
				tes[i], atts[i] = c.req.job.Args.TaskExecutionID, int32(c.req.job.Args.Attempt)
			}
			rb := &pgx.Batch{}
			rb.Queue(s.q(`SELECT `+teColsOf("t")+`, l.attempt IS NOT NULL
				FROM {s}.aiflow_task_execution t
				JOIN unnest($1::bigint[], $2::integer[]) AS r(te, attempt) ON r.te = t.id
				LEFT JOIN {s}.aiflow_task_lease l ON l.task_execution_id = t.id AND l.attempt = r.attempt AND l.owner = $3
				ORDER BY t.id FOR UPDATE OF t`), tes, atts, s.workers.ownerID())
			rbr := tx.SendBatch(ctx, rb)
			defer rbr.Close()
			rows, err := rbr.Query()
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
			if err := rbr.Close(); err != nil {
				return err
			}
			var ids []int64
			var statuses, errs []string
			var failures, interruptions, attempts []int32
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
				attempts = append(attempts, int32(te.Attempt))
				interruptions = append(interruptions, int32(data.Interruptions))
				errs, endeds = append(errs, data.Error), append(endeds, status.Finished())
			}
			if len(ids) > 0 {
				a := s.eventArgs(events)
				b := &pgx.Batch{}
				b.Queue(s.q(updateFinalSQL), ids, statuses, failures, errs, endeds, interruptions)
				b.Queue(s.q("DELETE FROM {s}.aiflow_task_lease WHERE task_execution_id = ANY($1)"), ids)
				// The attempts are those of the rows locked above.
				b.Queue(s.q(`UPDATE {s}.aiflow_dispatch AS d SET state = 'done', updated_at = clock_timestamp()
					FROM unnest($1::bigint[], $2::integer[]) AS u(te, attempt) WHERE d.task_execution_id = u.te AND d.attempt = u.attempt`), ids, attempts)
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

// completeJobs completes the River jobs of calls in tx with one statement
// (calls of handed-off attempts have none: job ID 0):
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
	var ids []int64
	for _, c := range calls {
		if c.req.job.ID != 0 {
			ids = append(ids, c.req.job.ID)
		}
	}
	n := len(ids)
	if n == 0 {
		return nil
	}
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
	for i, id := range ids {
		one := riverdriver.JobSetStateCompleted(id, now, nil)
		p.ID[i], p.Attempt[i], p.ErrData[i], p.FinalizedAt[i] = one.ID, one.Attempt, one.ErrData, one.FinalizedAt
		p.MetadataDoMerge[i], p.MetadataUpdates[i] = one.MetadataDoMerge, one.MetadataUpdates
		p.ScheduledAt[i], p.State[i] = one.ScheduledAt, one.State
	}
	if _, err := s.river.Pilot().JobSetStateIfRunningMany(ctx, s.river.Driver().UnwrapExecutor(tx), p); err != nil {
		return fmt.Errorf("completing %d River jobs: %w", n, err)
	}
	return nil
}

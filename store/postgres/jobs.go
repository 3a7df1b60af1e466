package postgres

import (
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// A unit of work inserts the River jobs of its attempts itself, in the same
// statement as their dispatch rows and in the same round trip as the rest
// of its writes, instead of calling River's InsertManyTx (a round trip of its
// own, before the dispatch rows can name the jobs). The rows are the ones
// River's insert writes for these jobs (kind, JSON args, one attempt,
// priority 1, no tags, metadata or uniqueness): available now in their
// queue, or scheduled at their time (handed-off attempts have none). River's
// insert middleware
// (Config.RiverMiddleware with a rivertype.JobInsertMiddleware or
// HookInsertBegin) must see every insert: with one configured, the unit
// calls River.

// riverInsertHooked reports whether River's insert middleware is
// configured, so that jobs must be inserted through River.
func (s *Store) riverInsertHooked() bool {
	for _, m := range s.cfg.RiverMiddleware {
		if _, ok := m.(rivertype.JobInsertMiddleware); ok {
			return true
		}
		if _, ok := m.(rivertype.HookInsertBegin); ok {
			return true
		}
	}
	return false
}

// ownJobs are the River jobs a unit of work inserts itself, as arrays.
type ownJobs struct {
	te          []int64
	attempt     []int32
	queue       []string
	scheduledAt []pgtype.Timestamptz // invalid: now
	state       []string
}

// ownJobs lays out the jobs of params (jobOf[i] is the fresh dispatch of
// params[i]).
func (s *Store) ownJobs(params []river.InsertManyParams, jobOf []int, fresh []newDispatch) *ownJobs {
	n := len(params)
	j := &ownJobs{te: make([]int64, n), attempt: make([]int32, n), queue: make([]string, n),
		scheduledAt: make([]pgtype.Timestamptz, n), state: make([]string, n)}
	now := time.Now()
	for i, p := range params {
		d := fresh[jobOf[i]]
		j.te[i], j.attempt[i], j.queue[i] = d.key.te, int32(d.key.attempt), p.InsertOpts.Queue
		switch {
		case p.InsertOpts.ScheduledAt.After(now):
			j.state[i] = string(rivertype.JobStateScheduled)
			j.scheduledAt[i] = pgtype.Timestamptz{Time: p.InsertOpts.ScheduledAt, Valid: true}
		default:
			j.state[i] = string(rivertype.JobStateAvailable)
		}
	}
	return j
}

// insertJobsSQL inserts the River jobs $1 to $5 (task execution, attempt,
// queue, scheduled_at, state) and the dispatch rows $6 to $8 (task
// execution, attempt, state), each naming its job if it has one.
const insertJobsSQL = `WITH j AS (
	INSERT INTO {s}.river_job (args, kind, max_attempts, priority, queue, scheduled_at, state)
	SELECT jsonb_build_object('te', u.te, 'attempt', u.attempt), 'aiflow_task', 1, 1, u.queue, coalesce(u.scheduled_at, now()),
		u.state::{s}.river_job_state
	FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::timestamptz[], $5::text[]) WITH ORDINALITY
		AS u(te, attempt, queue, scheduled_at, state, ord)
	ORDER BY u.ord
	RETURNING id, (args->>'te')::bigint AS te, (args->>'attempt')::integer AS attempt)
INSERT INTO {s}.aiflow_dispatch (task_execution_id, attempt, job_id, state)
SELECT f.te, f.attempt, j.id, f.state FROM unnest($6::bigint[], $7::integer[], $8::text[]) AS f(te, attempt, state)
LEFT JOIN j ON j.te = f.te AND j.attempt = f.attempt
ON CONFLICT DO NOTHING`

// stmt returns the statement that inserts the jobs and the dispatch rows of
// fresh.
func (j *ownJobs) stmt(s *Store, fresh []newDispatch) stmt {
	n := len(fresh)
	teIDs, atts, states := make([]int64, n), make([]int32, n), make([]string, n)
	for i, d := range fresh {
		teIDs[i], atts[i], states[i] = d.key.te, int32(d.key.attempt), d.state()
	}
	return stmt{
		sql:  s.q(insertJobsSQL),
		args: []any{j.te, j.attempt, j.queue, j.scheduledAt, j.state, teIDs, atts, states},
	}
}

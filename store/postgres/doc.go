// Package postgres is the production store of AIFlow for Go: Postgres is the
// event log (an append-only table, LISTEN/NOTIFY as a wake-up hint) and, with
// River, the durable job queue, so that applying events and dispatching the
// tasks they start commit together, exactly once.
//
// Import rule: this package imports store, internal/leader,
// internal/startstop, pgx and River. It never imports the engine or the root
// package; those hand it callbacks.
//
// # Setting up
//
// The store works on the caller's *pgxpool.Pool, which it never closes. Apply
// the migrations (River's and the store's, into Config.Schema) once per
// deployment or at every start, then open the store:
//
//	pool, err := pgxpool.New(ctx, databaseURL)
//	...
//	cfg := &postgres.Config{Schema: "aiflow"}
//	if _, err := postgres.Migrate(ctx, pool, cfg); err != nil { ... }
//	st, err := postgres.New(ctx, pool, cfg)
//	...
//	client, err := aiflow.New(&aiflow.Config{Store: st})
//
// Migrate is safe to run from several processes at once (they take turns on
// a transaction-level advisory lock, so it needs no session state and works
// behind PgBouncer in transaction mode) and reports the version reached. The first migration of a
// schema fixes its number of partitions (Config.Partitions, 4 by default).
//
// Connections: besides the connections of its transactions, a started store
// holds one connection for its LISTEN (hijacked from the pool, so no longer
// counted by it) and River holds one for its own LISTEN. A unit of work never
// needs two connections at once. A pool of at least 8 connections is
// recommended; pgxpool's default is the number of CPUs, at least 4.
//
// # Tables
//
// All in Config.Schema, next to River's river_* tables:
//
//	aiflow_event              the event log, read by (xid, id)
//	aiflow_partition          per partition: the cursor, the version (commit count), the lease,
//	                          the failed attempts at the next unit of work
//	aiflow_snapshot           engine state per partition
//	aiflow_client             live clients, for the fair share of partitions
//	aiflow_namespace, aiflow_workflow, aiflow_workflow_version
//	aiflow_workflow_execution, aiflow_task_execution
//	aiflow_dispatch           one row per dispatched attempt: dedupe key and fencing token
//	aiflow_task_lease         the lease of each running attempt, renewed by heartbeats
//	aiflow_task_log, aiflow_task_log_size
//	aiflow_leader             leader leases (internal/leader)
//	aiflow_meta, aiflow_migration
//
// # The event log and its horizon
//
// Event ids are taken at insert but rows appear at commit, so a reader that
// resumed after "the last id it saw" would skip a transaction that commits
// late with a lower id. Every event row therefore carries the id of its
// transaction (xid8), and readers take only the rows below the horizon
//
//	xid < pg_snapshot_xmin(pg_current_snapshot())
//
// (every transaction below it has committed or aborted), in (xid, id) order,
// resuming after a (xid, id) cursor: store.Position{XID, ID}. ListEvents and
// LastPosition return only what is below the horizon, so paging from a
// returned position never misses or repeats an event, however late a writer
// commits.
//
// xids are shared by the whole Postgres cluster, and pg_snapshot_xmin counts
// every transaction of the server. So while committed events wait above it,
// the store's horizon watcher also computes a filtered horizon that leaves out
// the transactions positively known to belong to another database (by their
// session in pg_stat_get_activity, or as prepared transactions), and stores it
// in aiflow_meta (key "horizon") when it is further; readers take the greater
// of the two (one primary-key lookup: the filter reads every session of the
// server, 0.5 to 1 ms, so only the watcher pays it, and only while events
// wait). A transaction left open in another database therefore holds nothing
// back; events then wait a few milliseconds for the watcher.
//
// What remains: a transaction of our own database that holds an xid (or one
// that cannot be placed) holds back every reader until it ends, whatever it
// writes, because it may still append an event with its old id. Keep
// transactions that call AppendEventsTx short, and consider
// idle_in_transaction_session_timeout. The store's own transactions are
// short, but a replica cut off from the server in the middle of one (a
// network partition that drops packets, without resetting the connection)
// leaves it open on the server, and every reader of the database waits
// until the server notices: the fault test TestReplicaCutOff saw
// consumption stop for the whole of a 20 s and a 45 s cut. Setting
// idle_in_transaction_session_timeout for the role the library connects as
// (for example ALTER ROLE ... SET idle_in_transaction_session_timeout =
// '5s', or in the pool's runtime parameters) ends such a transaction: in the
// same test with 5 s, consumption resumed once the cut-off replica's
// partition leases expired (at most 15.5 s behind). When committed events have waited
// longer than Config.HorizonWarnAfter (10 s), the store logs the transaction
// holding them at Warn level, with its pid, age and query (seeing another
// role's query needs pg_read_all_stats), once each time the wait crosses
// another multiple of the threshold; Store.HorizonHolder reports it at any
// time. A logical dump and restore does not carry the xid counter: restore
// into a fresh cluster only with an empty event log, and without the
// aiflow_meta row "horizon".
//
// Events are appended by AppendEvents (one pipelined implicit transaction),
// by AppendEventsTx and SendEventTx inside the caller's pgx transaction (the
// events exist if and only if the caller commits), by the SQL function below,
// and by the store itself in the transactions below. Values are limited to store.MaxEventValueBytes
// (64 KiB) and must be UTF-8 text; store.ValidateEvent states every rule.
//
// # Sending events from any Postgres client
//
// Migration 3 creates the function <schema>.send_event, so that a program in
// any language (a Flink sink, a Python job, psql) appends a user event inside
// its own transaction, exactly as AppendEvents would: same row, same checks,
// same NOTIFY, all effective if and only if the caller commits. It returns the
// event's position as "XID-ID":
//
//	SELECT aiflow.send_event('default', 'model_trained', 's3://bucket/model-42');
//	SELECT aiflow.send_event(namespace => 'default', key => 'hour_done', value => '2024-05-01T10',
//	                         sender => 'flink-watermark');
//
// Optional arguments: sender ("aiflow.sql" by default), execution_id (reach
// only that workflow execution), task_execution_id (send as that task
// execution's task would, as TaskContext.SendEvent does: a task's process
// finds its id in AIFLOW_TASK_EXECUTION_ID) and to_namespace (with an
// execution, reach the whole namespace instead), and idempotency_key
// (migration 6: a second call with the same key in the same namespace
// returns the first call's position and appends nothing; keys are shared
// with Client.SendEvent's and kept at least for the client's
// Config.IdempotencyKeyRetention, 24 h by default). Malformed arguments
// raise SQLSTATE 22023, a NULL value 22004, a value over 64 KiB 54000, an
// unknown namespace, execution or task execution P0002; each message starts
// with "aiflow: send_event:". With an idempotency key the caller also needs
// INSERT, SELECT and UPDATE on <schema>.aiflow_idempotency_key.
// The caller needs INSERT on <schema>.aiflow_event and SELECT on the
// namespace, execution and task execution tables (the function runs with the
// caller's rights). The horizon caveat above applies to the caller's
// transaction: keep it short.
//
// # Wake-ups
//
// A NOTIFY on the channel "<schema>.aiflow_event" (shortened with a hash when
// the schema name is long) wakes consumers; its payload names the partitions
// of the status and control events and the user keys concerned ("3,7" and "u"
// with the first 8 hex digits of md5("<namespace>/<key>"): store.UserKeyHash),
// or is "*" (as from the SQL function send_event before migration 12, and from
// a process of an older version, which also reads anything it cannot parse as
// "*"). A consumer that reads only some user keys (SubscribeKeys, see
// "Consuming" below) is woken by the user events of those keys only, so an
// event wakes only the partitions whose workflows expect its key. AppendEvents
// and AppendEventsTx send it in their transaction; the store's own
// transactions wake the local consumers at once and send it right after
// committing (coalesced). Notifications are only hints: they are lost while a
// listener reconnects, so the LISTEN connection is re-established within
// Config.ListenerReconnect and every reconnect wakes all consumers to catch
// up, and the store also checks every Config.EventPollInterval whether the
// last readable event moved.
//
// A notification often arrives while its events are still above the horizon
// (any transaction on the server that began before theirs is still open), and
// nothing notifies when that transaction ends. So a reader (Consume,
// ListEvents) that finds committed events above the horizon has the store
// watch the horizon: one trivial query 1 ms later, then at doubling intervals
// up to 100 ms (or Config.EventPollInterval, if shorter), until the horizon
// has passed them; then it wakes that reader's subscribers. The watcher runs
// only while events wait: an idle store does not poll for it.
//
// With Config.PollOnly the store (and River) never LISTEN: this works behind
// PgBouncer in transaction mode, where wake-ups from other processes come
// from polling only (lower EventPollInterval and FetchPollInterval then).
// Behind PgBouncer also configure the pool for it (pgx.QueryExecModeExec or
// pgx.QueryExecModeSimpleProtocol, or PgBouncer 1.21+ with prepared
// statement support). The store keeps no session state between
// transactions (Migrate's lock is transaction-level too); the conformance
// suite runs in PollOnly mode on a simple-protocol pool whose sessions are
// reset (DISCARD ALL) every time a connection goes back to the pool.
//
// # Consuming: the unit of work
//
// Events are consumed per partition (store.Placement: a workflow's partition
// is store.PartitionOf of its name, an execution's is chosen from its id from
// the aiflow_meta row "spread_executions_from" on, migration 13): user events
// are read by every partition whose consumer applies their key, the enabling
// and disabling of workflows by every partition, status and control events
// only by their execution's partition or, when they name none, their
// workflow's. The
// consumer names the user keys it applies (store.ConsumeParams.UserKeys: the
// keys that the rules of every registered workflow and the triggers of the
// partition's expect, all versions); the
// read skips the others (a filter on the (partition, xid, id) index scan) and
// the batch's End moves past them, to the last user event below the horizon
// when the batch is not full (one more index probe). The cursor of a partition
// that no event concerns thus moves when it next reads (woken by its own
// events, or by the poll) in one cheap write, and an event is never missed:
// the set is taken from the consumer's own registry (the appender's plays no
// part, so events from send_event or from another process are filtered alike),
// and a batch read while a workflow or trigger was being registered is read
// again with the new keys, so an event committed after a registration reaches
// it. A user event addressed to one execution records that execution's
// partition (aiflow_event.target, migration 18, store.Placement.Target); the
// other partitions' reads leave it out too unless their triggers expect its
// key (store.ConsumeParams.AddressedKeys), and move past it alike (send_event
// records the target too). Events without a target (appended before
// migration 18) are read by every partition whose consumer applies their key.
// Each partition has one row holding its cursor, a version counting its
// commits, and the lease of the client consuming it (ClaimPartitions gives
// each live client its fair share). One Consume:
//
//  1. reads the partition's row and its next events below the horizon (its
//     own, and the user events of its keys) in one statement, and checks the
//     caller's lease (else store.ErrNotOwner);
//  2. calls the engine's batch function (no transaction is held meanwhile;
//     snapshots are read as committed);
//  3. writes everything it returned in one transaction, first of all the new
//     cursor with version = version + 1 where version is still the one read
//     and the lease still the caller's: a unit computed on a state another
//     client changed meanwhile commits nothing (store.ErrNotOwner or
//     store.ErrConflict). The writes: executions (replacing a record created
//     in INIT by CreateExecution), task executions and notes, dispatch rows
//     (keyed by task execution and attempt: a second dispatch of an attempt
//     is ignored) with their River jobs (inserted by the same statement, or
//     by River's InsertManyTx when River insert middleware is configured;
//     handed-off attempts have none),
//     stop outcomes, events, snapshots and decisions, pipelined: the
//     transaction begins with its first batch and commits with its last,
//     so a unit that reads nothing first (one that starts new task
//     executions, or only applies events) is one round trip. The checks of
//     the writes (the version, executions that already exist, a missing
//     namespace) fail their own statement (aiflow_raise), so that a failed
//     one aborts the transaction before the COMMIT that follows it.
//
// A crash before the commit leaves nothing; after it everything is durable.
// A unit that only moves the cursor commits without waiting for the WAL
// flush: losing it in a crash loses nothing, its events are read again and
// decide nothing again.
//
// Stops, in the same transaction: a task execution that no worker runs
// (INIT, QUEUED, RETRYING) becomes STOPPED, its attempt is bumped so that a
// late worker is fenced out, and its job is cancelled (JobCancelTx); a
// RUNNING one becomes STOPPING and its job is cancelled, which River delivers
// to the worker as the cancellation of its context (context.Cause is
// river.ErrJobCancelledRemotely); the worker then records STOPPED. Each
// change appends its status event (store.NewStatusEvent). Once the unit has
// committed, the consuming process also cancels the attempts it runs itself
// (handed-off ones among them, which River does not know), and every
// heartbeat (see below) cancels the attempts whose task is STOPPING, should
// neither have reached them.
//
// # Running tasks
//
// Recording RUNNING and recording final statuses are batched per process:
// an idle process writes each attempt on its own, a busy one writes the
// attempts that arrive while a statement runs together in the next one.
//
// Attempts are River jobs (kind "aiflow_task") in two queues: QueueBatch and
// QueueStreaming, so that never-ending tasks, which hold a worker slot for
// their whole life, cannot starve batch tasks. River is configured for low
// latency (Config.FetchCooldown 2 ms instead of River's 100 ms) and, since a
// job committed right after another may get no notification from River, the
// store sends River's insert notification itself after committing jobs.
//
// Handoff: River's notification and fetch, and a RUNNING statement of their
// own, take about half of the time from an event to the start of its task. So
// a unit of work that dispatches batch attempts while its process runs
// workers with free handoff slots (Config.HandoffMaxWorkers, 1000 by default)
// starts as many of them as there are free slots itself (a burst larger than
// that is handed off in part, the rest going to River): in its transaction
// it also records RUNNING with its status event and takes the attempts'
// leases for its process, and it inserts no River job for them (their
// dispatch rows, running, name none); once it has committed, the process
// runs them at once. From there an attempt is like any other: heartbeats,
// the final status, the reaper. A process that dies in between is a worker
// that died after RUNNING: the leases expire and the reaper ends the
// attempts as interrupted (see Reaper below), and they run again. Streaming
// attempts and those beyond the free handoff slots always go through River,
// which spreads them over the processes. Exactly-once does not depend on how
// a burst is split: each attempt is fenced on its own (its dispatch row, its
// attempt number and its lease), whichever path starts it. A handed-off
// attempt also costs less: besides River's fetch and the RUNNING statement,
// it saves its River job's insert and completion (each a new version of a
// row with entries in every one of River's indexes), and River's second
// completion of the job, which River's completer repeats after the store's
// own for an attempt River ran (River has no way to skip it). River's queue
// depths (QueueDepths) count the handed-off attempts that run as running
// jobs of QueueBatch.
//
// Every job has River's timeout -1 and one attempt: River neither times
// attempts out nor rescues or retries them; the store's own lease does:
//
//   - Start: one statement records RUNNING, its status event and the
//     attempt's lease, fenced by the attempt (the task execution is still at
//     this attempt, QUEUED or RETRYING, its dispatch pending). A fenced-out
//     worker writes nothing and completes its job.
//   - Run: the store's TaskHandler runs; the process renews the leases of all
//     its running attempts in one query every Config.TaskHeartbeat, and
//     cancels an attempt whose lease is gone. It also cancels an attempt
//     whose lease it can no longer prove: when TaskLeaseTTL minus
//     Config.TaskStopGrace has passed since it sent the last renewal that
//     succeeded (the database set the expiry from a later instant), on the
//     monotonic clock, checked by a watchdog every few milliseconds. A
//     renewal that blocks is abandoned at that deadline, and a process that
//     resumes after a pause cancels such attempts on the watchdog's first
//     tick. Handoff takes its leases with clock_timestamp(), not the unit's
//     transaction start, so that this holds for them too.
//   - Finish: the final status (store.FinalStatus), its status event, the
//     release of the lease and the completion of the River job commit
//     together, fenced by the attempt and the lease: a crash leaves either
//     all of them or none. The attempts that return together share the
//     transaction, and their jobs are completed by one statement (River's
//     JobSetStateIfRunningMany, which JobCompleteTx runs for a single job;
//     River documents that driver interface as unstable: recheck it when
//     upgrading River), so completing them there costs about what River's
//     batch completer would. When the worker returns, River's completer
//     finds its job completed and leaves it so.
//   - Reaper: on the elected leader (internal/leader), every
//     Config.ReapInterval, an attempt whose lease expired TaskStopGrace ago
//     (its worker stopped heartbeating for Config.TaskLeaseTTL, and had the
//     grace to stop; a live worker had cancelled it a grace before the
//     expiry, so two attempts never run at once unless a process is frozen
//     for longer than the lease plus the grace) ends as store.WorkerLost
//     decides: the death of its worker is an interruption, not the task's
//     failure, so it ends RETRYING (interrupted: the engine dispatches the
//     next attempt at once, and the retry policy's failures are untouched)
//     while the task execution's interruptions stay within its
//     max_interruptions (the creating client's Config.MaxInterruptions, kept
//     in the row since migration 8), FAILED ("the workers kept dying") at
//     the interruption after those, or STOPPED if it was stopping; its status
//     event's reason starts with "worker lost: heartbeat lost". Its job is
//     cancelled so that a worker that still runs it stops. A worker that
//     cancelled its attempt because it could not keep the lease records the
//     same interruption itself, unless the body succeeded all the same. A
//     dispatched attempt whose
//     worker died before recording RUNNING (its job finished, gone, or
//     running for longer than TaskLeaseTTL without RUNNING) ends RETRYING as
//     an interruption that does not count (its code never ran), so nothing
//     stays QUEUED forever. A job River still shows running long after its attempt
//     ended without it (a worker fenced out at its start, or whose final
//     status could not be recorded, returns and leaves the job to River's
//     completer; its process may die first) is cancelled, which River's
//     rescuer then finalizes.
//
// StopWorkers stops fetching and taking handoffs, interrupts streaming
// attempts at once, lets the others finish until its context ends and then cancels them; interrupted
// attempts end RETRYING without counting as a failure, so another client runs
// them again. Retries are dispatched by the engine as new jobs; a retry's
// backoff (a job scheduled in the future) is rounded up to River's scheduler
// period, about 5 s.
//
// # Retention
//
// Prune (called on the elected leader by the client, see aiflow.Retention,
// and by "aiflow prune") deletes old records in batches of
// store.PruneParams.BatchSize rows (1,000 by default), each statement its own
// short implicit transaction that locks only the rows it deletes, so pruning
// never blocks the consumers, the workers or the appenders for long:
//
//   - Events are walked by id (the primary key; ids and times are both taken
//     when a row is inserted, so id order is time order) up to the first
//     batch that reaches an event newer than the cut-off. An event goes if it
//     is older than the cut-off and at or before the cursor of every
//     partition that reads it (the lowest cursor for a user event, its own
//     partition's for another), so a partition never misses an event it has
//     not consumed.
//   - Workflow executions are walked by id up to the first batch that reaches
//     one created after the cut-off. One that finished before the cut-off and
//     has no alive task execution goes with its task executions (a batch of
//     them per statement, through the (execution_id, id) index), their logs,
//     dispatch rows and leases.
//
// Deleted rows are reclaimed by (auto)vacuum, whose space later rows reuse.
// No index beyond the primary keys is needed, and the hot path (appending and
// consuming) is unchanged; TestPruneBoundsTheTables shows the plans (EXPLAIN)
// and the table sizes before and after. River's finished jobs are deleted by
// River's own job cleaner on River's leader, after
// Config.CompletedJobRetention, CancelledJobRetention and
// DiscardedJobRetention.
//
// # Elections
//
// A process takes part in three elections: River's own (for its
// maintenance), ours for the "aiflow" role (the reaper, started by
// StartWorkers) and ours for the "timers" role (schedules and timers, through
// Elect). Both of ours are leases in the aiflow_leader table, run by
// internal/leader: the leader renews its lease every LeaderTTL/3, a follower
// tries to take it every LeaderTTL/3 plus up to a quarter of that in jitter,
// one statement each time. Counted on the pool (two processes, each in both
// roles, 90 s at the default LeaderTTL of 15 s), each of our elections costs
// a process 0.18 to 0.20 statements a second, leader or follower: both
// together about 0.4 a second, against at least one event poll a second
// (EventPollInterval) and River's fetch poll (FetchPollInterval) on every
// process, and the reaper's scan every ReapInterval on the leader.
//
// Merging the two roles into one election would save about 0.2 statements a
// second per process and one row, but the roles do not end at the same time:
// a stopping client keeps the reaper role until its workers have drained
// (StopWorkers resigns last, so expired leases are still reaped while its
// attempts finish), while it gives the timers up as soon as it stops (Elect's
// context ends first), so that another client fires the next tick on time
// instead of waiting for the drain. One election would have to hold both
// roles through the drain, delaying ticks by up to the drain's length, or
// hand the reaper over early. At this cost the two stay separate. Retention
// pruning (aiflow.Retention) runs on the timers' leader, in its terms of
// leadership.
package postgres

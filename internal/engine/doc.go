// Package engine is the decision core of AIFlow for Go: a deterministic state
// machine that folds the events of one partition, in log order, into decisions
// (create executions and task executions, dispatch attempts, stop task
// executions, append status events, finish executions) written to a
// [store.Effects].
//
// Import rule: this package imports only the standard library and store. It
// does no I/O; ids come from an [IDSource] and time from the events
// themselves, so the same events applied to the same state always give the
// same decisions. That is what lets a test replay the event log and check
// every decision the running system made.
//
// # Concurrency
//
// An [Engine] serves one partition and is not safe for concurrent use: the
// runtime calls it from the partition's consuming goroutine only. Definitions
// ([Registry]) are shared and safe for concurrent use.
//
// # Task execution lifecycle (engine view)
//
//	         dispatch            RUNNING event          SUCCESS/FAILED event
//	INIT ───────────> QUEUED ─────────────────> RUNNING ─────────────────────> finished
//	  │                  │  stop request            │ RETRYING event (failure, attempts left)
//	  │ stop             └──────────────┐           v
//	  v                                 v        RETRYING ──dispatch(attempt+1, backoff)──> RUNNING ...
//	STOPPED (never ran)             STOPPING ───STOPPED event───> STOPPED
//
// The engine only ever moves a task execution to QUEUED (dispatch) and to
// STOPPING (stop request) by itself; every other status arrives as a status
// event written by a worker or by the backend, and is applied in log order.
// A finished status is final: later reports are ignored. A RUNNING report on
// a STOPPING task execution keeps it STOPPING.
//
// # When an execution finishes
//
// After every change the engine checks whether the execution is settled:
// no task execution alive, no periodic task, and no task that never ran while
// one of its START or RESTART rules expects an event from outside (a key that
// is not a task status key). Tasks whose start rules depend only on task
// statuses cannot start any more once nothing is alive, so they do not keep
// the execution running. A settled execution is FAILED if the latest
// execution of some task FAILED, else SUCCESS. The check looks at every task
// and does not depend on declaration order.
//
// # Executions in other partitions
//
// The store's placement ([store.Placement], given with [WithPlacement]) may
// put an execution in another partition than its workflow's. The workflow's
// partition keeps the workflow-level state: its triggers and their state,
// its schedule ticks, and its count of running executions (which a
// schedule's skip overlap policy reads). When a trigger or a tick starts an
// execution that belongs elsewhere, the workflow's partition counts it
// running, records it in INIT and appends its start request
// ([store.StartExecutionData].Counted set), which the execution's partition
// applies as it applies a call's. The status events of such an execution
// tell the workflow's partition how its count changes
// ([store.ControlData].Running): +1 when an uncounted one starts, -1 when
// one ends (or a counted one could not start). An execution in its
// workflow's partition changes the count directly, as it always did, and
// its status events carry nothing. Enabling and disabling a workflow reach
// every partition (the events belong to none), so each knows, in log
// order, whether the workflow's executions apply the events they read.
//
// # Decisions
//
// Besides its records, the engine adds to the effects a [store.Decision]
// for every start of a task execution (with the event and the rule, or what
// started it without a rule), for every rule it evaluates (condition false,
// task alive, stop requested, nothing to stop), for every rule of an
// execution that an event skipped because its workflow was disabled, and for
// every rule of a poison event skipped. They explain later why a task did or
// did not start; the store bounds what it keeps.
package engine

// Package aiflow orchestrates workflows that mix streaming tasks (they run for
// days: a Flink job, a stream consumer, a model server) with batch tasks (they
// end: a training run, a Spark job, a shell command). Tasks are started,
// stopped and restarted by rules over events, and every event is applied
// exactly once, even when the processes embedding the library are killed at
// any instant.
//
// It is a library, not a server: an application declares workflows in Go,
// registers them with a Client and starts it. Postgres (store/postgres) is both
// the event log and the job queue, so that a decision, the task executions it
// creates and the jobs that run them commit in one transaction; the in-memory
// store (store/memory) gives the same semantics for tests and examples.
//
// # Quick start
//
//	wf := aiflow.NewWorkflow("quickstart_workflow")
//	task1 := wf.Task("task1", operators.Bash("echo I am the 1st task."))
//	task2 := wf.Task("task2", operators.Bash("echo I am the 2nd task."))
//	task3 := wf.Task("task3", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
//		_, err := tc.SendEvent(ctx, "key", "This is a custom message.", nil)
//		return err
//	}))
//	task4 := wf.Task("task4", operators.Bash("echo I am the 4th task."))
//	task3.StartAfter(task1, task2)
//	task4.OnEvent("key", aiflow.ActionStart)
//
//	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
//	err = client.Register(ctx, wf)
//	err = client.Start(ctx)
//	id, err := client.StartWorkflowExecution(ctx, "quickstart_workflow", nil)
//	x, err := client.WaitWorkflowExecution(ctx, id)
//
// Each call returns an error to handle (left out above). In a service,
// [Client.Run] starts the client and stops it gracefully when the context
// ends (for example from signal.NotifyContext); build the client with [New]
// first to mount its HTTP handler (package aiflowhttp) on the same client.
// [Run] does New, Register and Client.Run in one call.
//
// # Concepts
//
// A namespace isolates workflows and events; "default" always exists. A
// workflow is a set of named tasks plus rules; a task is an [Operator] (a
// shell command, a Go function, a Flink job ...) inside a workflow. A workflow
// execution is one run of a workflow; a task execution is one run of a task in
// an execution, numbered 1, 2, 3 ... per task (SeqNum). An event has a
// namespace, a key, a string value and a sender.
//
// # Rules
//
// Task rules start, stop or restart their task ([ActionStart], [ActionStop],
// [ActionRestart]) when their condition is met:
//
//   - [Task.StartAfter]: when the latest executions of the upstream tasks are
//     all SUCCESS, evaluated on every status change of any of them;
//   - [Task.OnTaskStatus]: the same with any statuses and any action;
//   - [Task.OnEvent]: on every event with a key that reaches the execution;
//   - [Task.OnCondition]: when a [Condition] is met; it is evaluated only on
//     the event keys it expects, and may keep state ([ValueState]).
//
// Rules of a task are evaluated in declaration order and the first one that is
// met decides; the others are not evaluated for that event. Tasks without a
// START rule start with the execution. A START while the task is alive is
// ignored (the task execution's Note says why). A RESTART stops the alive run
// and dispatches the new one only once the old one has stopped: two runs of a
// task never overlap, and neither do two attempts of one run (see Running
// tasks for the one bound). Several RESTARTs that arrive while the new run
// waits for the old one to stop are coalesced into that one new run (its Note
// says the later ones were ignored). A STOP on a task that is not alive does
// nothing.
//
// # Which executions an event reaches
//
// Status changes, and events sent from inside a task ([TaskContext.SendEvent]),
// reach only their own execution. Events sent without an execution
// ([Client.SendEvent], the command line, the SQL function, other systems)
// reach every RUNNING execution, in the event's namespace, of every enabled
// workflow with a rule expecting the key. A task can send to its whole
// namespace with [SendEventOpts].ToNamespace. Events never cross namespaces.
//
// # Task and execution status
//
// A task execution goes INIT → QUEUED → RUNNING → SUCCESS or FAILED, through
// STOPPING to STOPPED when stopped, and through RETRYING between attempts
// when it has a [RetryPolicy]. STOPPING counts as alive. A finished status is
// final.
//
// An execution is RUNNING until it settles: no task execution is alive, no
// periodic task, and no task that never ran waits for an event from outside
// (a START or RESTART rule expecting a key that is not a task status). It is
// then FAILED if the latest execution of some task failed, else SUCCESS; this
// does not depend on declaration order, and an execution never hangs because a
// downstream task can no longer start. [Client.StopWorkflowExecution] makes it
// STOPPED and stops its alive tasks. A finished execution ignores events.
//
// # Running tasks
//
// Every task can have a [RetryPolicy] ([WithRetry]), a timeout for each attempt
// ([WithTimeout]; a timed-out attempt fails and may be retried), environment
// variables ([WithEnv]) and a working directory ([WithWorkDir]); the processes
// its operator starts get the task's context in AIFLOW_* variables
// ([TaskContext.Environ]). An operator reports a status message and metrics
// ([TaskContext.ReportStatus], [TaskContext.ReportMetrics]) that
// [Client.GetTaskExecution] shows. On Postgres, every running attempt holds a
// lease that its client renews; an attempt whose lease expires is ended by the
// leader with its status event, as interrupted by a lost worker (see Lost
// workers).
//
// Two attempts of a task never run at once. A client that can no longer prove
// it holds an attempt's lease (its renewals fail or block, or the process was
// paused) cancels the attempt's context, which kills the process group of an
// operator's command, a stop grace before the lease can expire as the
// database sees it, measured from when it sent its last successful renewal;
// a process that resumes after a pause does so at once. Unless its body
// succeeds all the same, such an attempt ends as interrupted by a lost
// worker, not as a failure. The leader starts
// another attempt only once the lease has been expired for the stop grace
// too (the Postgres store's TaskLeaseTTL and TaskStopGrace). The bound that
// remains: a process frozen for longer than the lease plus the grace cannot
// stop itself in time, and a body that ignores its context keeps running.
// For side effects outside the database, use the attempt number as a fencing
// token: [TaskContext.Attempt], and AIFLOW_ATTEMPT in the environment of the
// processes an operator starts. Write your output under the attempt number,
// or check it against the latest before you commit it, and a stale attempt
// can do no harm.
//
// Each task execution has one log, which its attempts append to through
// [TaskContext.Log] and [Client.ReadTaskLog] reads. It is kept in the store,
// or in files under Config.TaskLogDir ([TaskLogPath]); with
// Config.TaskLogRetention, the logs of task executions that finished longer
// ago are deleted.
//
// # Schedules and triggers
//
// Schedule expressions are a 5-field crontab, with or without the prefix
// "cron@" (in UTC unless a time zone is given), a descriptor such as
// "@hourly", "@every 5m" ([Every] builds it from a time.Duration) and
// "interval@<days> <hours> <minutes> <seconds>" (see [ScheduleForms]); a bad
// one is rejected where it is declared. Cron ticks
// fall at the crontab's times. Interval ticks fall at whole multiples of the
// interval after an anchor: the execution's creation time for a periodic
// task, the schedule's for a workflow schedule, rounded down to the whole
// second; so the first tick comes up to one second less than one interval
// after the start.
//
//   - A periodic task ([Periodic]) is restarted on every tick within its
//     execution, which stays RUNNING until it is stopped; downstream
//     StartAfter tasks run after each successful tick.
//   - A workflow schedule ([Client.AddWorkflowSchedule]) starts an execution
//     (run type PERIODIC) on every tick, with an overlap policy (allow, or
//     skip while one runs) and a catch-up policy for ticks missed while no
//     client led or while the leader's timer ran late (skip, or fire the
//     most recent N); skipped ticks are recorded as
//     "aiflow.schedule_skipped" events ([KeyScheduleSkipped]; [TaskStatusKey]
//     and the other Key constants name the library's other events). Ticks that fall due while a
//     schedule is paused never fire.
//   - A workflow trigger ([Client.AddWorkflowTrigger]) starts an execution
//     (run type EVENT) when its condition is met by a user event of the
//     namespace; its state is per workflow. Paused triggers are not
//     evaluated.
//
// Timers run on the one client elected leader among those sharing a store,
// and every tick is recorded with the event it appends, in one transaction,
// so each tick fires exactly once whatever the number of clients and leader
// changes. A disabled workflow is started by nothing ([Client.DisableWorkflow]).
//
// # Exactly once
//
// Events are consumed per partition (a workflow belongs to one) in one
// transaction per batch: the engine's decisions, the condition state, the task
// executions, the jobs that run them and the consumer's position commit
// together, so a crash at any instant neither loses nor repeats a decision.
// A task's body can run again only as a new, visible attempt (after its worker
// died or the client shut down), fenced so that a stale worker cannot record
// anything.
//
// # From outside Go
//
// Programs in other languages and operators reach the same log and
// workflows through the aiflow command (package cli, installed with go
// install github.com/aiflow-go/aiflow/cmd/aiflow@latest), the SQL function
// <schema>.send_event created by the Postgres store's migrations (usable in
// any client's own transaction), and an HTTP handler the application mounts
// (package aiflowhttp). A task's process receives its context in the
// environment (EnvTaskExecutionID and the other Env* variables), so that
// "aiflow event send", the SQL function's task_execution_id argument or
// SendEventOpts.TaskExecutionID send as the task itself would.
//
// # Shutdown
//
// [Client.Stop] stops consuming events, interrupts streaming tasks, lets the
// other running tasks finish until Config.StopTimeout, then cancels the rest.
// Interrupted tasks end RETRYING so another client (or this one, restarted)
// runs them again.
//
// # Lost workers
//
// A process that dies while it runs a task (kill -9, out of memory, a
// crashed machine), or on Postgres is cut off or paused for too long to keep
// the task's lease, loses its workers. That is not the task's failure: the
// attempt ends RETRYING, its status event's reason starting with "worker
// lost", and the task runs again at once as a new attempt, with or without a
// retry policy. Config.MaxInterruptions (3 by default) bounds these
// interruptions per task execution; the one after them fails it with an
// error starting with "the workers kept dying". Interruptions and the retry
// policy's failures are counted apart (TaskExecution.Interruptions and
// Failures).
//
// # Errors
//
// Calls return errors that errors.Is matches against the sentinels of this
// package (see [ErrNotFound] and the table next to it); their messages name the
// offending value and what was expected. [Client.Register] returns every
// problem of a declaration at once, each a [*DeclarationError].
//
// # Semantics and stability
//
// The file docs/semantics.md in the repository states in one place what a
// program can rely on (rules, statuses, which executions an event reaches,
// where ticks fall, exactly once) and where this library differs from AIFlow.
//
// The module is at v0: its Go API may change between minor versions, each
// change listed in CHANGELOG.md. The event log's format does not change
// incompatibly, and the Postgres store's migrations only move forward: a
// schema is upgraded in place from any earlier version, never edited or
// rolled back.
//
// # Testing
//
// Unit tests run workflows on store/memory with operators.Func tasks, exactly
// as production runs them on Postgres. Package aiflowtest gives such a client
// with a fake clock in one call, waits for statuses, moves the clock to the
// next schedule tick, checks the events an execution sent and evaluates one
// condition against a list of events ([ConditionRun]).
package aiflow

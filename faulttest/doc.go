// Package faulttest holds the fault tests of exactly-once on the Postgres
// store; it has no code of its own besides its tests.
//
// The tests run testdata/chaosapp, a small program that embeds the library,
// as separate processes, stream events through its workflows from the test
// process, and break things while the events flow. The workload has event
// rules that START, STOP and RESTART tasks, a StartAfter rule on a task that
// is retried after failing on purpose, a stateful condition, a streaming
// task, a periodic task, a workflow trigger with a stateful condition and a
// workflow schedule (see testdata/chaosapp). The faults:
//
//   - TestKill9: kill -9 of the program at random instants, restarted each
//     time, while a second producer commits its events late;
//   - TestReplicasOneKilled: two and three replicas, the busiest one killed;
//   - TestReplicaPaused: a replica frozen with SIGSTOP for longer than its
//     task lease (but less than the lease plus the stop grace);
//   - TestReplicaCutOff: at the library's default lease settings, a replica
//     cut off from Postgres by a TCP proxy that holds its traffic (the
//     connections stay open) for longer than the task lease plus the stop
//     grace, then let through again;
//   - TestHorizonHeld: a transaction holding a transaction id kept open in
//     another database of the server, then in our own database (an unrelated
//     table), with the consumption lag measured before and during each;
//   - TestConnectionsTerminated: every connection of the replicas and of the
//     test's producers terminated with pg_terminate_backend, in a loop (found
//     by application_name, which names the test's schema: nothing else on the
//     server is touched);
//   - TestPostgresRestart: restarts of the Postgres server, fast and
//     immediate.
//
// Faults that restart Postgres or hold its transactions open run on a
// private cluster (internal/pgtest.StartCluster), never on the shared
// server.
//
// After the stream ends and everything has settled, an oracle replays the
// event log with the library's rules (docs/semantics.md) and checks every
// decision, in one snapshot of the database: the task executions of every
// execution (none missing, none twice), the state of the condition, the
// final statuses, that no body ran twice for one attempt and no task is left
// alive without a live worker, and that no task execution ends FAILED unless
// a body of it returned an error of its own (the chaosapp bodies write those
// to a file) or its workers kept dying (the interruption limit): a killed
// worker is not the task's failure. Bodies record when they start and end,
// so it also checks that no two attempts of a task (or task executions of
// it) ran at the same time and that every SUCCESS had a body that ran to its
// end. Every periodic and schedule tick fired once (the schedule catches up
// its missed ticks, so none is missing either), each schedule tick and each
// third "fire" event started one execution, and every send of the producer
// that returned success is in the log exactly once (each send has its own
// idempotency key and is retried with it when it fails). The tests log what
// they measured: how many task executions FAILED and why, how many pairs of
// bodies overlapped (0), the consumption lag under the horizon and cut-off
// faults.
//
// # Short and long forms
//
// `go test -race ./faulttest` runs the short form of every fault (about
// three to four minutes on two cores). Environment variables make the long
// forms:
//
//	AIFLOW_FAULT_KILLS=200          kills of TestKill9 (20)
//	AIFLOW_FAULT_PAUSES=20          freezes of TestReplicaPaused (4)
//	AIFLOW_FAULT_TERMINATIONS=200   rounds of TestConnectionsTerminated (20)
//	AIFLOW_FAULT_CUTOFF=120s        the cut of TestReplicaCutOff (45s)
//	AIFLOW_FAULT_IDLE_TX_TIMEOUT=5s idle_in_transaction_session_timeout of the
//	                                cut-off test's replicas (none)
//	AIFLOW_FAULT_HOLD=60s           each transaction of TestHorizonHeld (5s)
//	AIFLOW_FAULT_DEFAULT_LEASES=1   every test at the library's default lease
//	                                settings (TestReplicaCutOff always is)
//	AIFLOW_FAULT_SEED=<n>           the random seed (logged by every test)
//
// For example, the figures of docs/benchmarks.md ("Fault tests"):
//
//	AIFLOW_FAULT_HOLD=60s go test -race -count=1 -v -run TestHorizonHeld ./faulttest
//	AIFLOW_FAULT_KILLS=200 go test -race -count=1 -v -run TestKill9 ./faulttest
//
// The package sits at the top of the module because it drives whole clients
// (in its test process and in chaosapp); the store and internal layers import
// nothing above them.
package faulttest

// Package faulttest holds the fault tests of exactly-once on the Postgres
// store; it has no code of its own besides its tests.
//
// The tests run testdata/chaosapp, a small program that embeds the library,
// as separate processes, stream events through its workflows (event rules, a
// status rule and a stateful condition) from the test process, and break
// things while the events flow: kill -9 of the program at random instants
// (restarted each time), several replicas with one of them killed, a replica
// frozen with SIGSTOP for longer than its task lease, a restart of the
// Postgres server (a private cluster, never the shared server).
//
// After the stream ends and everything has settled, an oracle replays the
// event log with the library's rules (docs/semantics.md) and checks every
// decision: the task executions of every execution (none missing, none
// twice), the state of the condition, the final statuses, that no body ran
// twice for one attempt and no task is left alive without a live worker, and
// that no task execution ends FAILED unless a body of it returned an error
// of its own (the chaosapp bodies write those to a file) or its workers kept
// dying (the interruption limit): a killed worker is not the task's failure.
// It logs how many task executions FAILED and why. Bodies record when they
// start and end, so the oracle also checks that no two attempts of a task
// ran at the same time and that every SUCCESS had a body that ran to its
// end.
//
// Environment: AIFLOW_FAULT_KILLS sets the number of kills of the kill test
// (20 by default, the CI setting; raise it for a long run), AIFLOW_FAULT_PAUSES
// the number of freezes of the pause test (4 by default), AIFLOW_FAULT_SEED
// fixes the random seed (logged by every test).
//
// The package sits at the top of the module because it drives whole clients
// (in its test process and in chaosapp); the store and internal layers import
// nothing above them.
package faulttest

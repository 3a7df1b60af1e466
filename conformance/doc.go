// Package conformance is the conformance suite of AIFlow for Go: every
// behaviour of the library (docs/semantics.md describes them), each as its own
// test, run through the public client against a store. Every store runs it,
// from this package's tests:
//
//	func TestMemory(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) store.Store { return memory.New(nil) })
//	}
//
// The tests make no timing assumptions: they wait on conditions with
// deadlines, and prove that something did not happen with a witness (a later
// event in the same execution whose effect is visible, so the earlier one has
// been applied).
//
// The files are named after the behaviour they test: rules, conditions,
// actions, routing, status (of an execution), tasks, lost (workers), logs,
// events, executions, shutdown and timers (schedules and triggers). bed.go, flow.go
// and control.go hold the test bed: a client on a fresh store, workflows
// built from controlled tasks, and the control of those tasks' runs.
//
// Beside the suite, postgres_client_test.go and postgres_sendevent_test.go run
// whole clients on what only the Postgres store has: replicas sharing one
// database, and events sent by SQL.
//
// Import rule: conformance sits at the top of the module, beside the client it
// drives: it imports the root package, operators, store and the test
// libraries; its tests import the stores (store/memory, store/postgres) and
// internal/pgtest. Nothing imports it but tests.
package conformance

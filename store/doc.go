// Package store holds the storage contracts of AIFlow for Go: the records the
// library persists (namespaces, workflows, workflow and task executions,
// events), the unit of work that applies the engine's decisions, and the
// worker contract that runs tasks.
//
// Import rule: this package imports only the standard library. Everything else
// in the module may import it; it imports nothing of the module. Backends live
// in subpackages (store/memory, store/postgres) and import this package and
// the module's internal helpers they need (store/postgres uses
// internal/leader for its leader election), never the root package or the
// engine. The engine hands backends callbacks
// (a [TaskHandler], a [BatchFunc]) instead of being imported by them.
//
// # Stability
//
// The interfaces here are the seam between the library and its backends. They
// are exported so that the library's own backends can live in separate
// packages, not as an extension point: implementing them outside this module
// is not supported, and changes to them are not considered breaking changes.
// The client converts the records into package aiflow's own result types
// (WorkflowExecution, TaskExecution, ...), so users never see them. The
// conformance suite (package conformance) is the definition of what a
// backend must do.
//
// # The unit of work
//
// Events are consumed per partition. A workflow belongs to exactly one
// partition ([PartitionOf]), which holds its triggers, schedule ticks and
// other workflow-level state; each of its executions belongs to one
// partition too, its workflow's or, in a store that spreads them, one chosen
// from its id ([Placement]). The events about an execution (status changes,
// start and stop requests) carry its partition, and user events carry none
// (every partition reads them). One call of [Consumer.Consume] is one atomic unit:
// the backend locks the partition, reads the next events after the
// partition's position, calls the [BatchFunc] and commits everything the
// function returned in [Effects] (new executions and task executions,
// dispatches, stop requests, appended events, engine snapshots and the new
// position) in the same transaction. A crash before the commit leaves
// nothing; after it everything is durable. This is the exactly-once point.
package store

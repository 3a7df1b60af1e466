// Package leader elects one leader among the clients sharing a Postgres
// schema, for the work that must run in one place at a time: the reaper of
// lost task attempts and, later, the schedule timers.
//
// Import rule: leader imports pgx, internal/startstop and the standard
// library only. It does not create its table; the store's migrations do
// (aiflow_leader: name, leader_id, elected_at, expires_at), and the caller
// passes its qualified name.
//
// # The lease
//
// One row per role (Config.Name) holds the current term: the leader's id,
// the database time it was elected at (the term's identity, with the id) and
// the database time the lease expires at. The database is the only judge of
// who holds the lease: a follower can take it only once expires_at has
// passed on the database's clock, or once the leader deleted the row when it
// resigned. Renewing and resigning are scoped to the exact term, so a client
// that lost its term and won a new one never renews the old one by mistake.
//
// # States
//
//	      Start
//	        │
//	        v
//	┌───────────────┐  elected (row inserted, or expired row taken)
//	│   follower    │──────────────────────────────────────────┐
//	│ tries every   │                                          v
//	│ TTL/3+jitter  │                                  ┌───────────────┐
//	└───────────────┘ <────────────────────────────────│    leader     │
//	        ^      term replaced, renewal failing past │ renews every  │
//	        │      the trust window, or Stop (resigns) │ TTL/3         │
//	        │                                          └───────────────┘
//	      Stop
//
// # The trust window
//
// After each successful election or renewal the leader trusts its term until
//
//	trustedUntil = attemptStarted + TTL - TTL/5
//
// measured on the local monotonic clock from the moment the attempt was
// sent, before the database stamped the lease. The database's lease ends at
// its own now() + TTL, which is later in real time, so the local trust ends
// before any other client can take the lease, whatever the clocks' offsets
// (only their rates matter). IsLeader is true only inside the window; when
// renewals fail (the database is unreachable) the leader steps down at the
// end of the window, before a successor can be elected.
//
// # Transitions
//
// Subscribers receive every change of state, in order, starting with the
// current state. Each subscriber has its own unbounded queue, so a slow
// subscriber never blocks the elector or the others. Leadership is a hint for
// efficiency and order, not a lock: work run by a leader must still be safe
// when two clients briefly believe they lead (the reaper's updates are fenced
// row by row).
package leader

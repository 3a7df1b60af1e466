package postgres

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// The read horizon (see horizon in events.go) and what holds it back.
//
// pg_snapshot_xmin counts every transaction of the server: a transaction
// left open in another database would hold back every reader of the log
// until it ends. The watcher of the horizon (hub.watchHorizon), which runs
// while committed events wait above it, therefore also computes
// filteredHorizon, which leaves those out, and stores it in aiflow_meta
// (key "horizon") when it is further than the plain one; readers take the
// greater of the two. Computing the filtered horizon reads the sessions of
// the whole server (0.05 ms more than the plain one on a quiet server, up to
// 1 ms on a busy one), so only the watcher does it, and only when the plain
// horizon has not passed the events it waits for within horizonFilterAfter
// (or the last check needed it): readers pay one primary-key lookup.
//
// A transaction of our own database holds the horizon back until it ends,
// whatever it writes: it may still append events (SendEventTx) with its old
// id. The store cannot tell it from one that never will, so it reports it:
// once committed events have waited longer than Config.HorizonWarnAfter, the
// watcher looks up the transaction holding them (its session, or the
// prepared transaction) and logs it at Warn level, once each time the wait
// crosses another multiple of the threshold; Store.HorizonHolder returns it.

// filteredHorizon is the smallest transaction id in progress in the
// statement's snapshot (pg_snapshot_xip), or the snapshot's xmax when there is
// none, leaving out the transactions positively known to belong to another
// database of the server, by their session (pg_stat_get_activity, which shows
// every session's transaction id to every role) or as prepared transactions.
// A transaction that cannot be placed is kept. The snapshot lists top-level
// transactions only, which is what events carry (pg_current_xact_id).
const filteredHorizon = `(SELECT coalesce(min(x), pg_snapshot_xmax(pg_current_snapshot()))
	FROM pg_snapshot_xip(pg_current_snapshot()) AS x
	WHERE NOT EXISTS (SELECT 1 FROM pg_stat_get_activity(NULL) a
			WHERE a.backend_xid = x::xid AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))
		AND NOT EXISTS (SELECT 1 FROM pg_prepared_xact() p
			WHERE p.transaction = x::xid AND p.dbid <> (SELECT oid FROM pg_database WHERE datname = current_database())))`

// horizonFilterAfter is how long events wait before the watcher also
// computes the filtered horizon: most waits are for short transactions that
// end within a few milliseconds, which the plain horizon sees pass.
const horizonFilterAfter = 4 * time.Millisecond

// horizonCheckSQL is the watcher's check: the horizon, and when $2 is true
// and the horizon has not passed $1 (the smallest xid waited for), the
// filtered horizon, stored when it is further. It returns the horizon, and
// the further of the two.
const horizonCheckSQL = `WITH p AS MATERIALIZED (SELECT ` + horizon + ` AS x),
f AS MATERIALIZED (SELECT ` + filteredHorizon + ` AS x WHERE $2::boolean AND (SELECT x FROM p) <= $1::xid8),
up AS (INSERT INTO {s}.aiflow_meta AS m (key, value)
	SELECT 'horizon', f.x::text FROM f WHERE f.x > (SELECT x FROM p)
	ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value WHERE m.value::xid8 < EXCLUDED.value::xid8)
SELECT (SELECT x FROM p), greatest((SELECT x FROM p), (SELECT x FROM f))`

// horizonHolderSQL finds the transaction whose id is $1 (the horizon): its
// session, or the prepared transaction.
const horizonHolderSQL = `SELECT a.pid, coalesce(a.datname::text, ''), a.xact_start, coalesce(a.state, ''), coalesce(a.query, ''), ''
	FROM pg_stat_activity a WHERE a.backend_xid = $1::xid8::xid
UNION ALL
SELECT 0, p.database::text, p.prepared, 'prepared', '', p.gid
	FROM pg_prepared_xacts p WHERE p.transaction = $1::xid8::xid
LIMIT 1`

// HorizonHolder is the transaction that holds committed events back from
// the readers of the event log (see Store.HorizonHolder).
type HorizonHolder struct {
	// XID is the id of the transaction.
	XID uint64
	// PID is the process id of its session, 0 for a prepared transaction or
	// a transaction that could not be found.
	PID int
	// Database is the database of its session.
	Database string
	// Started is when the transaction began (prepared: when it was
	// prepared); zero when unknown.
	Started time.Time
	// State is the state of its session ("idle in transaction", "active"),
	// or "prepared".
	State string
	// Query is the last statement of its session; empty without the right to
	// see it (the session of another role: grant pg_read_all_stats).
	Query string
	// GID is the name of a prepared transaction.
	GID string
	// Waiting is how long committed events have been waiting for it.
	Waiting time.Duration
}

// HorizonHolder reports whether committed events are waiting above the read
// horizon of the event log (readable once an older transaction ends), and
// for how long (Waiting). Once they have waited longer than
// Config.HorizonWarnAfter, it also names the transaction holding them back
// (refreshed about every second while they wait); before that only Waiting
// is set. It does not query the database.
func (s *Store) HorizonHolder() (HorizonHolder, bool) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.awaiting) == 0 || h.heldSince.IsZero() {
		return HorizonHolder{}, false
	}
	out := h.holder
	out.Waiting = time.Since(h.heldSince)
	return out, true
}

// checkHolder is called by the horizon watcher after each check while events
// wait: once they have waited longer than HorizonWarnAfter, it looks up the
// transaction at the horizon x (at most every second), and logs it at Warn
// level each time the wait crosses another multiple of the threshold.
func (h *hub) checkHolder(ctx context.Context, x uint64) {
	threshold := h.s.cfg.HorizonWarnAfter
	h.mu.Lock()
	since, looked, warned := h.heldSince, h.holderLooked, h.holderWarned
	h.mu.Unlock()
	if since.IsZero() {
		return
	}
	now := time.Now()
	waited := now.Sub(since)
	crossed := int(waited / threshold)
	if crossed == 0 || (crossed <= warned && now.Sub(looked) < time.Second) {
		return
	}
	holder := HorizonHolder{XID: x}
	qctx, cancel := context.WithTimeout(ctx, h.s.cfg.HorizonWarnAfter)
	var started *time.Time
	err := h.s.pool.QueryRow(qctx, horizonHolderSQL, x).Scan(&holder.PID, &holder.Database, &started, &holder.State, &holder.Query, &holder.GID)
	cancel()
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		if ctx.Err() == nil {
			h.s.log.DebugContext(ctx, "looking up the transaction holding the horizon failed", slog.Any("error", err))
		}
		return
	}
	if started != nil {
		holder.Started = *started
	}
	h.mu.Lock()
	if !h.heldSince.Equal(since) { // the events were read meanwhile
		h.mu.Unlock()
		return
	}
	h.holder, h.holderLooked = holder, now
	warn := crossed > h.holderWarned
	if warn {
		h.holderWarned = crossed
	}
	h.mu.Unlock()
	if !warn {
		return
	}
	attrs := []any{slog.Duration("waiting", waited.Round(time.Millisecond)), slog.Uint64("xid", holder.XID)}
	if !holder.Started.IsZero() {
		attrs = append(attrs, slog.Duration("age", now.Sub(holder.Started).Round(time.Millisecond)))
	}
	if holder.GID != "" {
		attrs = append(attrs, slog.String("prepared_transaction", holder.GID), slog.String("database", holder.Database))
	} else {
		attrs = append(attrs, slog.Int("pid", holder.PID), slog.String("database", holder.Database),
			slog.String("state", holder.State), slog.String("query", holder.Query))
	}
	h.s.log.WarnContext(ctx, "committed events wait for an open transaction: consumers are held back until it ends", attrs...)
}

package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// Partitions returns the number of partitions, fixed by the first migration.
func (s *Store) Partitions() int { return s.nPart }

// Placement spreads the executions made since migration 13 over the
// partitions (see store.Placement); those made before stay in their
// workflow's partition. It implements store.Consumer.
func (s *Store) Placement() store.Placement {
	return store.Placement{Partitions: s.nPart, SpreadFrom: s.spreadFrom}
}

// ClaimPartitions renews owner's leases and takes its fair share of free or
// expired partitions (the number of partitions divided by the number of live
// owners, rounded up), giving back partitions above that share. Owners are
// live while they keep claiming within ttl. It returns the partitions owner
// holds, each valid for ttl (measured by the database's clock).
func (s *Store) ClaimPartitions(ctx context.Context, owner string, ttl time.Duration) ([]int, error) {
	if owner == "" {
		return nil, fmt.Errorf("%w: partition owner is empty: expected a client id", store.ErrInvalid)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("%w: lease ttl %s: expected a positive duration", store.ErrInvalid, ttl)
	}
	var mine []int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(s.q(`INSERT INTO {s}.aiflow_client (id, expires_at) VALUES ($1, now() + $2::interval)
			ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at`), owner, ttl)
		b.Queue(s.q("DELETE FROM {s}.aiflow_client WHERE expires_at < now()"))
		b.Queue(s.q("SELECT count(*) FROM {s}.aiflow_client"))
		b.Queue(s.q("SELECT partition, owner, lease_until > now() FROM {s}.aiflow_partition ORDER BY partition FOR UPDATE"))
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for range 2 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		var live int
		if err := br.QueryRow().Scan(&live); err != nil {
			return err
		}
		type part struct {
			owner string
			valid bool
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		parts := make([]part, 0, s.nPart)
		var p part
		var idx int32
		_, err = pgx.ForEachRow(rows, []any{&idx, &p.owner, &p.valid}, func() error {
			parts = append(parts, p)
			return nil
		})
		if err != nil {
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		live = max(live, 1)
		share := (len(parts) + live - 1) / live
		for i, p := range parts {
			if p.owner == owner && p.valid {
				mine = append(mine, i)
			}
		}
		var release []int32
		for len(mine) > share {
			release = append(release, int32(mine[len(mine)-1]))
			mine = mine[:len(mine)-1]
		}
		for i, p := range parts {
			if len(mine) >= share {
				break
			}
			if (p.owner == "" || !p.valid) && !slices.Contains(release, int32(i)) {
				mine = append(mine, i)
			}
		}
		slices.Sort(mine)
		take := make([]int32, len(mine))
		for i, m := range mine {
			take[i] = int32(m)
		}
		b = &pgx.Batch{}
		if len(release) > 0 {
			b.Queue(s.q(`UPDATE {s}.aiflow_partition SET owner = '', lease_until = '-infinity'
				WHERE partition = ANY($1) AND owner = $2`), release, owner)
		}
		b.Queue(s.q(`UPDATE {s}.aiflow_partition SET owner = $2, lease_until = now() + $3::interval
			WHERE partition = ANY($1)`), take, owner, ttl)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, opErr("claim partitions", err)
	}
	return mine, nil
}

// ReleasePartitions gives up every lease owner holds and forgets it as a
// live owner.
func (s *Store) ReleasePartitions(ctx context.Context, owner string) error {
	return opErr("release partitions", s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(s.q("UPDATE {s}.aiflow_partition SET owner = '', lease_until = '-infinity' WHERE owner = $1"), owner)
		b.Queue(s.q("DELETE FROM {s}.aiflow_client WHERE id = $1"), owner)
		return tx.SendBatch(ctx, b).Close()
	}))
}

package postgres

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"
)

// stmt is one statement of a pipelined batch and what to do with its result.
type stmt struct {
	sql    string
	args   []any
	handle func(br pgx.BatchResults) error // nil: Exec
}

// sendBatch sends stmts in one round trip and hands each result to its
// handler.
func sendBatch(ctx context.Context, tx pgx.Tx, stmts []stmt) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for _, st := range stmts {
		var err error
		if st.handle != nil {
			err = st.handle(br)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			return err
		}
	}
	return br.Close()
}

// expectIDs returns a handler that checks that a RETURNING id statement
// returned every id of want, else reports the first missing one with notFound.
func expectIDs(want []int64, missing func(id int64) error) func(br pgx.BatchResults) error {
	return func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if len(ids) != len(want) {
			for _, id := range want {
				if !slices.Contains(ids, id) {
					return missing(id)
				}
			}
		}
		return nil
	}
}

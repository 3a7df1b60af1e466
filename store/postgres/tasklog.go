package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// AppendTaskLog appends output to a task execution's log. Appends are
// serialised per task execution by its size row.
func (s *Store) AppendTaskLog(ctx context.Context, id int64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	return opErr("append task log", s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, s.q(`WITH sz AS (
				INSERT INTO {s}.aiflow_task_log_size AS z (task_execution_id, size) VALUES ($1, $2)
				ON CONFLICT (task_execution_id) DO UPDATE SET size = z.size + EXCLUDED.size
				RETURNING size)
			INSERT INTO {s}.aiflow_task_log (task_execution_id, start_offset, data)
			SELECT $1, size - $2, $3 FROM sz`), id, int64(len(data)), data)
		return err
	}))
}

// ReadTaskLog reads up to limit bytes (everything when limit is 0) of a task
// execution's log from offset, and returns them with the offset to continue
// from. An offset past the end reads nothing from the end.
func (s *Store) ReadTaskLog(ctx context.Context, id int64, offset int64, limit int) ([]byte, int64, error) {
	var exists bool
	var size int64
	err := s.pool.QueryRow(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM {s}.aiflow_task_execution WHERE id = $1),
		coalesce((SELECT size FROM {s}.aiflow_task_log_size WHERE task_execution_id = $1), 0)`), id).Scan(&exists, &size)
	if err != nil {
		return nil, offset, opErr("read task log", err)
	}
	if !exists {
		return nil, offset, fmt.Errorf("%w: id %d", store.ErrTaskExecutionNotFound, id)
	}
	if offset < 0 || offset > size {
		offset = size
	}
	end := size
	if limit > 0 && offset+int64(limit) < end {
		end = offset + int64(limit)
	}
	if end == offset {
		return []byte{}, end, nil
	}
	rows, err := s.pool.Query(ctx, s.q(`SELECT start_offset, data FROM {s}.aiflow_task_log
		WHERE task_execution_id = $1 AND start_offset < $3 AND start_offset + length(data) > $2 ORDER BY start_offset`), id, offset, end)
	if err != nil {
		return nil, offset, opErr("read task log", err)
	}
	out := make([]byte, 0, end-offset)
	var start int64
	var chunk []byte
	_, err = pgx.ForEachRow(rows, []any{&start, &chunk}, func() error {
		lo, hi := max(offset-start, 0), min(end-start, int64(len(chunk)))
		out = append(out, chunk[lo:hi]...)
		return nil
	})
	if err != nil {
		return nil, offset, opErr("read task log", err)
	}
	return out, end, nil
}

// pruneBatch bounds the logs one pruning transaction deletes.
const pruneBatch = 1000

// PruneTaskLogs deletes the logs of task executions that finished before
// endedBefore, and of task executions that no longer exist, a batch per
// transaction, and returns how many it deleted.
func (s *Store) PruneTaskLogs(ctx context.Context, endedBefore time.Time) (int, error) {
	total := 0
	for {
		var n int
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, s.q(`WITH gone AS (
					SELECT z.task_execution_id AS id FROM {s}.aiflow_task_log_size z
					LEFT JOIN {s}.aiflow_task_execution t ON t.id = z.task_execution_id
					WHERE t.id IS NULL OR (t.status IN ('SUCCESS', 'FAILED', 'STOPPED') AND t.ended_at < $1)
					ORDER BY z.task_execution_id LIMIT $2 FOR UPDATE OF z SKIP LOCKED),
				chunks AS (DELETE FROM {s}.aiflow_task_log l USING gone WHERE l.task_execution_id = gone.id),
				sizes AS (DELETE FROM {s}.aiflow_task_log_size z USING gone WHERE z.task_execution_id = gone.id RETURNING 1)
				SELECT count(*) FROM sizes`), endedBefore, pruneBatch).Scan(&n)
		})
		total += n
		if err != nil {
			return total, opErr("prune task logs", err)
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}

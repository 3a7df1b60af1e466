package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

var _ store.FailureRecorder = (*Store)(nil)

// failureJSON is one element of aiflow_partition.failures.
type failureJSON struct {
	EventID  int64  `json:"event_id"`
	Target   string `json:"target"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
}

// maxFailureError bounds the error text kept per failure.
const maxFailureError = 4096

func decodeFailures(raw []byte) ([]store.FailedApplication, error) {
	if raw == nil {
		return nil, nil
	}
	var fs []failureJSON
	if err := json.Unmarshal(raw, &fs); err != nil {
		return nil, fmt.Errorf("decoding the partition's failures: %w", err)
	}
	out := make([]store.FailedApplication, len(fs))
	for i, f := range fs {
		out[i] = store.FailedApplication{EventID: f.EventID, Target: f.Target, Attempts: f.Attempts, Error: f.Error}
	}
	return out, nil
}

// RecordFailure adds one failed attempt at applying f.EventID to f.Target on
// params.Partition, in a transaction of its own, and returns the partition's
// failures after it (see store.FailureRecorder). It changes neither the
// partition's version nor its position; moving the position clears the
// failures. It fails with store.ErrNotOwner when params.Owner no longer holds
// the partition's lease, and with store.ErrConflict when the partition's
// version is no longer version.
func (s *Store) RecordFailure(ctx context.Context, params store.ConsumeParams, version int64, f store.FailedApplication) ([]store.FailedApplication, error) {
	if params.Partition < 0 || params.Partition >= s.nPart {
		return nil, fmt.Errorf("%w: partition %d: expected 0 to %d", store.ErrInvalid, params.Partition, s.nPart-1)
	}
	if f.Target == "" {
		return nil, fmt.Errorf("%w: failure target is empty: expected the engine's target of event %d", store.ErrInvalid, f.EventID)
	}
	msg := f.Error
	if len(msg) > maxFailureError {
		msg = msg[:maxFailureError]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	var out []store.FailedApplication
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var owner string
		var valid bool
		var cur int64
		var raw []byte
		err := tx.QueryRow(ctx, s.q(`SELECT owner, lease_until > clock_timestamp(), version, failures
			FROM {s}.aiflow_partition WHERE partition = $1 FOR UPDATE`), params.Partition).Scan(&owner, &valid, &cur, &raw)
		if err != nil {
			return err
		}
		switch {
		case owner != params.Owner || !valid:
			return fmt.Errorf("%w: partition %d is held by %q, not %q: the failure was not recorded", store.ErrNotOwner, params.Partition, owner, params.Owner)
		case cur != version:
			return fmt.Errorf("%w: partition %d moved from version %d to %d: the failure was not recorded", store.ErrConflict, params.Partition, version, cur)
		}
		if out, err = decodeFailures(raw); err != nil {
			return err
		}
		found := false
		for i := range out {
			if out[i].EventID == f.EventID && out[i].Target == f.Target {
				out[i].Attempts++
				out[i].Error = msg
				found = true
			}
		}
		if !found {
			out = append(out, store.FailedApplication{EventID: f.EventID, Target: f.Target, Attempts: 1, Error: msg})
		}
		enc := make([]failureJSON, len(out))
		for i, x := range out {
			enc[i] = failureJSON{EventID: x.EventID, Target: x.Target, Attempts: x.Attempts, Error: x.Error}
		}
		data, err := json.Marshal(enc)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, s.q("UPDATE {s}.aiflow_partition SET failures = $2::text::jsonb WHERE partition = $1"), params.Partition, string(data))
		return err
	})
	if err != nil {
		return nil, opErr("record failure", err)
	}
	return out, nil
}

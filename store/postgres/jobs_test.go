package postgres

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// countInserts is River insert middleware that counts the jobs it sees.
type countInserts struct {
	river.MiddlewareDefaults
	jobs atomic.Int64
}

func (m *countInserts) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams,
	doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	m.jobs.Add(int64(len(params)))
	return doInner(ctx)
}

// A unit of work inserts its River jobs itself (with its other writes), as
// River would; with River insert middleware configured, River inserts them
// so that the middleware sees every job. Either way the attempts run, handed
// off (without a River job) or fetched by River.
func TestUnitInsertsJobsItselfUnlessRiverInsertMiddlewareIsConfigured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		middleware bool
		handoff    int
	}{
		{"own insert, handed off", false, 0},
		{"own insert, fetched by River", false, -1},
		{"River insert middleware, handed off", true, 0},
		{"River insert middleware, fetched by River", true, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mw := &countInserts{}
			s, _ := newTestStore(t, func(c *Config) {
				if tc.middleware {
					c.RiverMiddleware = []rivertype.Middleware{mw}
				}
				if tc.handoff < 0 {
					c.HandoffMaxWorkers = -1
				}
			})
			require.Equal(t, tc.middleware, s.riverInsertHooked())
			claimAll(t, s, testOwner)
			h := newTestHandler(func(context.Context, *store.TaskRun) error { return nil })
			startWorkers(t, s, h)
			var tes []store.TaskExecutionRecord
			for _, name := range []string{"a", "b"} {
				te := newTE(t, s, 1, name)
				tes = append(tes, te)
				dispatch(t, s, te)
			}
			for _, te := range tes {
				waitStatus(t, s, te.ID, store.TaskSuccess)
				require.Equal(t, []string{"RUNNING", "SUCCESS"}, statuses(statusEvents(t, s, te.ID)))
				state, attempt := jobRow(t, s, te.ID)
				if tc.handoff == 0 {
					require.Empty(t, state, "a handed-off attempt has no River job")
					continue
				}
				require.Equal(t, "completed", state)
				require.Equal(t, 1, attempt)
			}
			want := int64(0)
			if tc.middleware && tc.handoff < 0 {
				want = int64(len(tes))
			}
			require.Equal(t, want, mw.jobs.Load(), "the jobs River's insert middleware saw")
		})
	}
}

package aiflowhttp

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
)

// TestStartManyExecutions: POST .../executions/batch starts one execution
// per input, or count executions without input, and answers their ids in
// order; a refused request starts none.
func TestStartManyExecutions(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	const path = "/v1/namespaces/default/workflows/w/executions/batch"
	var out struct {
		IDs []int64 `json:"ids"`
	}
	r := b.do("POST", path, `{"inputs":["a","","c"]}`)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	r.json(t, &out)
	require.Len(t, out.IDs, 3)
	for i, want := range []string{"a", "", "c"} {
		b.waitExecution(out.IDs[i], aiflow.WorkflowRunning)
		x, err := b.client.GetWorkflowExecution(b.ctx, out.IDs[i])
		require.NoError(t, err)
		require.Equal(t, want, x.Input)
	}
	r = b.do("POST", path, `{"count":2}`)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	r.json(t, &out)
	require.Len(t, out.IDs, 2)

	b.fails(b.do("POST", path, `{}`), http.StatusBadRequest, "invalid", "expected 1 to 10000")
	b.fails(b.do("POST", path, `{"count":10001}`), http.StatusBadRequest, "invalid", "count 10001")
	b.fails(b.do("POST", path, `{"count":1,"inputs":["a"]}`), http.StatusBadRequest, "invalid", "count and inputs")
	b.fails(b.do("POST", path, `{"count":1}`, IdempotencyKeyHeader, "k"), http.StatusBadRequest, "invalid", IdempotencyKeyHeader)
	b.fails(b.do("POST", "/v1/namespaces/default/workflows/nope/executions/batch", `{"count":1}`), http.StatusNotFound, "not_found", "workflow not found")
	xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.Len(t, xs, 5, "refused requests started nothing")
}

package aiflowui

// The task log page, followed live.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

type taskData struct {
	TE      aiflow.TaskExecution
	X       *aiflow.WorkflowExecution
	Access  aiflowhttp.Access
	Log     string
	Offset  int64
	Metrics []string
}

// logPage bounds the log shown when the page is rendered; the rest follows.
const logPage = 256 << 10

func (h *Handler) taskExecutionPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx := r.Context()
	te, err := readableTask(r, h)
	if err != nil {
		return "", nil, err
	}
	id := te.ID
	d := &taskData{TE: *te, Access: h.access(ctx, te.Namespace)}
	if x, err := h.c.GetWorkflowExecution(ctx, te.ExecutionID); err == nil {
		d.X = x
	}
	data, next, err := h.c.ReadTaskLog(ctx, id, 0, logPage)
	if err != nil {
		return "", nil, err
	}
	d.Log, d.Offset = string(data), next
	for _, k := range sortedKeys(te.Metrics) {
		d.Metrics = append(d.Metrics, fmt.Sprintf("%s = %.4g", k, te.Metrics[k]))
	}
	return "task", d, nil
}

// logChunk answers the page's polls for more of the log, as JSON.
func (h *Handler) logChunk(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	err := func() error {
		offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
		if err != nil || offset < 0 {
			return errorf(http.StatusBadRequest, "offset %q: expected a non-negative integer", r.URL.Query().Get("offset"))
		}
		te, err := readableTask(r, h)
		if err != nil {
			return err
		}
		data, next, err := h.c.ReadTaskLog(ctx, te.ID, offset, logPage)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		return json.NewEncoder(w).Encode(map[string]any{"data": string(data), "next_offset": next,
			"finished": te.Status.Finished(), "status": te.Status})
	}()
	if err != nil {
		status, msg := h.statusOf(r, err)
		http.Error(w, msg, status)
	}
}

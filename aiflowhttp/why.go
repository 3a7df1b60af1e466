package aiflowhttp

import "net/http"

// explainTask serves GET /v1/executions/{id}/tasks/{task}/why:
// Client.ExplainTask's answer as JSON.
func (h *handler) explainTask(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := h.execution(r, id, AccessRead); err != nil {
		return err
	}
	ex, err := h.c.ExplainTask(r.Context(), id, r.PathValue("task"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ex)
	return nil
}

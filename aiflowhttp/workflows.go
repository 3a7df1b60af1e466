package aiflowhttp

// The workflow endpoints: list, show, start an execution.

import (
	_ "embed"
	"fmt"
	"net/http"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

func (h *handler) listWorkflows(w http.ResponseWriter, r *http.Request) error {
	if err := h.require(r, r.PathValue("namespace"), AccessRead); err != nil {
		return err
	}
	// ListWorkflows fails with ErrNamespaceNotFound for an unknown namespace.
	ws, err := h.c.ListWorkflows(r.Context(), r.PathValue("namespace"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"workflows": view.Map(ws, view.NewWorkflow)})
	return nil
}

func (h *handler) getWorkflow(w http.ResponseWriter, r *http.Request) error {
	ns, name := r.PathValue("namespace"), r.PathValue("workflow")
	if err := h.require(r, ns, AccessRead); err != nil {
		return err
	}
	wf, err := h.c.GetWorkflow(r.Context(), ns, name)
	if err != nil {
		return err
	}
	vers, err := h.c.ListWorkflowVersions(r.Context(), ns, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view.Redact(view.NewWorkflowDetail(*wf, vers)))
	return nil
}

func (h *handler) startExecution(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Input string `json:"input"`
	}
	if err := decode(r, &req, true); err != nil {
		return err
	}
	ns, name := r.PathValue("namespace"), r.PathValue("workflow")
	if err := h.require(r, ns, AccessWrite); err != nil {
		return err
	}
	id, err := h.c.StartWorkflowExecution(r.Context(), name, &aiflow.StartWorkflowOpts{
		Namespace: ns, Input: req.Input, IdempotencyKey: r.Header.Get(IdempotencyKeyHeader),
	})
	if err != nil {
		return err
	}
	x, err := h.c.GetWorkflowExecution(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("/v1/executions/%d", id))
	writeJSON(w, http.StatusCreated, view.NewExecution(*x))
	return nil
}

// startExecutions starts many executions of a workflow in one transaction:
// {"count": N} starts N without input, {"inputs": [...]} one per input.
func (h *handler) startExecutions(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Count  int      `json:"count"`
		Inputs []string `json:"inputs"`
	}
	if err := decode(r, &req, false); err != nil {
		return err
	}
	switch {
	case r.Header.Get(IdempotencyKeyHeader) != "":
		return badRequest("invalid", "header %s: a batch start has no idempotency key: start one execution per request with it", IdempotencyKeyHeader)
	case req.Count != 0 && req.Inputs != nil:
		return badRequest("invalid", "count and inputs: expected one of them (inputs starts one execution per input)")
	case req.Count < 0 || req.Count > aiflow.MaxStartExecutions:
		return badRequest("invalid", "count %d: expected 1 to %d executions", req.Count, aiflow.MaxStartExecutions)
	}
	inputs := req.Inputs
	if req.Count > 0 {
		inputs = make([]string, req.Count)
	}
	ns, name := r.PathValue("namespace"), r.PathValue("workflow")
	if err := h.require(r, ns, AccessWrite); err != nil {
		return err
	}
	ids, err := h.c.StartWorkflowExecutions(r.Context(), name, inputs, &aiflow.StartWorkflowExecutionsOpts{Namespace: ns})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"ids": ids})
	return nil
}

package aiflowhttp

// The execution endpoints: list, show, stop; task executions, their
// actions and logs.

import (
	_ "embed"
	"net/http"
	"strings"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

func (h *handler) listExecutions(w http.ResponseWriter, r *http.Request) error {
	ns, name := r.PathValue("namespace"), r.PathValue("workflow")
	if err := h.require(r, ns, AccessRead); err != nil {
		return err
	}
	if _, err := h.c.GetWorkflow(r.Context(), ns, name); err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 1, 1000)
	if err != nil {
		return err
	}
	f := &aiflow.ExecutionFilter{Namespace: ns, Workflow: name, Limit: int(limit)}
	for _, s := range r.URL.Query()["status"] {
		st := aiflow.WorkflowStatus(strings.ToUpper(s))
		switch st {
		case aiflow.WorkflowInit, aiflow.WorkflowRunning, aiflow.WorkflowSuccess, aiflow.WorkflowFailed, aiflow.WorkflowStopped:
		default:
			return badRequest("invalid", "query parameter status=%q: expected INIT, RUNNING, SUCCESS, FAILED or STOPPED", s)
		}
		f.Statuses = append(f.Statuses, st)
	}
	xs, err := h.c.ListWorkflowExecutions(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"executions": view.Map(xs, view.NewExecution)})
	return nil
}

func (h *handler) getExecution(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	x, err := h.execution(r, id, AccessRead)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view.NewExecution(*x))
	return nil
}

// execution returns the execution id when the caller has need in its
// namespace.
func (h *handler) execution(r *http.Request, id int64, need Access) (*aiflow.WorkflowExecution, error) {
	x, err := h.c.GetWorkflowExecution(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return x, h.require(r, x.Namespace, need)
}

type accepted struct {
	Accepted    string `json:"accepted"`
	ExecutionID int64  `json:"execution_id"`
	Task        string `json:"task,omitempty"`
}

func (h *handler) stopExecution(w http.ResponseWriter, r *http.Request) error {
	if err := decode(r, &struct{}{}, true); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := h.execution(r, id, AccessWrite); err != nil {
		return err
	}
	if err := h.c.StopWorkflowExecution(r.Context(), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, accepted{Accepted: "stop", ExecutionID: id})
	return nil
}

func (h *handler) listTaskExecutions(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := h.execution(r, id, AccessRead); err != nil {
		return err
	}
	tes, err := h.c.ListTaskExecutions(r.Context(), &aiflow.TaskExecutionFilter{ExecutionID: id, Task: r.URL.Query().Get("task")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"task_executions": view.Map(tes, view.NewTaskExecution)})
	return nil
}

func (h *handler) taskAction(w http.ResponseWriter, r *http.Request, action string, fn func(*aiflow.Client, *http.Request, int64, string) error) error {
	if err := decode(r, &struct{}{}, true); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	task := r.PathValue("task")
	if _, err := h.execution(r, id, AccessWrite); err != nil {
		return err
	}
	if err := fn(h.c, r, id, task); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, accepted{Accepted: action, ExecutionID: id, Task: task})
	return nil
}

func (h *handler) startTask(w http.ResponseWriter, r *http.Request) error {
	return h.taskAction(w, r, "start", func(c *aiflow.Client, r *http.Request, id int64, task string) error {
		return c.StartTaskExecution(r.Context(), id, task)
	})
}

func (h *handler) stopTask(w http.ResponseWriter, r *http.Request) error {
	return h.taskAction(w, r, "stop", func(c *aiflow.Client, r *http.Request, id int64, task string) error {
		return c.StopTaskExecution(r.Context(), id, task)
	})
}

func (h *handler) getTaskExecution(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	te, err := h.c.GetTaskExecution(r.Context(), id)
	if err != nil {
		return err
	}
	if err := h.require(r, te.Namespace, AccessRead); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view.NewTaskExecution(*te))
	return nil
}

type taskLog struct {
	Data       string `json:"data"`
	Offset     int64  `json:"offset"`
	NextOffset int64  `json:"next_offset"`
	Finished   bool   `json:"finished"`
}

func (h *handler) readTaskLog(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 1, MaxLogBytes)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = MaxLogBytes
	}
	te, err := h.c.GetTaskExecution(r.Context(), id)
	if err != nil {
		return err
	}
	if err := h.require(r, te.Namespace, AccessRead); err != nil {
		return err
	}
	data, next, err := h.c.ReadTaskLog(r.Context(), id, offset, int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, taskLog{Data: string(data), Offset: offset, NextOffset: next, Finished: te.Status.Finished()})
	return nil
}

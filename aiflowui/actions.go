package aiflowui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

// maxFormBytes bounds a form: room for an event of the largest value.
const maxFormBytes = 512 << 10

// action serves a state-changing form: CSRF token checked, then fn, then a
// redirect to the form's "back" path (a page of this dashboard) or the one
// fn chose by returning a *redirect.
func (h *Handler) action(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, errorf(http.StatusBadRequest, "the form could not be read: %v", err))
			return
		}
		if !h.csrfValid(r) {
			h.fail(w, r, errorf(http.StatusForbidden, "the form's CSRF token is missing or does not match this browser's: reload the page and try again"))
			return
		}
		if err := fn(w, r); err != nil {
			if rd, ok := err.(*redirect); ok {
				http.Redirect(w, r, rd.to, http.StatusSeeOther)
				return
			}
			h.fail(w, r, err)
			return
		}
		http.Redirect(w, r, localPath(r, r.PostFormValue("back")), http.StatusSeeOther)
	}
}

// redirect is returned by an action to go elsewhere than "back".
type redirect struct{ to string }

func (r *redirect) Error() string { return "redirect to " + r.to }

func formID(r *http.Request, name string) (int64, error) {
	return parseID(name, r.PostFormValue(name))
}

func (h *Handler) startExecution(_ http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ns, wf := r.PostFormValue("namespace"), r.PostFormValue("workflow")
	if err := h.require(ctx, ns, aiflowhttp.AccessWrite); err != nil {
		return err
	}
	id, err := h.c.StartWorkflowExecution(ctx, wf, &aiflow.StartWorkflowOpts{Namespace: ns})
	if err != nil {
		return err
	}
	return &redirect{fmt.Sprintf("%s/executions/%d", base(r), id)}
}

// writableExecution returns the execution of the form's field when the
// caller may change its namespace.
func (h *Handler) writableExecution(r *http.Request, field string) (*aiflow.WorkflowExecution, error) {
	id, err := formID(r, field)
	if err != nil {
		return nil, err
	}
	x, err := h.c.GetWorkflowExecution(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return x, h.require(r.Context(), x.Namespace, aiflowhttp.AccessWrite)
}

func (h *Handler) stopExecution(_ http.ResponseWriter, r *http.Request) error {
	x, err := h.writableExecution(r, "execution")
	if err != nil {
		return err
	}
	return h.c.StopWorkflowExecution(r.Context(), x.ID)
}

func (h *Handler) taskAction(_ http.ResponseWriter, r *http.Request) error {
	x, err := h.writableExecution(r, "execution")
	if err != nil {
		return err
	}
	ctx, task := r.Context(), r.PostFormValue("task")
	switch op := r.PostFormValue("op"); op {
	case "start":
		return h.c.StartTaskExecution(ctx, x.ID, task)
	case "stop":
		return h.c.StopTaskExecution(ctx, x.ID, task)
	case "restart":
		return h.c.RestartTaskExecution(ctx, x.ID, task)
	default:
		return errorf(http.StatusBadRequest, "op %q: expected start, stop or restart", op)
	}
}

func (h *Handler) workflowAction(_ http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ns, wf := r.PostFormValue("namespace"), r.PostFormValue("workflow")
	if err := h.require(ctx, ns, aiflowhttp.AccessWrite); err != nil {
		return err
	}
	switch op := r.PostFormValue("op"); op {
	case "enable":
		return h.c.EnableWorkflow(ctx, ns, wf)
	case "disable":
		return h.c.DisableWorkflow(ctx, ns, wf)
	default:
		return errorf(http.StatusBadRequest, "op %q: expected enable or disable", op)
	}
}

func pauseOp(r *http.Request) (bool, error) {
	switch op := r.PostFormValue("op"); op {
	case "pause":
		return true, nil
	case "resume":
		return false, nil
	default:
		return false, errorf(http.StatusBadRequest, "op %q: expected pause or resume", op)
	}
}

func (h *Handler) scheduleAction(_ http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := formID(r, "schedule")
	if err != nil {
		return err
	}
	pause, err := pauseOp(r)
	if err != nil {
		return err
	}
	s, err := h.c.GetWorkflowSchedule(ctx, id)
	if err != nil {
		return err
	}
	if err := h.require(ctx, s.Namespace, aiflowhttp.AccessWrite); err != nil {
		return err
	}
	if pause {
		return h.c.PauseWorkflowSchedule(ctx, id)
	}
	return h.c.ResumeWorkflowSchedule(ctx, id)
}

func (h *Handler) triggerAction(_ http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := formID(r, "trigger")
	if err != nil {
		return err
	}
	pause, err := pauseOp(r)
	if err != nil {
		return err
	}
	t, err := h.c.GetWorkflowTrigger(ctx, id)
	if err != nil {
		return err
	}
	if err := h.require(ctx, t.Namespace, aiflowhttp.AccessWrite); err != nil {
		return err
	}
	if pause {
		return h.c.PauseWorkflowTrigger(ctx, id)
	}
	return h.c.ResumeWorkflowTrigger(ctx, id)
}

// sendEvent sends the form's event as the sender "ui.<caller>".
func (h *Handler) sendEvent(_ http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ns := r.PostFormValue("namespace")
	if ns == "" {
		ns = aiflow.DefaultNamespace
	}
	if err := h.require(ctx, ns, aiflowhttp.AccessWrite); err != nil {
		return err
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	if key == "" {
		return errorf(http.StatusBadRequest, "the key is empty: expected the event's key")
	}
	opts := &aiflow.SendEventOpts{Namespace: ns, Sender: uiSender(aiflowhttp.CallerFrom(ctx))}
	if s := strings.TrimSpace(r.PostFormValue("execution")); s != "" {
		id, err := parseID("execution", s)
		if err != nil {
			return err
		}
		opts.ExecutionID = id
	}
	ev, err := h.c.SendEvent(ctx, key, r.PostFormValue("value"), opts)
	if err != nil {
		return err
	}
	back := localPath(r, r.PostFormValue("back"))
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	return &redirect{back + sep + "sent=" + url.QueryEscape(fmt.Sprintf("%s #%d", ev.Key, ev.ID))}
}

// uiSender is the sender of the events a caller sends from the dashboard.
func uiSender(c *aiflowhttp.Caller) string {
	name := "anonymous"
	if c != nil && c.Name != "" {
		name = c.Name
	}
	var b strings.Builder
	b.WriteString("ui.")
	for _, r := range name {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

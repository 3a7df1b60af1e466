package aiflowui

// The events page: the log, live, and the send form.

import (
	"context"
	"net/http"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

type eventsData struct {
	Filter     eventFilter
	Events     []aiflow.Event
	Truncated  bool
	Namespaces []string
	Writable   []string
	Windows    [][2]string
	Sent       string
}

type eventFilter struct {
	Namespace, Key, Sender, Window string
	Execution                      int64
	UserOnly                       bool
}

const eventsShown = 200

func (h *Handler) eventsPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	f := eventFilter{Namespace: q.Get("namespace"), Key: q.Get("key"), Sender: q.Get("sender"), Window: q.Get("window"),
		UserOnly: q.Get("user_only") == "on"}
	if f.Window == "" {
		f.Window = "1h"
	}
	win, err := time.ParseDuration(f.Window)
	if err != nil || win <= 0 {
		return "", nil, errorf(http.StatusBadRequest, "window %q: expected a duration such as 1h or 24h", f.Window)
	}
	if s := q.Get("execution"); s != "" {
		if f.Execution, err = parseID("execution", s); err != nil {
			return "", nil, err
		}
	}
	nss, err := h.visibleNamespaces(ctx)
	if err != nil {
		return "", nil, err
	}
	if f.Namespace != "" {
		if err := h.require(ctx, f.Namespace, aiflowhttp.AccessRead); err != nil {
			return "", nil, err
		}
	}
	ef := &aiflow.EventFilter{Namespace: f.Namespace, Sender: f.Sender, ExecutionID: f.Execution, UserOnly: f.UserOnly,
		Since: h.opts.Now().Add(-win)}
	if f.Key != "" {
		ef.Keys = []string{f.Key}
	}
	d := &eventsData{Filter: f, Namespaces: nss, Windows: windows[1:], Sent: q.Get("sent")}
	if d.Events, d.Truncated, err = h.eventWindow(ctx, ef, eventsShown); err != nil {
		return "", nil, err
	}
	for _, ns := range nss {
		if h.access(ctx, ns) >= aiflowhttp.AccessWrite {
			d.Writable = append(d.Writable, ns)
		}
	}
	return "events", d, nil
}

// readable returns the record that the path's id names, read with get, when
// the caller may read its namespace.
func readable[T any](r *http.Request, h *Handler, get func(context.Context, int64) (*T, error), ns func(*T) string) (*T, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	v, err := get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return v, h.require(r.Context(), ns(v), aiflowhttp.AccessRead)
}

func readableTask(r *http.Request, h *Handler) (*aiflow.TaskExecution, error) {
	return readable(r, h, h.c.GetTaskExecution, func(te *aiflow.TaskExecution) string { return te.Namespace })
}

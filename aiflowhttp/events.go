package aiflowhttp

// The event endpoints: send an event, list the log.

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

type sendEventRequest struct {
	Namespace       string  `json:"namespace"`
	Key             string  `json:"key"`
	Value           *string `json:"value"`
	Sender          string  `json:"sender"`
	ExecutionID     int64   `json:"execution_id"`
	TaskExecutionID int64   `json:"task_execution_id"`
	ToNamespace     bool    `json:"to_namespace"`
}

func (h *handler) sendEvent(w http.ResponseWriter, r *http.Request) error {
	var req sendEventRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if req.Key == "" {
		return badRequest("invalid", `"key" is missing or empty: expected the event's key`)
	}
	ns := req.Namespace
	if ns == "" {
		ns = aiflow.DefaultNamespace
	}
	if err := h.require(r, ns, AccessWrite); err != nil {
		return err
	}
	caller := CallerFrom(r.Context())
	if !caller.MaySend(req.Sender) {
		return &httpError{http.StatusForbidden, "forbidden", fmt.Sprintf("caller %q may not send as sender %q", caller.Name, req.Sender)}
	}
	if req.TaskExecutionID != 0 && !caller.ActAsTask {
		return &httpError{http.StatusForbidden, "forbidden", fmt.Sprintf("caller %q may not send as task execution %d", caller.Name, req.TaskExecutionID)}
	}
	value := ""
	if req.Value != nil {
		value = *req.Value
	}
	ev, err := h.c.SendEvent(r.Context(), req.Key, value, &aiflow.SendEventOpts{
		Namespace: req.Namespace, Sender: req.Sender, ExecutionID: req.ExecutionID,
		TaskExecutionID: req.TaskExecutionID, ToNamespace: req.ToNamespace,
		IdempotencyKey: r.Header.Get(IdempotencyKeyHeader),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, view.NewEvent(*ev))
	return nil
}

type eventList struct {
	Events []view.Event `json:"events"`
	// Next is the position to pass as "after" for the next page.
	Next string `json:"next"`
}

func (h *handler) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := &aiflow.EventFilter{Namespace: q.Get("namespace"), Keys: q["key"], Sender: q.Get("sender")}
	var err error
	if f.ExecutionID, err = queryInt(r, "execution_id", 1, 1<<62); err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 1, 1000)
	if err != nil {
		return err
	}
	f.Limit = int(limit)
	if s := q.Get("after"); s != "" {
		if f.After, err = aiflow.ParsePosition(s); err != nil {
			return badRequest("invalid", "query parameter after: %v", strings.TrimPrefix(err.Error(), "invalid argument: "))
		}
	}
	if s := q.Get("since"); s != "" {
		if f.Since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return badRequest("invalid", "query parameter since=%q: expected an RFC 3339 time, such as 2024-05-01T10:00:00Z", s)
		}
	}
	switch s := q.Get("user_only"); s {
	case "", "false":
	case "true":
		f.UserOnly = true
	default:
		return badRequest("invalid", "query parameter user_only=%q: expected true or false", s)
	}
	if f.Namespace != "" {
		if err := h.require(r, f.Namespace, AccessRead); err != nil {
			return err
		}
	}
	evs, next, err := h.c.ListEvents(r.Context(), f)
	if err != nil {
		return err
	}
	if f.Namespace == "" {
		// Every namespace: leave out those the caller may not see; next
		// still continues after the last event read.
		evs = VisibleEvents(r.Context(), &h.opts.Auth, evs)
	}
	writeJSON(w, http.StatusOK, eventList{Events: view.Map(evs, view.NewEvent), Next: next.String()})
	return nil
}

// VisibleEvents returns the events of evs in namespaces the caller stored in
// ctx may see, asking a once per namespace.
func VisibleEvents(ctx context.Context, a *Auth, evs []aiflow.Event) []aiflow.Event {
	c := CallerFrom(ctx)
	seen := map[string]bool{}
	out := evs[:0:0]
	for _, ev := range evs {
		ok, known := seen[ev.Namespace]
		if !known {
			ok = a.Access(ctx, c, ev.Namespace) >= AccessRead
			seen[ev.Namespace] = ok
		}
		if ok {
			out = append(out, ev)
		}
	}
	return out
}

package aiflowui

// The overview page.

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

type overviewData struct {
	Namespaces []nsSummary
	Failures   []aiflow.WorkflowExecution
	Poison     []aiflow.Event
	Health     health
}

type nsSummary struct {
	Name      string
	Access    aiflowhttp.Access
	Workflows []wfSummary
}

// wfSummary counts the statuses of a workflow's latest executions (at most
// summarySample of them: the overview stays fast with many).
type wfSummary struct {
	Info                                aiflow.WorkflowInfo
	Running, Failed, Succeeded, Stopped int
	Sampled                             int
	More                                bool
	Recent                              []aiflow.WorkflowExecution
	Tasks                               int
}

// health is the process's health (Client.Health) as the overview shows it:
// problems in words without the errors' texts (which may name hosts), and
// the log's newest position.
type health struct {
	aiflow.Health
	Problems []string
	Position string
	// LagCapped is true when Lag is the store's bound (the backlog is at
	// least that large).
	LagCapped bool
}

const (
	summarySample = 100
	recentDots    = 24
	poisonWindow  = 24 * time.Hour
)

func (h *Handler) overview(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx := r.Context()
	nss, err := h.visibleNamespaces(ctx)
	if err != nil {
		return "", nil, err
	}
	d := &overviewData{}
	for _, ns := range nss {
		s := nsSummary{Name: ns, Access: h.access(ctx, ns)}
		wfs, err := h.c.ListWorkflows(ctx, ns)
		if err != nil {
			return "", nil, err
		}
		for _, w := range wfs {
			xs, err := h.c.ListWorkflowExecutions(ctx, &aiflow.ExecutionFilter{Namespace: ns, Workflow: w.Name, Limit: summarySample + 1})
			if err != nil {
				return "", nil, err
			}
			ws := wfSummary{Info: w, More: len(xs) > summarySample, Tasks: len(parseDefinition(&w).Tasks)}
			xs = xs[:min(len(xs), summarySample)]
			ws.Sampled = len(xs)
			for _, x := range xs {
				switch x.Status {
				case aiflow.WorkflowRunning, aiflow.WorkflowInit:
					ws.Running++
				case aiflow.WorkflowFailed:
					ws.Failed++
				case aiflow.WorkflowSuccess:
					ws.Succeeded++
				case aiflow.WorkflowStopped:
					ws.Stopped++
				}
			}
			ws.Recent = xs[:min(len(xs), recentDots)]
			slices.Reverse(ws.Recent)
			s.Workflows = append(s.Workflows, ws)
		}
		failed, err := h.c.ListWorkflowExecutions(ctx, &aiflow.ExecutionFilter{Namespace: ns, Statuses: []aiflow.WorkflowStatus{aiflow.WorkflowFailed}, Limit: 5})
		if err != nil {
			return "", nil, err
		}
		d.Failures = append(d.Failures, failed...)
		poison, err := h.newestEvents(ctx, &aiflow.EventFilter{Namespace: ns, Keys: []string{aiflow.KeyPoisonEvent}, Since: h.opts.Now().Add(-poisonWindow)}, 5)
		if err != nil {
			return "", nil, err
		}
		d.Poison = append(d.Poison, poison...)
		d.Namespaces = append(d.Namespaces, s)
	}
	sort.Slice(d.Failures, func(i, j int) bool { return d.Failures[i].ID > d.Failures[j].ID })
	d.Failures = d.Failures[:min(len(d.Failures), 8)]
	sort.Slice(d.Poison, func(i, j int) bool { return d.Poison[i].Time.After(d.Poison[j].Time) })
	d.Health = h.health(ctx)
	return "overview", d, nil
}

// healthTimeout bounds the queries of the overview's health.
const healthTimeout = 2 * time.Second

// health reads the process's health for the overview.
func (h *Handler) health(ctx context.Context) health {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	out := health{Health: h.c.Health(ctx)}
	if out.StoreErr != nil {
		out.Problems = append(out.Problems, "the store does not answer")
	}
	if out.SchemaErr != nil {
		out.Problems = append(out.Problems, "the store's schema is not at the version this build expects")
	}
	if out.Err != nil {
		out.Problems = append(out.Problems, "the client stopped on an error")
	}
	out.LagCapped = out.Lag >= aiflow.LagCountLimit
	if pos, err := h.c.LastPosition(ctx); err == nil {
		out.Position = pos.String()
	}
	return out
}

// newestEvents returns at most n of the newest events that f selects, newest
// first. The log is read forward from f.Since in pages of a thousand, at most
// maxEventPages of them: with more events in the window, the newest ones
// shown are those of the first pages, and the page says so.
func (h *Handler) newestEvents(ctx context.Context, f *aiflow.EventFilter, n int) ([]aiflow.Event, error) {
	evs, _, err := h.eventWindow(ctx, f, n)
	return evs, err
}

const maxEventPages = 5

func (h *Handler) eventWindow(ctx context.Context, f *aiflow.EventFilter, n int) ([]aiflow.Event, bool, error) {
	var keep []aiflow.Event
	ff := *f
	ff.Limit = 1000
	for page := 0; ; page++ {
		evs, next, err := h.c.ListEvents(ctx, &ff)
		if err != nil {
			return nil, false, err
		}
		full := len(evs) == ff.Limit
		if f.Namespace == "" {
			evs = aiflowhttp.VisibleEvents(ctx, &h.opts.Auth, evs)
		}
		keep = append(keep, evs...)
		if len(keep) > n {
			keep = keep[len(keep)-n:]
		}
		if !full || next.IsZero() || next == ff.After {
			break
		}
		if page+1 >= maxEventPages {
			slices.Reverse(keep)
			return keep, true, nil
		}
		ff.After = next
	}
	slices.Reverse(keep)
	return keep, false, nil
}

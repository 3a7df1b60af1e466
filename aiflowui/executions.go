package aiflowui

// The executions page: filters and paging.

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

type executionsData struct {
	Namespaces []string
	Workflows  []string
	Filter     execFilter
	Rows       []aiflow.WorkflowExecution
	Next       int64
	Statuses   []string
	Windows    [][2]string
}

type execFilter struct {
	Namespace, Workflow, Window string
	Statuses                    []string
	Before                      int64
}

// Has reports whether the filter selects status s.
func (f execFilter) Has(s string) bool { return slices.Contains(f.Statuses, s) }

// Query is the filter as a query string, without the page (each value
// escaped, so the template may insert it as is).
func (f execFilter) Query() template.URL {
	q := make([]string, 0, 4)
	add := func(k, v string) {
		if v != "" {
			q = append(q, k+"="+url.QueryEscape(v))
		}
	}
	add("namespace", f.Namespace)
	add("workflow", f.Workflow)
	add("window", f.Window)
	for _, s := range f.Statuses {
		add("status", s)
	}
	return template.URL(strings.Join(q, "&"))
}

var windows = [][2]string{{"", "any time"}, {"1h", "last hour"}, {"24h", "last 24 hours"}, {"168h", "last 7 days"}}

var workflowStatuses = []string{"INIT", "RUNNING", "SUCCESS", "FAILED", "STOPPED"}

func (h *Handler) executionsPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	f := execFilter{Namespace: q.Get("namespace"), Workflow: q.Get("workflow"), Window: q.Get("window")}
	sf := &aiflow.ExecutionFilter{Namespace: f.Namespace, Workflow: f.Workflow, Limit: h.opts.PageSize + 1}
	for _, s := range q["status"] {
		if !slices.Contains(workflowStatuses, s) {
			return "", nil, errorf(http.StatusBadRequest, "status %q: expected one of %s", s, strings.Join(workflowStatuses, ", "))
		}
		f.Statuses = append(f.Statuses, s)
		sf.Statuses = append(sf.Statuses, aiflow.WorkflowStatus(s))
	}
	if f.Window != "" {
		d, err := time.ParseDuration(f.Window)
		if err != nil || d <= 0 {
			return "", nil, errorf(http.StatusBadRequest, "window %q: expected a duration such as 1h or 24h", f.Window)
		}
		sf.CreatedAfter = h.opts.Now().Add(-d)
	}
	if s := q.Get("before"); s != "" {
		id, err := parseID("before", s)
		if err != nil {
			return "", nil, err
		}
		f.Before, sf.BeforeID = id, id
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
	d := &executionsData{Namespaces: nss, Filter: f, Statuses: workflowStatuses, Windows: windows}
	rows, err := h.c.ListWorkflowExecutions(ctx, sf)
	if err != nil {
		return "", nil, err
	}
	if len(rows) > h.opts.PageSize {
		rows = rows[:h.opts.PageSize]
		d.Next = rows[len(rows)-1].ID
	}
	if f.Namespace == "" {
		// Every namespace: leave out those the caller may not see (a page
		// may then be shorter; Next still continues after it).
		rows = slices.DeleteFunc(rows, func(x aiflow.WorkflowExecution) bool { return !slices.Contains(nss, x.Namespace) })
	}
	d.Rows = rows
	seen := map[string]bool{}
	for _, ns := range nss {
		if f.Namespace != "" && ns != f.Namespace {
			continue
		}
		wfs, err := h.c.ListWorkflows(ctx, ns)
		if err != nil {
			return "", nil, err
		}
		for _, w := range wfs {
			if !seen[w.Name] {
				seen[w.Name] = true
				d.Workflows = append(d.Workflows, w.Name)
			}
		}
	}
	sort.Strings(d.Workflows)
	return "executions", d, nil
}

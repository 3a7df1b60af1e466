package aiflowui

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

// ---- overview ----

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

type health struct {
	Consuming bool
	Owned     []int
	Position  string
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
	d.Health.Owned = h.c.Owned()
	d.Health.Consuming = len(d.Health.Owned) > 0
	if pos, err := h.c.LastPosition(ctx); err == nil {
		d.Health.Position = pos.String()
	}
	return "overview", d, nil
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

// ---- workflow ----

type workflowData struct {
	Info       aiflow.WorkflowInfo
	Access     aiflowhttp.Access
	Def        definition
	Graph      Graph
	Exec       *aiflow.WorkflowExecution
	Execs      []aiflow.WorkflowExecution
	Versions   []aiflow.WorkflowVersion
	Schedules  []aiflow.WorkflowSchedule
	Triggers   []aiflow.WorkflowTrigger
	TaskRules  map[string][]string
	LatestRuns map[string]*aiflow.TaskExecution
}

func (h *Handler) workflowPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx := r.Context()
	ns, name := r.PathValue("namespace"), r.PathValue("workflow")
	if err := h.require(ctx, ns, aiflowhttp.AccessRead); err != nil {
		return "", nil, err
	}
	w, err := h.c.GetWorkflow(ctx, ns, name)
	if err != nil {
		return "", nil, err
	}
	d := &workflowData{Info: *w, Access: h.access(ctx, ns), Def: parseDefinition(w), TaskRules: map[string][]string{}}
	for _, t := range d.Def.Tasks {
		for _, rule := range t.Rules {
			d.TaskRules[t.Name] = append(d.TaskRules[t.Name], rule.Describe())
		}
	}
	if d.Execs, err = h.c.ListWorkflowExecutions(ctx, &aiflow.ExecutionFilter{Namespace: ns, Workflow: name, Limit: 20}); err != nil {
		return "", nil, err
	}
	if s := r.URL.Query().Get("execution"); s != "" {
		id, err := parseID("execution", s)
		if err != nil {
			return "", nil, err
		}
		x, err := h.c.GetWorkflowExecution(ctx, id)
		if err != nil {
			return "", nil, err
		}
		if x.Namespace != ns || x.Workflow != name {
			return "", nil, errorf(http.StatusNotFound, "execution %d is not an execution of %s/%s", id, ns, name)
		}
		d.Exec = x
	} else if len(d.Execs) > 0 {
		d.Exec = &d.Execs[0]
	}
	status := map[string]string{}
	d.LatestRuns = map[string]*aiflow.TaskExecution{}
	if d.Exec != nil {
		tes, err := h.c.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: d.Exec.ID})
		if err != nil {
			return "", nil, err
		}
		for i := range tes {
			status[tes[i].Task] = string(tes[i].Status)
			d.LatestRuns[tes[i].Task] = &tes[i]
		}
	}
	b := base(r)
	d.Graph = layoutGraph(d.Def, status, func(task string) string {
		if d.Exec == nil {
			return ""
		}
		return fmt.Sprintf("%s/executions/%d#task-%s", b, d.Exec.ID, task)
	})
	if d.Versions, err = h.c.ListWorkflowVersions(ctx, ns, name); err != nil {
		return "", nil, err
	}
	slices.Reverse(d.Versions)
	if d.Schedules, err = h.c.ListWorkflowSchedules(ctx, ns, name); err != nil {
		return "", nil, err
	}
	if d.Triggers, err = h.c.ListWorkflowTriggers(ctx, ns, name); err != nil {
		return "", nil, err
	}
	return "workflow", d, nil
}

// ---- executions ----

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

// ---- execution ----

type executionData struct {
	X        aiflow.WorkflowExecution
	Access   aiflowhttp.Access
	Graph    Graph
	Timeline Timeline
	Tasks    []taskInfo
	Duration time.Duration
	Runs     int
}

type taskInfo struct {
	Name     string
	Operator string
	Latest   *aiflow.TaskExecution
	Runs     []aiflow.TaskExecution
	Explain  Explanation
	Alive    bool
}

func (h *Handler) executionPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx := r.Context()
	x, err := readable(r, h, h.c.GetWorkflowExecution, func(x *aiflow.WorkflowExecution) string { return x.Namespace })
	if err != nil {
		return "", nil, err
	}
	id := x.ID
	d := &executionData{X: *x, Access: h.access(ctx, x.Namespace)}
	tes, err := h.c.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: id})
	if err != nil {
		return "", nil, err
	}
	d.Runs = len(tes)
	var def definition
	if w, err := h.c.GetWorkflow(ctx, x.Namespace, x.Workflow); err == nil {
		def = parseDefinition(w)
	}
	byTask := map[string][]aiflow.TaskExecution{}
	for _, te := range tes {
		byTask[te.Task] = append(byTask[te.Task], te)
	}
	// Tasks of the definition, then any run by tasks it no longer has.
	names := make([]string, 0, len(def.Tasks))
	ops := map[string]string{}
	rules := map[string][]string{}
	for _, t := range def.Tasks {
		names = append(names, t.Name)
		ops[t.Name] = t.Operator
		for _, rule := range t.Rules {
			rules[t.Name] = append(rules[t.Name], rule.Describe())
		}
	}
	for _, te := range tes {
		if !slices.Contains(names, te.Task) {
			names = append(names, te.Task)
		}
	}
	status := map[string]string{}
	for _, name := range names {
		ti := taskInfo{Name: name, Operator: ops[name], Runs: byTask[name]}
		if n := len(ti.Runs); n > 0 {
			ti.Latest = &ti.Runs[n-1]
			ti.Alive = !ti.Latest.Status.Finished()
			status[name] = string(ti.Latest.Status)
		}
		ti.Explain, err = h.opts.Explainer.Explain(ctx, TaskState{Execution: x, Task: name, Rules: rules[name], Runs: ti.Runs})
		if err != nil {
			ti.Explain = Explanation{Summary: "No explanation: " + err.Error()}
		}
		d.Tasks = append(d.Tasks, ti)
	}
	b := base(r)
	d.Graph = layoutGraph(def, status, func(task string) string { return "#task-" + task })
	now := h.opts.Now()
	end := x.EndedAt
	if end.IsZero() {
		end = now
	}
	d.Duration = end.Sub(x.CreatedAt)
	d.Timeline = layoutTimeline(x.CreatedAt, end, names, byTask, now, func(te aiflow.TaskExecution) string {
		return fmt.Sprintf("%s/task-executions/%d", b, te.ID)
	})
	return "execution", d, nil
}

// ---- task execution (log) ----

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

// ---- events ----

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

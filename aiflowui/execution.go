package aiflowui

// The execution page: timeline, why, actions.

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

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

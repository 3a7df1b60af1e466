package aiflowui

// The workflow page: graph, tasks, versions, schedules and triggers.

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

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

package aiflowui

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

// definition is a workflow's recorded description, redacted.
type definition struct {
	Tasks []defTask `json:"tasks"`
}

type defTask struct {
	Name        string            `json:"name"`
	Operator    string            `json:"operator"`
	Public      string            `json:"operator_public"`
	Rules       []defRule         `json:"rules"`
	MaxAttempts int               `json:"max_attempts"`
	Timeout     string            `json:"timeout"`
	Streaming   bool              `json:"streaming"`
	Periodic    string            `json:"periodic"`
	Backoff     string            `json:"backoff"`
	Env         map[string]string `json:"env"`
	EnvNames    []string          `json:"-"`
}

type defRule struct {
	Action    string            `json:"action"`
	Kind      string            `json:"kind"`
	Upstream  map[string]string `json:"upstream"`
	Key       string            `json:"key"`
	Condition string            `json:"condition"`
	Keys      []string          `json:"keys"`
}

// Describe says what the rule waits for, in words.
func (r defRule) Describe() string {
	var what string
	switch r.Kind {
	case "start_after":
		what = "after " + joinUpstream(r.Upstream, true)
	case "on_task_status":
		what = "when " + joinUpstream(r.Upstream, false)
	case "on_event":
		what = fmt.Sprintf("on event %q", r.Key)
	case "on_condition":
		what = fmt.Sprintf("on condition %s of %s", strings.TrimPrefix(r.Condition, "*"), quoteAll(r.Keys))
	default:
		what = r.Kind
	}
	return strings.ToLower(r.Action) + " " + what
}

func joinUpstream(up map[string]string, successImplied bool) string {
	var parts []string
	for _, t := range sortedKeys(up) {
		if successImplied && up[t] == string(aiflow.TaskSuccess) {
			parts = append(parts, t)
		} else {
			parts = append(parts, t+" is "+up[t])
		}
	}
	return strings.Join(parts, " and ")
}

func quoteAll(ks []string) string {
	q := make([]string, len(ks))
	for i, k := range ks {
		q[i] = fmt.Sprintf("%q", k)
	}
	return strings.Join(q, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// parseDefinition decodes a workflow's definition, leaving out every secret:
// operators are named by type and public description (view.PublicOperator),
// environment variables by name.
func parseDefinition(w *aiflow.WorkflowInfo) definition {
	var d definition
	_ = json.Unmarshal(w.Definition, &d)
	for i := range d.Tasks {
		t := &d.Tasks[i]
		t.Operator, t.Public = view.PublicOperator(t.Operator, t.Public), ""
		t.EnvNames = sortedKeys(t.Env)
		t.Env = nil
	}
	return d
}

// Graph is a workflow drawn by rank: tasks in columns after their upstream
// tasks, event and condition inputs in the column before the tasks they
// start.
type Graph struct {
	Width, Height int
	Nodes         []Node
	Edges         []Edge
}

// Node is a task or an input (event keys) of the graph.
type Node struct {
	ID     string
	Label  string
	Sub    string // status or kind, under the label
	Status string // the task's latest status in the chosen execution
	Input  bool
	Href   string
	X, Y   int
	W, H   int
}

// Edge joins two nodes; Label says the status or action when not the usual.
type Edge struct {
	Path   string
	Label  string
	LX, LY int
	Dashed bool
}

const (
	nodeW, nodeH = 176, 52
	inputW       = 150
	colGap       = 84
	rowGap       = 26
	margin       = 16
)

// layoutGraph lays d out; status maps task names to their latest status
// (empty: not run), href to their links.
func layoutGraph(d definition, status map[string]string, href func(task string) string) Graph {
	rank := ranks(d)
	inputs := collectInputs(d)
	var g Graph
	nodes := g.place(d, rank, inputs, status, href)
	for _, t := range d.Tasks {
		to := nodes["t:"+t.Name]
		for _, r := range t.Rules {
			for _, u := range sortedKeys(r.Upstream) {
				if from := nodes["t:"+u]; from != nil {
					g.edge(from, to, upstreamLabel(r, u), false)
				}
			}
		}
	}
	for _, in := range inputs {
		for _, t := range in.tasks {
			g.edge(nodes[in.id], nodes["t:"+t], inputLabel(d, in, t), true)
		}
	}
	for _, t := range d.Tasks {
		g.Nodes = append(g.Nodes, *nodes["t:"+t.Name])
	}
	for _, in := range inputs {
		g.Nodes = append(g.Nodes, *nodes[in.id])
	}
	return g
}

// ranks numbers the columns of the tasks: the longest path from a source,
// one more for a task started by an event or condition (its input goes
// before it). Edges that close a cycle are ignored.
func ranks(d definition) map[string]int {
	rank := map[string]int{}
	up := map[string][]string{}
	hasInput := map[string]bool{}
	known := map[string]bool{}
	for _, t := range d.Tasks {
		known[t.Name] = true
	}
	for _, t := range d.Tasks {
		for _, r := range t.Rules {
			for _, u := range sortedKeys(r.Upstream) {
				if known[u] && !slices.Contains(up[t.Name], u) {
					up[t.Name] = append(up[t.Name], u)
				}
			}
			if r.Kind == "on_event" || r.Kind == "on_condition" {
				hasInput[t.Name] = true
			}
		}
	}
	visiting := map[string]bool{}
	var rankOf func(string) int
	rankOf = func(n string) int {
		if r, ok := rank[n]; ok {
			return r
		}
		if visiting[n] {
			return -1
		}
		visiting[n] = true
		r := 0
		if hasInput[n] {
			r = 1
		}
		for _, u := range up[n] {
			if ur := rankOf(u); ur >= 0 && ur+1 > r {
				r = ur + 1
			}
		}
		visiting[n] = false
		rank[n] = r
		return r
	}
	for _, t := range d.Tasks {
		rankOf(t.Name)
	}
	return rank
}

// input is an event key (or a condition's keys) that starts tasks.
type input struct {
	id, label, sub string
	tasks          []string
}

func collectInputs(d definition) []*input {
	var inputs []*input
	byLabel := map[string]*input{}
	for _, t := range d.Tasks {
		for _, r := range t.Rules {
			var label, sub string
			switch r.Kind {
			case "on_event":
				label, sub = r.Key, "event"
			case "on_condition":
				label, sub = strings.Join(r.Keys, ", "), "condition"
			default:
				continue
			}
			in := byLabel[sub+"\x00"+label]
			if in == nil {
				in = &input{id: fmt.Sprintf("in%d", len(inputs)), label: label, sub: sub}
				byLabel[sub+"\x00"+label] = in
				inputs = append(inputs, in)
			}
			if !slices.Contains(in.tasks, t.Name) {
				in.tasks = append(in.tasks, t.Name)
			}
		}
	}
	return inputs
}

// place puts the nodes in their columns, each column centred, and sets the
// graph's size.
func (g *Graph) place(d definition, rank map[string]int, inputs []*input, status map[string]string, href func(string) string) map[string]*Node {
	cols := map[int][]*Node{}
	nodes := map[string]*Node{}
	maxRank := 0
	for _, t := range d.Tasks {
		n := &Node{ID: "t:" + t.Name, Label: t.Name, Status: status[t.Name], W: nodeW, H: nodeH}
		n.Sub = strings.ToLower(n.Status)
		if n.Sub == "" {
			n.Sub = "not started"
		}
		if href != nil {
			n.Href = href(t.Name)
		}
		nodes[n.ID] = n
		cols[rank[t.Name]] = append(cols[rank[t.Name]], n)
		maxRank = max(maxRank, rank[t.Name])
	}
	for _, in := range inputs {
		r := rank[in.tasks[0]]
		for _, t := range in.tasks {
			r = min(r, rank[t])
		}
		n := &Node{ID: in.id, Label: in.label, Sub: in.sub, Input: true, W: inputW, H: nodeH - 12}
		nodes[n.ID] = n
		cols[r-1] = append(cols[r-1], n)
	}
	height := 0
	for c := 0; c <= maxRank; c++ {
		y := margin
		for _, n := range cols[c] {
			n.X = margin + c*(nodeW+colGap) + (nodeW-n.W)/2
			n.Y = y
			y += n.H + rowGap
		}
		height = max(height, y-rowGap+margin)
	}
	for c := 0; c <= maxRank; c++ {
		col := cols[c]
		if len(col) == 0 {
			continue
		}
		used := col[len(col)-1].Y + col[len(col)-1].H - col[0].Y
		shift := (height - 2*margin - used) / 2
		for _, n := range col {
			n.Y += shift
		}
	}
	g.Width = margin*2 + (maxRank+1)*nodeW + maxRank*colGap
	g.Height = max(height, nodeH+2*margin)
	return nodes
}

// edge draws a curve from the right of one node to the left of the other,
// around the bottom when it goes back.
func (g *Graph) edge(from, to *Node, label string, dashed bool) {
	x1, y1 := from.X+from.W, from.Y+from.H/2
	x2, y2 := to.X, to.Y+to.H/2
	if x2 <= x1 {
		yb := max(from.Y+from.H, to.Y+to.H) + rowGap/2
		g.Edges = append(g.Edges, Edge{Path: fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, x1+40, yb+30, x2-40, yb+30, x2, y2),
			Label: label, LX: (x1 + x2) / 2, LY: yb + 18, Dashed: dashed})
		return
	}
	mx := (x1 + x2) / 2
	g.Edges = append(g.Edges, Edge{Path: fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, mx, y1, mx, y2, x2-6, y2),
		Label: label, LX: mx, LY: (y1+y2)/2 - 6, Dashed: dashed})
}

// upstreamLabel says the status an edge waits for when it is not a plain
// StartAfter, and the action when it is not START.
func upstreamLabel(r defRule, upstream string) string {
	var label string
	if s := r.Upstream[upstream]; s != string(aiflow.TaskSuccess) || r.Kind != "start_after" {
		label = s
	}
	if r.Action != "" && r.Action != "START" {
		label = strings.TrimSpace(strings.ToLower(r.Action) + " on " + strings.ToLower(label))
	}
	return strings.ToLower(label)
}

// inputLabel says the action of task's rule on in, when it is not START.
func inputLabel(d definition, in *input, task string) string {
	label := ""
	for _, t := range d.Tasks {
		if t.Name != task {
			continue
		}
		for _, r := range t.Rules {
			if (r.Kind == "on_event" && in.sub == "event" && r.Key == in.label) ||
				(r.Kind == "on_condition" && in.sub == "condition" && strings.Join(r.Keys, ", ") == in.label) {
				if r.Action != "START" {
					label = strings.ToLower(r.Action)
				}
			}
		}
	}
	return label
}

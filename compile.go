package aiflow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/store"
)

// compiled is a validated workflow, ready for the engine and the store.
type compiled struct {
	wf     *Workflow
	def    *engine.Definition
	record store.WorkflowRecord
	tasks  map[string]*Task
}

// compile validates w and builds what the engine and the store need.
func (w *Workflow) compile() (*compiled, error) {
	if errs := w.validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	def := &engine.Definition{Namespace: w.namespace, Name: w.name}
	tasks := map[string]*Task{}
	desc := map[string]any{"namespace": w.namespace, "name": w.name}
	var taskDescs []any
	public := map[int]string{} // index in taskDescs: the operator's public description
	for _, t := range w.tasks {
		tasks[t.name] = t
		et := &engine.Task{
			Name: t.name, Timeout: t.timeout, Streaming: t.streaming || operatorStreams(t.op),
			Periodic: t.periodic != "", PeriodicExpr: t.periodic, PeriodicTZ: t.periodicTZ,
			Retry: engine.RetryPolicy{MaxAttempts: t.retry.MaxAttempts, Backoff: t.retry.backoff},
		}
		var ruleDescs []any
		for i, r := range t.rules {
			cond := assignStateNames(r.cond, fmt.Sprintf("%s.%d", t.name, i+1))
			et.Rules = append(et.Rules, engine.Rule{
				Action: r.action, Keys: slices.Clone(cond.ExpectedKeys()), Cond: compileCondition(cond),
				Desc: describeCondition(cond),
			})
			ruleDescs = append(ruleDescs, r.describe())
		}
		def.Tasks = append(def.Tasks, et)
		td := map[string]any{
			"name": t.name, "operator": describeOperator(t.op), "rules": ruleDescs,
			"max_attempts": et.Retry.MaxAttempts, "timeout": t.timeout.String(), "streaming": et.Streaming,
		}
		if t.retry.InitialBackoff > 0 {
			td["backoff"] = t.retry.InitialBackoff.String() + ".." + t.retry.MaxBackoff.String()
		}
		if t.periodic != "" {
			td["periodic"] = t.periodic
			if t.periodicTZ != "" {
				td["periodic_tz"] = t.periodicTZ
			}
		}
		if len(t.env) > 0 {
			td["env"] = t.env
		}
		if t.workDir != "" {
			td["work_dir"] = t.workDir
		}
		if pd, ok := t.op.(PublicDescriber); ok {
			public[len(taskDescs)] = pd.PublicDescribe()
		}
		taskDescs = append(taskDescs, td)
	}
	desc["tasks"] = taskDescs
	js, err := json.Marshal(desc)
	if err != nil {
		return nil, fmt.Errorf("aiflow: workflow %q: describing: %w", w.name, err)
	}
	sum := sha256.Sum256(js)
	def.Version = hex.EncodeToString(sum[:6])
	if len(public) > 0 { // recorded, not versioned: derived from what Describe covers
		for i, p := range public {
			taskDescs[i].(map[string]any)["operator_public"] = p
		}
		if js, err = json.Marshal(desc); err != nil {
			return nil, fmt.Errorf("aiflow: workflow %q: describing: %w", w.name, err)
		}
	}
	if err := engine.Compile(def); err != nil {
		return nil, err
	}
	return &compiled{
		wf: w, def: def, tasks: tasks,
		record: store.WorkflowRecord{Namespace: w.namespace, Name: w.name, Version: def.Version, Definition: js},
	}, nil
}

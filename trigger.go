package aiflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/store"
)

// TriggerOpts are the options of AddWorkflowTrigger. A nil *TriggerOpts means
// the defaults.
type TriggerOpts struct {
	// Namespace of the workflow; "default" when empty.
	Namespace string
}

// AddWorkflowTrigger attaches a trigger named name to a registered workflow:
// when cond is met by a user event of the workflow's namespace (whatever
// execution, if any, sent it), an execution of the workflow starts. The
// condition's state (ValueState) is per workflow and lasts across executions.
// Per workflow, triggers are evaluated in creation order and the first one met
// starts an execution. Paused triggers are not evaluated; a disabled workflow
// is not started (an "aiflow.trigger_skipped" event says so). Task status
// changes are internal to their workflow and never reach triggers.
//
// The condition is Go code: every client that may consume the workflow's
// events must add the trigger, between Register and Start (a user event that
// a client consumes before it has added the trigger is not evaluated by the
// trigger). Before Start, a workflow registered in this client that is not
// stored yet is stored first. Adding an existing trigger (same workflow and
// name) registers its condition in this client and returns the stored
// trigger unchanged.
func (c *Client) AddWorkflowTrigger(ctx context.Context, workflow, name string, cond Condition, opts *TriggerOpts) (*WorkflowTrigger, error) {
	if err := c.stoppedError("add workflow trigger"); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &TriggerOpts{}
	}
	op := "add workflow trigger"
	ns := orDefault(opts.Namespace)
	if err := store.ValidateName("trigger", name); err != nil {
		return nil, opError(op, err)
	}
	if cond == nil {
		return nil, opError(op, fmt.Errorf("%w: trigger %q: condition is nil", ErrInvalid, name))
	}
	keys := cond.ExpectedKeys()
	if len(keys) == 0 {
		return nil, opError(op, fmt.Errorf("%w: trigger %q: condition %T expects no event keys: expected at least one key", ErrInvalid, name, cond))
	}
	for _, k := range keys {
		if p := keyProblem(k); p != "" {
			return nil, opError(op, fmt.Errorf("%w: trigger %q: %s", ErrInvalid, name, p))
		}
	}
	if err := c.workflowForTrigger(ctx, ns, workflow); err != nil {
		return nil, opError(op, err)
	}
	cond = assignStateNames(cond, "trigger."+name)
	c.reg.AddTrigger(&engine.Trigger{Namespace: ns, Workflow: workflow, Name: name, Keys: keys, Cond: compileCondition(cond)})
	rec, _, err := c.store.UpsertTrigger(ctx, store.TriggerRecord{Namespace: ns, Workflow: workflow, Name: name, Keys: keys},
		func(r store.TriggerRecord) store.Event {
			return triggerEvent(store.KeyTriggerAdded, r)
		})
	if err != nil {
		return nil, opError(op, err)
	}
	return ptr(triggerFromStore(rec)), nil
}

// workflowForTrigger checks that a workflow is stored. Before Start, a
// workflow registered in this client but not stored yet (its first
// deployment) is stored first, so that its triggers can be added before the
// client consumes any event: a user event consumed by a client that has not
// added a trigger yet is not evaluated by that trigger.
func (c *Client) workflowForTrigger(ctx context.Context, ns, workflow string) error {
	_, err := c.getWorkflow(ctx, ns, workflow)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c.mu.Lock()
	cw, started := c.workflows[workflowKey{ns, workflow}], c.started
	c.mu.Unlock()
	if cw == nil || started {
		return err
	}
	return c.persist(ctx, []*compiled{cw})
}

func triggerEvent(key string, r store.TriggerRecord) store.Event {
	data := fmt.Appendf(nil, `{"trigger_id":%d,"name":%q}`, r.ID, r.Name)
	return store.Event{Kind: store.KindControl, Namespace: r.Namespace, Key: key, Sender: store.SenderClient, Workflow: r.Workflow, Data: data}
}

// GetWorkflowTrigger returns a workflow trigger.
func (c *Client) GetWorkflowTrigger(ctx context.Context, id int64) (*WorkflowTrigger, error) {
	if err := c.stoppedError("get workflow trigger"); err != nil {
		return nil, err
	}
	rec, err := c.store.GetTrigger(ctx, id)
	if err != nil {
		return nil, opError("get workflow trigger", err)
	}
	return ptr(triggerFromStore(rec)), nil
}

// ListWorkflowTriggers lists the triggers of a workflow (of every workflow of
// the namespace when workflow is empty; of every namespace when namespace is
// empty too). It fails with ErrNamespaceNotFound for a namespace that does
// not exist.
func (c *Client) ListWorkflowTriggers(ctx context.Context, namespace, workflow string) ([]WorkflowTrigger, error) {
	if err := c.stoppedError("list workflow triggers"); err != nil {
		return nil, err
	}
	if err := c.requireNamespace(ctx, namespace); err != nil {
		return nil, opError("list workflow triggers", err)
	}
	recs, err := c.store.ListTriggers(ctx, namespace, workflow)
	return convertAll(recs, triggerFromStore), opError("list workflow triggers", err)
}

// PauseWorkflowTrigger stops evaluating a trigger until it is resumed.
func (c *Client) PauseWorkflowTrigger(ctx context.Context, id int64) error {
	if err := c.stoppedError("pause workflow trigger"); err != nil {
		return err
	}
	return c.setTriggerPaused(ctx, "pause workflow trigger", id, true)
}

// ResumeWorkflowTrigger resumes a paused trigger.
func (c *Client) ResumeWorkflowTrigger(ctx context.Context, id int64) error {
	if err := c.stoppedError("resume workflow trigger"); err != nil {
		return err
	}
	return c.setTriggerPaused(ctx, "resume workflow trigger", id, false)
}

func (c *Client) setTriggerPaused(ctx context.Context, op string, id int64, paused bool) error {
	rec, err := c.store.GetTrigger(ctx, id)
	if err != nil {
		return opError(op, err)
	}
	key := store.KeyTriggerResumed
	if paused {
		key = store.KeyTriggerPaused
	}
	return opError(op, c.store.SetTriggerPaused(ctx, id, paused, triggerEvent(key, rec)))
}

// DeleteWorkflowTrigger deletes a trigger.
func (c *Client) DeleteWorkflowTrigger(ctx context.Context, id int64) error {
	if err := c.stoppedError("delete workflow trigger"); err != nil {
		return err
	}
	rec, err := c.store.GetTrigger(ctx, id)
	if err != nil {
		return opError("delete workflow trigger", err)
	}
	return opError("delete workflow trigger", c.store.DeleteTrigger(ctx, id, triggerEvent(store.KeyTriggerDeleted, rec)))
}

// DeleteWorkflowTriggers deletes every trigger of a workflow and returns how
// many it deleted.
func (c *Client) DeleteWorkflowTriggers(ctx context.Context, namespace, workflow string) (int, error) {
	if err := c.stoppedError("delete workflow triggers"); err != nil {
		return 0, err
	}
	ns := orDefault(namespace)
	if _, err := c.getWorkflow(ctx, ns, workflow); err != nil {
		return 0, opError("delete workflow triggers", err)
	}
	recs, err := c.store.ListTriggers(ctx, ns, workflow)
	if err != nil {
		return 0, opError("delete workflow triggers", err)
	}
	n := 0
	for _, r := range recs {
		if err := c.store.DeleteTrigger(ctx, r.ID, triggerEvent(store.KeyTriggerDeleted, r)); err != nil {
			return n, opError("delete workflow triggers", err)
		}
		n++
	}
	return n, nil
}

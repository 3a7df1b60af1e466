package aiflow

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aiflow-go/aiflow/store"
)

// NamespaceInfo is a namespace.
type NamespaceInfo = store.NamespaceRecord

// AddNamespace adds a namespace.
func (c *Client) AddNamespace(ctx context.Context, name string) error {
	if err := c.stoppedError("add namespace"); err != nil {
		return err
	}
	return opError("add namespace", c.store.AddNamespace(ctx, name))
}

// ListNamespaces lists the namespaces by name.
func (c *Client) ListNamespaces(ctx context.Context) ([]NamespaceInfo, error) {
	if err := c.stoppedError("list namespaces"); err != nil {
		return nil, err
	}
	ns, err := c.store.ListNamespaces(ctx)
	return ns, opError("list namespaces", err)
}

// DeleteNamespace deletes a namespace. It fails with ErrNamespaceNotEmpty
// while workflows are registered in it; "default" cannot be deleted.
func (c *Client) DeleteNamespace(ctx context.Context, name string) error {
	if err := c.stoppedError("delete namespace"); err != nil {
		return err
	}
	if err := checkNamespace(name); err != nil {
		return opError("delete namespace", err)
	}
	return opError("delete namespace", c.store.DeleteNamespace(ctx, name))
}

// WorkflowInfo is a registered workflow as recorded in the store: its latest
// version, its definition (JSON) and whether it is enabled.
type WorkflowInfo = store.WorkflowRecord

// WorkflowVersion is one recorded version of a workflow definition.
type WorkflowVersion = store.WorkflowVersionRecord

// GetWorkflow returns a registered workflow.
func (c *Client) GetWorkflow(ctx context.Context, namespace, name string) (*WorkflowInfo, error) {
	if err := c.stoppedError("get workflow"); err != nil {
		return nil, err
	}
	w, err := c.getWorkflow(ctx, orDefault(namespace), name)
	if err != nil {
		return nil, opError("get workflow", err)
	}
	return &w, nil
}

func (c *Client) getWorkflow(ctx context.Context, ns, name string) (store.WorkflowRecord, error) {
	if err := checkNamespace(ns); err != nil {
		return store.WorkflowRecord{}, err
	}
	if err := store.ValidateName("workflow", name); err != nil {
		return store.WorkflowRecord{}, err
	}
	w, err := c.store.GetWorkflow(ctx, ns, name)
	if errors.Is(err, store.ErrNotFound) {
		if nss, lerr := c.store.ListNamespaces(ctx); lerr == nil &&
			!slices.ContainsFunc(nss, func(n store.NamespaceRecord) bool { return n.Name == ns }) {
			return w, fmt.Errorf("%w: %q", store.ErrNamespaceNotFound, ns)
		}
	}
	return w, err
}

// ListWorkflows lists the registered workflows of a namespace (every
// namespace when empty). It fails with ErrNamespaceNotFound for a namespace
// that does not exist.
func (c *Client) ListWorkflows(ctx context.Context, namespace string) ([]WorkflowInfo, error) {
	if err := c.stoppedError("list workflows"); err != nil {
		return nil, err
	}
	if err := c.requireNamespace(ctx, namespace); err != nil {
		return nil, opError("list workflows", err)
	}
	ws, err := c.store.ListWorkflows(ctx, namespace)
	return ws, opError("list workflows", err)
}

// ListWorkflowVersions lists the recorded versions of a workflow, oldest
// first.
func (c *Client) ListWorkflowVersions(ctx context.Context, namespace, name string) ([]WorkflowVersion, error) {
	if err := c.stoppedError("list workflow versions"); err != nil {
		return nil, err
	}
	if err := checkNamespace(namespace); err != nil {
		return nil, opError("list workflow versions", err)
	}
	vs, err := c.store.ListWorkflowVersions(ctx, orDefault(namespace), name)
	return vs, opError("list workflow versions", err)
}

// EnableWorkflow lets schedules, triggers and calls start the workflow again.
func (c *Client) EnableWorkflow(ctx context.Context, namespace, name string) error {
	if err := c.stoppedError("enable workflow"); err != nil {
		return err
	}
	return opError("enable workflow", c.setEnabled(ctx, orDefault(namespace), name, true))
}

// DisableWorkflow stops anything from starting the workflow (schedules,
// triggers, StartWorkflowExecution, which then returns ErrWorkflowDisabled)
// until it is enabled again. Its running executions go on.
func (c *Client) DisableWorkflow(ctx context.Context, namespace, name string) error {
	if err := c.stoppedError("disable workflow"); err != nil {
		return err
	}
	return opError("disable workflow", c.setEnabled(ctx, orDefault(namespace), name, false))
}

func (c *Client) setEnabled(ctx context.Context, ns, name string, enabled bool) error {
	if _, err := c.getWorkflow(ctx, ns, name); err != nil {
		return err
	}
	key := store.KeyDisableWorkflow
	if enabled {
		key = store.KeyEnableWorkflow
	}
	ev := store.Event{Kind: store.KindControl, Namespace: ns, Key: key, Sender: store.SenderClient, Workflow: name}
	return c.store.SetWorkflowEnabled(ctx, ns, name, enabled, ev)
}

// DeleteWorkflow deletes a workflow's record, versions and executions from
// the store. It fails with ErrConflict while one of its executions is alive.
// A client that still registers the workflow records it again when it starts.
func (c *Client) DeleteWorkflow(ctx context.Context, namespace, name string) error {
	if err := c.stoppedError("delete workflow"); err != nil {
		return err
	}
	if err := checkNamespace(namespace); err != nil {
		return opError("delete workflow", err)
	}
	return opError("delete workflow", c.store.DeleteWorkflow(ctx, orDefault(namespace), name))
}

package cli

// aiflow workflow: list, show, enable, disable and delete workflows.

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow/internal/view"
)

func (e *env) workflowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workflow",
		Short: "List, show, enable, disable and delete workflows",
		Long: `List, show, enable, disable and delete workflows. Workflows are declared in
Go and registered by the applications that embed the library; these commands
show what they registered, versions included.`,
	}
	var all, yes bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the workflows of the namespace",
		Args:  args(cobra.NoArgs),
		RunE: e.run(func(cmd *cobra.Command, _ []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			ns := e.namespace
			if all {
				ns = ""
			}
			ws, err := c.ListWorkflows(cmd.Context(), ns)
			if err != nil {
				return err
			}
			vs := view.Map(ws, view.NewWorkflow)
			return e.print(vs, func() writerTo {
				t := &table{header: []string{"NAMESPACE", "NAME", "VERSION", "ENABLED", "UPDATED AT"}}
				for _, w := range vs {
					t.add(w.Namespace, w.Name, w.Version, w.Enabled, w.UpdatedAt)
				}
				return t
			})
		}),
	}
	list.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the workflows of every namespace")
	show := &cobra.Command{
		Use:   "show WORKFLOW",
		Short: "Show a workflow: its definition and its versions",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			w, err := c.GetWorkflow(cmd.Context(), e.namespace, a[0])
			if err != nil {
				return err
			}
			vers, err := c.ListWorkflowVersions(cmd.Context(), e.namespace, a[0])
			if err != nil {
				return err
			}
			v := view.NewWorkflowDetail(*w, vers)
			return e.print(v, func() writerTo {
				var f fields
				f.add("NAMESPACE", v.Namespace)
				f.add("NAME", v.Name)
				f.add("VERSION", v.Version)
				f.add("ENABLED", v.Enabled)
				f.add("CREATED AT", v.CreatedAt)
				f.add("UPDATED AT", v.UpdatedAt)
				t := &table{header: []string{"VERSION", "CREATED AT"}}
				for _, ver := range v.Versions {
					t.add(ver.Version, ver.CreatedAt)
				}
				def, _ := json.MarshalIndent(v.Definition, "", "  ")
				return multi{f, t, message("DEFINITION:\n" + string(def))}
			})
		}),
	}
	toggle := func(use, short string, enable bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " WORKFLOW",
			Short: short,
			Args:  args(cobra.ExactArgs(1)),
			RunE: e.run(func(cmd *cobra.Command, a []string) error {
				c, err := e.getClient(cmd.Context())
				if err != nil {
					return err
				}
				if enable {
					err = c.EnableWorkflow(cmd.Context(), e.namespace, a[0])
				} else {
					err = c.DisableWorkflow(cmd.Context(), e.namespace, a[0])
				}
				if err != nil {
					return err
				}
				return e.done(map[string]any{"namespace": e.namespace, "workflow": a[0], "enabled": enable}, "%sd workflow %s", use, a[0])
			}),
		}
	}
	del := &cobra.Command{
		Use:   "delete WORKFLOW",
		Short: "Delete a workflow with its versions and executions (none may be alive)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.GetWorkflow(cmd.Context(), e.namespace, a[0]); err != nil {
				return err
			}
			if err := e.confirm(yes, fmt.Sprintf("delete workflow %q of namespace %q with its executions", a[0], e.namespace)); err != nil {
				return err
			}
			if err := c.DeleteWorkflow(cmd.Context(), e.namespace, a[0]); err != nil {
				return err
			}
			return e.done(map[string]string{"namespace": e.namespace, "deleted": a[0]}, "deleted workflow %s", a[0])
		}),
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.AddCommand(list, show,
		toggle("enable", "Enable a workflow: schedules, triggers and starts may start it again", true),
		toggle("disable", "Disable a workflow: nothing starts it until it is enabled; running executions go on", false),
		del)
	return cmd
}

package cli

// aiflow namespace: list, create and delete namespaces.

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow/internal/view"
)

func (e *env) namespaceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "namespace", Short: "Add, list and delete namespaces"}
	var yes bool
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a namespace (it must have no workflows)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			if err := e.confirm(yes, fmt.Sprintf("delete namespace %q", a[0])); err != nil {
				return err
			}
			if err := c.DeleteNamespace(cmd.Context(), a[0]); err != nil {
				return err
			}
			return e.done(map[string]string{"deleted": a[0]}, "deleted namespace %s", a[0])
		}),
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.AddCommand(
		&cobra.Command{
			Use:   "add NAME",
			Short: "Add a namespace",
			Args:  args(cobra.ExactArgs(1)),
			RunE: e.run(func(cmd *cobra.Command, a []string) error {
				c, err := e.getClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := c.AddNamespace(cmd.Context(), a[0]); err != nil {
					return err
				}
				return e.done(map[string]string{"added": a[0]}, "added namespace %s", a[0])
			}),
		},
		&cobra.Command{
			Use:   "list",
			Short: "List the namespaces",
			Args:  args(cobra.NoArgs),
			RunE: e.run(func(cmd *cobra.Command, _ []string) error {
				c, err := e.getClient(cmd.Context())
				if err != nil {
					return err
				}
				nss, err := c.ListNamespaces(cmd.Context())
				if err != nil {
					return err
				}
				vs := view.Map(nss, view.NewNamespace)
				return e.print(vs, func() writerTo {
					t := &table{header: []string{"NAME", "CREATED AT"}}
					for _, n := range vs {
						t.add(n.Name, n.CreatedAt)
					}
					return t
				})
			}),
		},
		del,
	)
	return cmd
}

package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow/internal/view"
	"github.com/aiflow-go/aiflow/store/postgres"
)

func parseID(what, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%s %q: expected a positive integer id", what, s)
	}
	return id, nil
}

// ---- migrate ----

func (e *env) migrateCmd() *cobra.Command {
	var partitions int
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the AIFlow tables (and River's) in the schema",
		Long: `Create or upgrade the AIFlow tables (and River's) in --schema. Safe to run
from several processes at once, and again: it applies only what is missing.
The first migration of a schema fixes its number of partitions.`,
		Args: args(cobra.NoArgs),
		RunE: e.run(func(cmd *cobra.Command, _ []string) error {
			pool, err := e.pool(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			res, err := postgres.Migrate(cmd.Context(), pool, &postgres.Config{Schema: e.schema, Partitions: partitions})
			if err != nil {
				return err
			}
			type out struct {
				Schema       string `json:"schema" yaml:"schema"`
				Version      int    `json:"version" yaml:"version"`
				Applied      []int  `json:"applied" yaml:"applied"`
				RiverVersion int    `json:"river_version" yaml:"river_version"`
				Partitions   int    `json:"partitions" yaml:"partitions"`
			}
			o := out{e.schema, res.Version, res.Applied, res.RiverVersion, res.Partitions}
			if o.Applied == nil {
				o.Applied = []int{}
			}
			applied := "nothing to apply"
			if len(res.Applied) > 0 {
				applied = fmt.Sprintf("applied %v", res.Applied)
			}
			return e.done(o, "schema %s at version %d (%s); River schema version %d; %d partitions",
				e.schema, res.Version, applied, res.RiverVersion, res.Partitions)
		}),
	}
	cmd.Flags().IntVar(&partitions, "partitions", 0, "number of partitions of a new schema (0: the default, 4)")
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the migrations applied to the schema and those pending",
		Args:  args(cobra.NoArgs),
		RunE: e.run(func(cmd *cobra.Command, _ []string) error {
			pool, err := e.pool(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			st, err := postgres.ReadMigrationStatus(cmd.Context(), pool, &postgres.Config{Schema: e.schema})
			if err != nil {
				return err
			}
			type applied struct {
				Version   int    `json:"version" yaml:"version"`
				Name      string `json:"name" yaml:"name"`
				AppliedAt string `json:"applied_at" yaml:"applied_at"`
			}
			type out struct {
				Schema     string    `json:"schema" yaml:"schema"`
				Version    int       `json:"version" yaml:"version"`
				Latest     int       `json:"latest" yaml:"latest"`
				UpToDate   bool      `json:"up_to_date" yaml:"up_to_date"`
				Partitions int       `json:"partitions" yaml:"partitions"`
				Applied    []applied `json:"applied" yaml:"applied"`
				Pending    []int     `json:"pending" yaml:"pending"`
			}
			o := out{Schema: st.Schema, Version: st.Version, Latest: st.Latest, UpToDate: len(st.Pending) == 0,
				Partitions: st.Partitions, Applied: []applied{}, Pending: st.Pending}
			if o.Pending == nil {
				o.Pending = []int{}
			}
			t := &table{header: []string{"VERSION", "NAME", "APPLIED AT"}}
			for _, m := range st.Applied {
				o.Applied = append(o.Applied, applied{m.Version, m.Name, view.Time(m.AppliedAt)})
				t.add(m.Version, m.Name, view.Time(m.AppliedAt))
			}
			for _, v := range st.Pending {
				t.add(v, "-", "pending")
			}
			return e.print(o, func() writerTo {
				state := "up to date"
				if !o.UpToDate {
					state = fmt.Sprintf("%d migration(s) pending: run '%s migrate'", len(st.Pending), e.opts.Name)
				}
				return multi{message(fmt.Sprintf("schema %s at version %d of %d: %s", st.Schema, st.Version, st.Latest, state)), t}
			})
		}),
	}
	cmd.AddCommand(status)
	return cmd
}

// ---- version ----

// modulePath is the path of the module whose version "aiflow version" prints.
const modulePath = "github.com/aiflow-go/aiflow"

// moduleVersion returns the version of the aiflow module in a program's
// build information: the main module's version when the program is
// cmd/aiflow, the dependency's when the commands are mounted in another
// program (the replacement's version when the module is replaced), and
// "(devel)" when the build carries no version (a build from a checkout, a
// replacement by a directory). Since Go 1.24, a build from a version control
// checkout may carry the version of its tag or commit instead.
func moduleVersion(bi *debug.BuildInfo) string {
	const devel = "(devel)"
	if bi == nil {
		return devel
	}
	version := func(m *debug.Module) string {
		if m.Replace != nil {
			m = m.Replace
		}
		if m.Version == "" {
			return devel
		}
		return m.Version
	}
	if bi.Main.Path == modulePath {
		return version(&bi.Main)
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			return version(d)
		}
	}
	return devel
}

func (e *env) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this program and the schema version it expects",
		Args:  args(cobra.NoArgs),
		RunE: e.run(func(*cobra.Command, []string) error {
			bi, _ := debug.ReadBuildInfo()
			v := moduleVersion(bi)
			type out struct {
				Version       string `json:"version" yaml:"version"`
				SchemaVersion int    `json:"schema_version" yaml:"schema_version"`
				Go            string `json:"go" yaml:"go"`
			}
			o := out{v, postgres.LatestVersion(), runtime.Version()}
			return e.done(o, "aiflow %s (schema version %d, %s)", o.Version, o.SchemaVersion, o.Go)
		}),
	}
}

// ---- namespaces ----

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
				vs := view.Map(nss, namespaceView)
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

// ---- workflows ----

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
			vs := view.Map(ws, workflowView)
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
			v := workflowDetailView(*w, vers)
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

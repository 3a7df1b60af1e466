package cli

// aiflow migrate: bring the Postgres schema up to date.

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow/internal/view"
	"github.com/aiflow-go/aiflow/store/postgres"
)

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

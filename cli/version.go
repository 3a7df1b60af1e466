package cli

// aiflow version: the module version from the build information.

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow/store/postgres"
)

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

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestModuleVersion covers where the version comes from: the main module
// (cmd/aiflow built by "go install ...@v0.3.0"), a dependency (the commands
// mounted in an application), a replacement, and builds without a version.
func TestModuleVersion(t *testing.T) {
	t.Parallel()
	other := debug.Module{Path: "example.com/app", Version: "v1.2.3"}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build information", nil, "(devel)"},
		{"cmd/aiflow at a release", &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v0.3.0"}}, "v0.3.0"},
		{"cmd/aiflow from a checkout", &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}}, "(devel)"},
		{"cmd/aiflow without a version", &debug.BuildInfo{Main: debug.Module{Path: modulePath}}, "(devel)"},
		{"mounted in an application", &debug.BuildInfo{Main: other, Deps: []*debug.Module{
			{Path: "github.com/spf13/cobra", Version: "v1.10.2"},
			{Path: modulePath, Version: "v0.2.1"},
		}}, "v0.2.1"},
		{"replaced by another version", &debug.BuildInfo{Main: other, Deps: []*debug.Module{
			{Path: modulePath, Version: "v0.2.1", Replace: &debug.Module{Path: "example.com/fork", Version: "v0.2.2"}},
		}}, "v0.2.2"},
		{"replaced by a directory", &debug.BuildInfo{Main: other, Deps: []*debug.Module{
			{Path: modulePath, Version: "v0.2.1", Replace: &debug.Module{Path: "../aiflow"}},
		}}, "(devel)"},
		{"not linked in", &debug.BuildInfo{Main: other}, "(devel)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, moduleVersion(tc.bi))
		})
	}
}

// TestVersionCommand runs "aiflow version", which needs no database: this
// test binary is built from a checkout, so the version is "(devel)".
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	opts := &Options{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	require.Equal(t, ExitOK, Main(context.Background(), []string{"version", "-o", "json"}, opts), stderr.String())
	var out struct {
		Version       string `json:"version"`
		SchemaVersion int    `json:"schema_version"`
		Go            string `json:"go"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &out))
	require.Equal(t, "(devel)", out.Version)
	require.Positive(t, out.SchemaVersion)
	require.NotEmpty(t, out.Go)
}

package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/cli"
)

// TestStartManyExecutions: "workflow-execution start" with --count or
// --inputs starts many executions and prints their ids, one a line.
func TestStartManyExecutions(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	w := aiflow.NewWorkflow("w")
	w.Task("manual", nop()).OnEvent("never", aiflow.ActionStart)
	b.start(w)

	// input waits until the execution runs and returns its input.
	input := func(id int64) string {
		b.waitExecution(id, aiflow.WorkflowRunning)
		var x struct {
			Input string `json:"input"`
		}
		b.json(&x, "workflow-execution", "show", strconv.FormatInt(id, 10))
		return x.Input
	}

	lines := strings.Fields(b.ok("workflow-execution", "start", "--count", "3", "--input", "same", "w"))
	require.Len(t, lines, 3)
	for _, l := range lines {
		require.Equal(t, "same", input(parseInt(t, l)))
	}

	// One execution per line of a file, or of standard input.
	file := filepath.Join(t.TempDir(), "inputs")
	require.NoError(t, os.WriteFile(file, []byte("{\"day\":1}\n\n{\"day\":3}\n"), 0o600))
	var out struct {
		IDs []int64 `json:"ids"`
	}
	b.json(&out, "workflow-execution", "start", "--inputs", file, "w")
	require.Len(t, out.IDs, 3)
	for i, want := range []string{`{"day":1}`, "", `{"day":3}`} {
		require.Equal(t, want, input(out.IDs[i]))
	}
	cmd := exec.CommandContext(b.ctx, bin, "workflow-execution", "start", "--inputs", "-", "w")
	cmd.Env = b.env()
	cmd.Stdin = strings.NewReader("a\nb\n")
	stdout, err := cmd.Output()
	require.NoError(t, err)
	piped := strings.Fields(string(stdout))
	require.Len(t, piped, 2)
	id, err := strconv.ParseInt(piped[1], 10, 64)
	require.NoError(t, err)
	require.Equal(t, "b", input(id))

	b.fails(cli.ExitUsage, "--count -1", "workflow-execution", "start", "--count", "-1", "w")
	b.fails(cli.ExitUsage, "--count and --inputs", "workflow-execution", "start", "--count", "2", "--inputs", file, "w")
	b.fails(cli.ExitUsage, "--idempotency-key", "workflow-execution", "start", "--count", "2", "--idempotency-key", "k", "w")
	b.fails(cli.ExitUsage, "--inputs", "workflow-execution", "start", "--inputs", filepath.Join(t.TempDir(), "none"), "w")
	b.fails(cli.ExitNotFound, "workflow not found", "workflow-execution", "start", "--count", "2", "nope")
	var xs []json.RawMessage
	b.json(&xs, "workflow-execution", "list", "w")
	require.Len(t, xs, 3+3+2, "failed commands started nothing")
}

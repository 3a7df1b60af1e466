package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/cli"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// TestMountedUnderAnotherCommand mounts the commands under an application's
// own root command, with the application's client (Options.Client), as the
// package documentation shows, and runs them in process: the verbs use that
// client (no database URL is set), their errors map to the exit codes with
// ExitCode, and the application's own commands are untouched.
func TestMountedUnderAnotherCommand(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	w := aiflow.NewWorkflow("w")
	w.Task("on_ping", nop()).OnEvent("ping", aiflow.ActionStart)
	w.Task("keep", nop()).OnEvent("never", aiflow.ActionStart)
	b.start(w)
	x, err := b.client.StartWorkflowExecution(b.ctx, "w", nil)
	require.NoError(t, err)
	b.waitExecution(x, aiflow.WorkflowRunning)

	var stdout, stderr bytes.Buffer
	served := false
	run := func(args ...string) error {
		t.Helper()
		stdout.Reset()
		stderr.Reset()
		app := &cobra.Command{Use: "myapp", SilenceErrors: true, SilenceUsage: true}
		app.AddCommand(&cobra.Command{Use: "serve", Run: func(*cobra.Command, []string) { served = true }})
		app.AddCommand(cli.NewCommand(&cli.Options{
			Name: "flow", Client: b.client, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
			Getenv: func(string) string { return "" }, // no AIFLOW_DATABASE_URL: only the client can serve
		}))
		app.SetArgs(args)
		return app.ExecuteContext(b.ctx)
	}

	// event send: through the application's client, to its running execution.
	require.NoError(t, run("flow", "event", "send", "ping", "hello", "-o", "json"))
	var ev eventJSON
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &ev), stdout.String())
	require.Equal(t, "ping", ev.Key)
	require.Equal(t, "hello", ev.Value)
	require.Equal(t, "aiflow.client", ev.Sender)
	require.Empty(t, stderr.String())
	b.waitRun(x, "on_ping", 1, aiflow.TaskSuccess)

	// replay: the application's registered definition over the log agrees
	// with what happened.
	require.NoError(t, run("flow", "replay", "w", "-o", "json"))
	var rep aiflow.ReplayReport
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), stdout.String())
	require.Zero(t, rep.Differences, stdout.String())
	require.Len(t, rep.Executions, 1)
	require.Equal(t, x, rep.Executions[0].ID)
	require.NoError(t, run("flow", "replay", "w"))
	require.Regexp(t, `(?m)^DIFFERENCES:\s+0$`, stdout.String())
	require.Regexp(t, `(?m)^`+strconv.FormatInt(x, 10)+`\s+on_ping\s+1\s+event \d+ rule 1\s+\d+ SUCCESS\s+-$`, stdout.String())
	require.Equal(t, 0, cli.ExitCode(nil))

	// migrate status: the migrate commands need the database, client or not.
	err = run("flow", "migrate", "status")
	require.ErrorContains(t, err, "no database: set --database-url or AIFLOW_DATABASE_URL")
	require.Equal(t, cli.ExitUsage, cli.ExitCode(err))
	require.NoError(t, run("flow", "migrate", "status", "--database-url", pgtest.URL(), "--schema", b.schema, "-o", "json"))
	var st struct {
		Schema   string `json:"schema"`
		Version  int    `json:"version"`
		UpToDate bool   `json:"up_to_date"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &st), stdout.String())
	require.Equal(t, b.schema, st.Schema)
	require.Equal(t, postgres.LatestVersion(), st.Version)
	require.True(t, st.UpToDate)

	// Errors map to the exit codes.
	err = run("flow", "event", "send", "k", "-n", "ghost")
	require.ErrorIs(t, err, aiflow.ErrNamespaceNotFound)
	require.Equal(t, cli.ExitNotFound, cli.ExitCode(err))
	err = run("flow", "event", "list", "-n", "ghost")
	require.Equal(t, cli.ExitNotFound, cli.ExitCode(err), err)
	err = run("flow", "workflow-execution", "show", "x1")
	require.ErrorContains(t, err, `workflow execution id "x1": expected a positive integer id`)
	require.Equal(t, cli.ExitUsage, cli.ExitCode(err))
	err = run("flow", "event", "list", "--bogus")
	require.ErrorContains(t, err, "unknown flag: --bogus")
	require.Equal(t, cli.ExitUsage, cli.ExitCode(err))
	err = run("flow", "event", "send", "k", "--execution-id", "424242")
	require.ErrorIs(t, err, aiflow.ErrExecutionNotFound)
	require.Equal(t, cli.ExitNotFound, cli.ExitCode(err))
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	b.waitExecution(x, aiflow.WorkflowStopped)
	err = run("flow", "workflow-execution", "stop", strconv.FormatInt(x, 10))
	require.ErrorIs(t, err, aiflow.ErrExecutionFinished)
	require.Equal(t, cli.ExitConflict, cli.ExitCode(err))
	err = run("flow", "namespace", "delete", "default")
	require.Equal(t, cli.ExitNotConfirmed, cli.ExitCode(err), err)

	// The application's client is still open, and its own commands run.
	_, err = b.client.SendEvent(b.ctx, "after", "", nil)
	require.NoError(t, err)
	require.NoError(t, run("serve"))
	require.True(t, served)
}

// TestHelpShowsEachDefaultOnce: the help of --namespace and --schema gives
// the default once, the environment's when set.
func TestHelpShowsEachDefaultOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env               map[string]string
		namespace, schema string
	}{
		{nil, `(default "default")`, `(default "aiflow")`},
		{map[string]string{aiflow.EnvNamespace: "team", cli.EnvSchema: "ops"}, `(default "team")`, `(default "ops")`},
	} {
		var out bytes.Buffer
		code := cli.Main(context.Background(), []string{"event", "list", "--help"}, &cli.Options{
			Stdout: &out, Stderr: &out, Getenv: func(k string) string { return tc.env[k] },
		})
		require.Equal(t, cli.ExitOK, code, out.String())
		for flag, want := range map[string]string{"--namespace": tc.namespace, "--schema": tc.schema} {
			var line string
			for _, l := range strings.Split(out.String(), "\n") {
				if strings.Contains(l, flag+" string") {
					line = l
				}
			}
			require.NotEmpty(t, line, "%s in:\n%s", flag, out.String())
			require.Equal(t, 1, strings.Count(line, "(default "), line)
			require.True(t, strings.HasSuffix(line, want), line)
		}
	}
}

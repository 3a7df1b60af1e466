package cli_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/cli"
)

// TestUsageErrorsExitTwo: a mistyped subcommand, a malformed schema and a
// namespace that is not a valid name are usage errors (exit 2), not a
// success that prints help, a failure, or "not found".
func TestUsageErrorsExitTwo(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	b.ok("migrate")

	b.fails(cli.ExitUsage, `unknown command "log" for "aiflow task-execution"; did you mean "logs"?`, "task-execution", "log", "1")
	b.fails(cli.ExitUsage, `unknown command "frobnicate" for "aiflow event": expected one of`, "event", "frobnicate")
	require.Contains(t, b.ok("task-execution"), "logs", "without an argument a group still prints its help")

	b.fails(cli.ExitUsage, `--schema: schema "bad;schema"`, "--schema", "bad;schema", "namespace", "list")
	b.fails(cli.ExitUsage, `namespace name "bad ns"`, "-n", "bad ns", "workflow", "list")
	b.fails(cli.ExitUsage, `namespace name "bad ns"`, "-n", "bad ns", "event", "send", "k", "v")
}

func TestIdempotencyKeyFlag(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	b.ok("migrate")
	first := b.ok("event", "send", "paid", "a", "--idempotency-key", "order-1")
	require.Equal(t, first, b.ok("event", "send", "paid", "b", "--idempotency-key", "order-1"), "a retry prints the first call's position")
	require.NotEqual(t, first, b.ok("event", "send", "paid", "c", "--idempotency-key", "order-2"))
	// Listing waits for older transactions of the database to end.
	b.waitFor("two paid events", func() bool { return b.ok("event", "count", "paid") == "2\n" })
	b.fails(cli.ExitUsage, "idempotency key", "event", "send", "paid", "--idempotency-key", strings.Repeat("k", 300))
}

package cli_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/cli"
	"github.com/aiflow-go/aiflow/store/memory"
)

// Mounting the command line in a program, on the program's own client: its
// commands then need no database URL.
func ExampleNewCommand() {
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)) // fixed times for the output
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(&memory.Config{Clock: clock}), Clock: clock})
	if err != nil {
		panic(err)
	}
	if err := client.AddNamespace(ctx, "ml"); err != nil {
		panic(err)
	}
	cmd := cli.NewCommand(&cli.Options{Name: "myapp", Client: client, Stdout: os.Stdout, Stderr: os.Stdout})
	cmd.SetArgs([]string{"namespace", "list", "--output", "json"})
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Println("error:", err)
	}
	// Output:
	// [
	//   {
	//     "name": "default",
	//     "created_at": "2026-01-01T09:00:00Z"
	//   },
	//   {
	//     "name": "ml",
	//     "created_at": "2026-01-01T09:00:00Z"
	//   }
	// ]
}

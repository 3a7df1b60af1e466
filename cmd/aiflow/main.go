// Command aiflow inspects and steers the workflows of applications that embed
// AIFlow for Go, and sends events to them, on their Postgres store. Install it
// with
//
//	go install github.com/aiflow-go/aiflow/cmd/aiflow@latest
//
// and see "aiflow --help", or the documentation of package
// github.com/aiflow-go/aiflow/cli, for the commands and their exit codes.
package main

import (
	"context"
	"os"

	"github.com/aiflow-go/aiflow/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], nil))
}

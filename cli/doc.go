// Package cli is the aiflow command: the operator's and the scripts' way to
// inspect and steer workflows and to send events from outside Go. The
// command cmd/aiflow is a thin main around it; an application can mount the
// same commands under its own binary:
//
//	root.AddCommand(cli.NewCommand(&cli.Options{Name: "aiflow", Client: client}))
//
// or run them as a program of its own:
//
//	os.Exit(cli.Main(context.Background(), os.Args[1:], nil))
//
// The commands work on the Postgres store that --database-url (or
// AIFLOW_DATABASE_URL) and --schema (or AIFLOW_SCHEMA, "aiflow" by default)
// name, without starting a client: starts and stops are events in the log,
// handled exactly once by the applications that run the workflows.
//
//	aiflow migrate [status]
//	aiflow namespace add|list|delete
//	aiflow workflow list|show|enable|disable|delete
//	aiflow workflow-execution start|stop|stop-all|list|show|delete
//	aiflow task-execution list|show|why|start|stop|restart|logs
//	aiflow workflow-schedule add|list|show|pause|resume|delete|delete-all
//	aiflow workflow-trigger list|show|pause|resume|delete|delete-all
//	aiflow event send|list|count|listen
//	aiflow replay WORKFLOW (with the workflows of a program that mounts the commands)
//	aiflow version
//
// Every command takes -o table|json|yaml (table by default) and -n NAMESPACE
// (AIFLOW_NAMESPACE, else "default"; a namespace that does not exist is an
// error with exit code 3, for listings too, and one that is not a valid name
// a usage error, exit code 2); deletions ask for confirmation on a
// terminal and need -y elsewhere. "event send" and "workflow-execution
// start" take --idempotency-key: a retry with the same key prints the first
// call's result and acts no more (see aiflow.SendEventOpts.IdempotencyKey). Inside a task's process, "event send"
// picks up the task's context from the AIFLOW_* environment, so the event
// reaches the task's own workflow execution, as TaskContext.SendEvent does.
//
// # Exit codes
//
//	0  success (ExitOK)
//	1  failure: database unreachable, unexpected error (ExitError)
//	2  usage: malformed command line or value (ExitUsage)
//	3  not found: namespace, workflow, execution, task, schedule or trigger (ExitNotFound)
//	4  conflict: exists already, disabled, finished, still alive, not empty (ExitConflict)
//	5  a deletion was not confirmed (ExitNotConfirmed)
//
// Import rule: cli imports the root package, store/postgres, internal/view,
// pgx's pool, cobra (with its pflag), golang.org/x/term and the YAML library.
package cli

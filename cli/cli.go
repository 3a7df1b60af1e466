package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// Exit codes of Main; scripts can rely on them.
const (
	ExitOK           = 0 // the command did what it was asked
	ExitError        = 1 // it failed: the database is unreachable, an unexpected error
	ExitUsage        = 2 // the command line or a value is malformed (unknown command or flag, bad key, bad id)
	ExitNotFound     = 3 // a namespace, workflow, execution, task, schedule or trigger does not exist
	ExitConflict     = 4 // the request does not fit the current state (exists already, disabled, finished, alive, not empty)
	ExitNotConfirmed = 5 // a deletion was not confirmed: declined at the prompt, or no terminal and no -y
)

// Environment variables read by the commands (besides the task context
// variables aiflow.Env*, read by "event send").
const (
	EnvDatabaseURL = "AIFLOW_DATABASE_URL"
	EnvSchema      = "AIFLOW_SCHEMA"
)

// Options configure the command tree. A nil *Options means the defaults.
type Options struct {
	// Name is the root command's name; "aiflow" when empty. An application
	// mounting the tree under its own binary may name it as it likes.
	Name string
	// Client, when set, is the client the commands use, instead of one on
	// the Postgres store that --database-url names. The migrate commands
	// always need --database-url.
	Client *aiflow.Client
	// Stdin, Stdout and Stderr default to the process's.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// Interactive tells whether deletions may be confirmed at a prompt;
	// when nil, whether Stdin is a terminal.
	Interactive func() bool
}

// env is what every command shares: options, global flags, the lazily
// opened client.
type env struct {
	opts      Options
	url       string
	schema    string
	namespace string
	output    string

	client  *aiflow.Client
	closeFn func()
}

// NewCommand returns the aiflow command tree. Run it with Main, or mount it
// under another cobra command; errors it returns map to exit codes with
// ExitCode.
func NewCommand(opts *Options) *cobra.Command {
	e := &env{}
	if opts != nil {
		e.opts = *opts
	}
	if e.opts.Name == "" {
		e.opts.Name = "aiflow"
	}
	if e.opts.Stdin == nil {
		e.opts.Stdin = os.Stdin
	}
	if e.opts.Stdout == nil {
		e.opts.Stdout = os.Stdout
	}
	if e.opts.Stderr == nil {
		e.opts.Stderr = os.Stderr
	}
	if e.opts.Getenv == nil {
		e.opts.Getenv = os.Getenv
	}
	if e.opts.Interactive == nil {
		in := e.opts.Stdin
		e.opts.Interactive = func() bool { return isTerminal(in) }
	}
	root := &cobra.Command{
		Use:   e.opts.Name,
		Short: "Inspect and steer AIFlow workflows, and send events, from outside Go",
		Long: `Inspect and steer the workflows that applications embedding AIFlow for Go
have registered, and send events to them. The commands work on the Postgres
store named by --database-url (or ` + EnvDatabaseURL + `) in --schema (or ` + EnvSchema + `).
A start or stop requested here is an event in the log like any other, handled
exactly once by the running application.

Exit codes:
  0  success
  1  failure (database unreachable, unexpected error)
  2  usage: malformed command line or value
  3  not found: namespace, workflow, execution, task, schedule or trigger
  4  conflict: exists already, disabled, finished, still alive, not empty
  5  deletion not confirmed (declined, or no terminal and no -y)`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetIn(e.opts.Stdin)
	root.SetOut(e.opts.Stdout)
	root.SetErr(e.opts.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	defNS := e.opts.Getenv(aiflow.EnvNamespace)
	if defNS == "" {
		defNS = "default"
	}
	defSchema := e.opts.Getenv(EnvSchema)
	if defSchema == "" {
		defSchema = postgres.SchemaDefault
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.url, "database-url", "", "Postgres connection URL (default $"+EnvDatabaseURL+")")
	// cobra appends "(default ...)": $VAR when set, else the fixed default.
	pf.StringVar(&e.schema, "schema", defSchema, "schema of the AIFlow tables, or $"+EnvSchema+" if set")
	pf.StringVarP(&e.namespace, "namespace", "n", defNS, "namespace to work in, or $"+aiflow.EnvNamespace+" if set")
	pf.StringVarP(&e.output, "output", "o", "table", "output format: table, json or yaml")

	root.AddCommand(
		e.migrateCmd(),
		e.namespaceCmd(),
		e.workflowCmd(),
		e.executionCmd(),
		e.taskExecutionCmd(),
		e.scheduleCmd(),
		e.triggerCmd(),
		e.eventCmd(),
		e.replayCmd(),
		e.pruneCmd(),
		e.versionCmd(),
	)
	for _, cmd := range root.Commands() {
		refuseUnknownSubcommands(cmd)
	}
	return root
}

// refuseUnknownSubcommands makes every command of the tree under cmd that
// only groups subcommands refuse an argument that names none of them (a
// usage error, with the close names), instead of printing its help and
// succeeding. Without an argument it still prints its help.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil {
		return
	}
	cmd.Args = func(c *cobra.Command, a []string) error {
		if len(a) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", a[0], c.CommandPath())
		if sugg := c.SuggestionsFor(a[0]); len(sugg) > 0 {
			msg += "; did you mean " + quoteList(sugg) + "?"
		} else {
			var names []string
			for _, sub := range c.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			msg += ": expected one of " + quoteList(names)
		}
		return errors.New(msg)
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
}

// quoteList formats names as "a", "b" or "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Main runs the command tree with args (without the program name) until it
// is done or ctx ends (SIGINT and SIGTERM also end it), prints an error to
// stderr, and returns the exit code.
func Main(ctx context.Context, args []string, opts *Options) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := NewCommand(opts)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	name := cmd.Name()
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: error: %s\n", name, strings.TrimPrefix(err.Error(), "aiflow: "))
	code := ExitCode(err)
	if code == ExitUsage && !isRunErr(err) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Run '%s --help' for usage.\n", name)
	}
	return code
}

// ExitCode maps an error returned by the command tree to its exit code.
func ExitCode(err error) int {
	var re *runError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errNotConfirmed):
		return ExitNotConfirmed
	case !errors.As(err, &re):
		// Not from a command's run: cobra refused the command line.
		return ExitUsage
	case errors.As(err, new(*usageError)), errors.Is(err, aiflow.ErrInvalid):
		return ExitUsage
	case errors.Is(err, aiflow.ErrNotFound):
		return ExitNotFound
	case errors.Is(err, aiflow.ErrConflict), errors.Is(err, aiflow.ErrAlreadyExists):
		return ExitConflict
	}
	return ExitError
}

// runError marks an error returned by a command's run (as opposed to one of
// cobra's, which are all usage errors).
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

func isRunErr(err error) bool { var re *runError; return errors.As(err, &re) }

// usageError is a malformed argument found by a command.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErr(err error) error { return &usageError{err} }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

var errNotConfirmed = errors.New("not confirmed")

// run adapts a command body: it marks its errors and closes the client.
func (e *env) run(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		switch e.output {
		case "table", "json", "yaml":
		default:
			return &runError{usagef("--output %q: expected table, json or yaml", e.output)}
		}
		if err := postgres.ValidateSchema(e.schema); err != nil {
			return &runError{usagef("--schema: %v", err)}
		}
		defer e.close()
		if err := fn(cmd, args); err != nil {
			return &runError{err}
		}
		return nil
	}
}

// args wraps a cobra argument check so that its errors are usage errors.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return &runError{usageErr(fmt.Errorf("%s: %w (usage: %s)", cmd.CommandPath(), err, cmd.UseLine()))}
		}
		return nil
	}
}

// getClient returns the client, opening the Postgres store on first use.
func (e *env) getClient(ctx context.Context) (*aiflow.Client, error) {
	if e.opts.Client != nil {
		return e.opts.Client, nil
	}
	if e.client != nil {
		return e.client, nil
	}
	pool, err := e.pool(ctx)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(e.opts.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	st, err := postgres.New(ctx, pool, &postgres.Config{Schema: e.schema, Logger: logger})
	if err != nil {
		pool.Close()
		if strings.Contains(err.Error(), "run postgres.Migrate first") {
			return nil, fmt.Errorf("%w (run '%s migrate')", err, e.opts.Name)
		}
		return nil, err
	}
	c, err := aiflow.New(&aiflow.Config{Store: st, Logger: logger})
	if err != nil {
		_ = st.Close()
		pool.Close()
		return nil, err
	}
	e.client = c
	e.closeFn = func() {
		_ = st.Close()
		pool.Close()
	}
	return c, nil
}

func (e *env) pool(ctx context.Context) (*pgxpool.Pool, error) {
	if e.url == "" {
		e.url = e.opts.Getenv(EnvDatabaseURL)
	}
	if e.url == "" {
		return nil, usagef("no database: set --database-url or %s (for example postgres://user@host:5432/db)", EnvDatabaseURL)
	}
	cfg, err := pgxpool.ParseConfig(e.url)
	if err != nil {
		return nil, usagef("--database-url: %v", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	return pool, nil
}

func (e *env) close() {
	if e.closeFn != nil {
		e.closeFn()
		e.closeFn, e.client = nil, nil
	}
}

// confirm asks before a deletion unless yes; without a terminal it refuses.
func (e *env) confirm(yes bool, what string) error {
	if yes {
		return nil
	}
	if !e.opts.Interactive() {
		return fmt.Errorf("%w: %s: pass -y to confirm (no terminal to ask on)", errNotConfirmed, what)
	}
	fmt.Fprintf(e.opts.Stderr, "%s? [y/N] ", what)
	line, _ := bufio.NewReader(e.opts.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("%w: %s: declined", errNotConfirmed, what)
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

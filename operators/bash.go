//go:build unix

package operators

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow"
)

// KillGraceDefault is how long Bash waits after SIGTERM before SIGKILL.
const KillGraceDefault = 5 * time.Second

// BashOperator runs a shell command. Create it with Bash.
type BashOperator struct {
	aiflow.OperatorDefaults
	command   string
	killGrace time.Duration
	shell     string
}

// BashOption configures a BashOperator.
type BashOption func(*BashOperator)

// WithKillGrace sets how long a stopped command gets between SIGTERM and
// SIGKILL (KillGraceDefault, 5 s, when not set). Keep it below the client's
// StopGracePeriod.
func WithKillGrace(d time.Duration) BashOption { return func(b *BashOperator) { b.killGrace = d } }

// WithShell runs the command with another shell than "bash" (it is called
// as: shell -c command).
func WithShell(shell string) BashOption { return func(b *BashOperator) { b.shell = shell } }

// Bash returns an operator that runs command with "bash -c" in a process group
// of its own. Its standard output and error go to the task execution's log,
// it gets the task's context in AIFLOW_* environment variables (plus the
// task's WithEnv variables) and runs in the task's WithWorkDir directory (the
// client's working directory when unset). A non-zero exit status fails the
// task. When the task is stopped the whole process group gets SIGTERM, then
// SIGKILL after the kill grace period.
func Bash(command string, opts ...BashOption) *BashOperator {
	b := &BashOperator{command: command, killGrace: KillGraceDefault, shell: "bash"}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Validate refuses an empty command (or one of blanks only), which would
// run nothing and succeed, and an empty shell (WithShell("")).
func (b *BashOperator) Validate() error {
	if strings.TrimSpace(b.command) == "" {
		return fmt.Errorf("operators.Bash: command %q is empty: expected a shell command, such as \"echo hello\"", b.command)
	}
	if b.shell == "" {
		return errors.New("operators.Bash: WithShell(\"\"): expected a shell program, such as \"sh\"")
	}
	return nil
}

// Describe returns the command.
func (b *BashOperator) Describe() string { return b.command }

// Run runs the command until it exits or ctx ends.
func (b *BashOperator) Run(ctx context.Context, tc *aiflow.TaskContext) error {
	p := &process{name: "bash", argv: []string{b.shell, "-c", b.command}, killGrace: b.killGrace}
	return p.run(ctx, tc)
}

//go:build unix

package operators

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
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

// Describe returns the command.
func (b *BashOperator) Describe() string { return b.command }

// Run runs the command until it exits or ctx ends.
func (b *BashOperator) Run(ctx context.Context, tc *aiflow.TaskContext) error {
	cmd := exec.Command(b.shell, "-c", b.command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = tc.Environ()
	cmd.Dir = tc.WorkDir
	cmd.Stdout = tc.Log
	cmd.Stderr = tc.Log
	// Output copying ends at most this long after the process group is gone,
	// even if a stray process kept the pipes open.
	cmd.WaitDelay = b.killGrace + time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("bash: starting %q: %w", b.command, err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitError(b.command, err)
	case <-ctx.Done():
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(b.killGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	return fmt.Errorf("bash: %q stopped: %w", b.command, context.Cause(ctx))
}

func exitError(command string, err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("bash: %q was killed by signal %s", command, ws.Signal())
		}
		return fmt.Errorf("bash: %q exited with status %d", command, ee.ExitCode())
	}
	return fmt.Errorf("bash: %q: %w", command, err)
}

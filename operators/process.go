//go:build unix

package operators

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aiflow-go/aiflow"
)

// process is a command an operator runs in a process group of its own, with
// the task's environment and working directory.
type process struct {
	// name prefixes errors: "bash", "python", "flink", ...
	name string
	argv []string
	// env is added to the client's environment; the task's own environment
	// (TaskContext.TaskEnviron) comes after it and wins.
	env []string
	// out receives standard output and error; the task log when nil.
	out       io.Writer
	killGrace time.Duration
}

// start starts the process and returns a channel that receives its exit.
func (p *process) start(tc *aiflow.TaskContext) (*exec.Cmd, <-chan error, error) {
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(append(os.Environ(), p.env...), tc.TaskEnviron()...)
	cmd.Dir = tc.WorkDir
	out := p.out
	if out == nil {
		out = tc.Log
	}
	cmd.Stdout = out
	cmd.Stderr = out
	// Output copying ends at most this long after the process group is gone,
	// even if a stray process kept the pipes open.
	cmd.WaitDelay = p.killGrace + time.Second
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("%s: starting %q: %w", p.name, p.describe(), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, done, nil
}

// run runs the process until it exits or ctx ends; then the whole process
// group gets SIGTERM, and SIGKILL after the kill grace period.
func (p *process) run(ctx context.Context, tc *aiflow.TaskContext) error {
	cmd, done, err := p.start(tc)
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return p.exitError(err)
	case <-ctx.Done():
	}
	p.kill(cmd, done)
	return fmt.Errorf("%s: %q stopped: %w", p.name, p.describe(), context.Cause(ctx))
}

// kill ends a started process group and waits for the process to exit.
func (p *process) kill(cmd *exec.Cmd, done <-chan error) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(p.killGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

func (p *process) describe() string {
	if p.name == "bash" && len(p.argv) == 3 {
		return p.argv[2]
	}
	return strings.Join(p.argv, " ")
}

func (p *process) exitError(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("%s: %q was killed by signal %s", p.name, p.describe(), ws.Signal())
		}
		return fmt.Errorf("%s: %q exited with status %d", p.name, p.describe(), ee.ExitCode())
	}
	return fmt.Errorf("%s: %q: %w", p.name, p.describe(), err)
}

// output runs a short command to its end (or until ctx ends, which kills it)
// and returns its combined output.
func (p *process) output(ctx context.Context, tc *aiflow.TaskContext) (string, error) {
	var buf syncBuffer
	q := *p
	q.out = &buf
	err := q.run(ctx, tc)
	return buf.String(), err
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWriter passes writes through to w and calls fn with every complete
// line written (without its newline). fn sees a line before w does, so that
// whoever reads a line in w knows that fn has seen it.
type lineWriter struct {
	w       io.Writer
	fn      func(line string)
	mu      sync.Mutex
	partial []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.fn(strings.TrimRight(string(l.partial[:i]), "\r"))
		l.partial = l.partial[i+1:]
	}
	return l.w.Write(p)
}

// findExecutable returns explicit if set, else name when it is on PATH, else
// $home/bin/name when home names an environment variable that is set and
// the file exists.
func findExecutable(explicit, name, home string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if dir := os.Getenv(home); dir != "" {
		p := filepath.Join(dir, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		return "", fmt.Errorf("%s is neither on PATH nor at %s ($%s)", name, p, home)
	}
	return "", fmt.Errorf("%s is not on PATH and $%s is not set: set the executable path", name, home)
}

//go:build unix

package operators

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow"
)

// PythonInterpreterDefault is the interpreter Python runs when
// PythonConfig.Interpreter is empty.
const PythonInterpreterDefault = "python3"

// PythonConfig configures a Python task. Set exactly one of Script and
// Module.
type PythonConfig struct {
	// Script is the path of the script to run (python3 script args...),
	// relative to the task's working directory when not absolute.
	Script string
	// Module is the module to run as a script (python3 -m module args...).
	Module string
	// Args are the arguments passed to the script or module. References
	// ${NAME} to the task's own environment (${AIFLOW_TASK_EXECUTION_ID}, a
	// WithEnv variable) are replaced when the task execution starts, as in
	// FlinkConfig.ApplicationArgs; any other "$" is kept as written.
	Args []string
	// Interpreter is the Python executable; PythonInterpreterDefault
	// ("python3", looked up on PATH) when empty.
	Interpreter string
	// InterpreterOptions go before the script or -m (for example "-u" or
	// "-X", "dev").
	InterpreterOptions []string
	// KillGrace is how long a stopped process gets between SIGTERM and
	// SIGKILL; KillGraceDefault (5 s) when zero.
	KillGrace time.Duration
}

// PythonOperator runs a Python script or module. Create it with Python.
type PythonOperator struct {
	aiflow.OperatorDefaults
	cfg PythonConfig
}

// Python returns an operator that runs a Python script or module, like Bash
// runs a command: in a process group of its own, with the task's context in
// AIFLOW_* environment variables (plus the task's WithEnv variables), in the
// task's WithWorkDir directory, with its standard output and error in the
// task execution's log and PYTHONUNBUFFERED=1 so that output arrives as it is
// printed. A non-zero exit status fails the task; a stopped task's process
// group gets SIGTERM, then SIGKILL after the kill grace period.
func Python(cfg PythonConfig) *PythonOperator {
	if cfg.Interpreter == "" {
		cfg.Interpreter = PythonInterpreterDefault
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = KillGraceDefault
	}
	cfg.Args = slices.Clone(cfg.Args)
	cfg.InterpreterOptions = slices.Clone(cfg.InterpreterOptions)
	return &PythonOperator{cfg: cfg}
}

// Validate checks that exactly one of Script and Module is set.
func (p *PythonOperator) Validate() error {
	if (strings.TrimSpace(p.cfg.Script) == "") == (strings.TrimSpace(p.cfg.Module) == "") {
		return errors.New("operators.Python: expected exactly one of Script and Module")
	}
	return nil
}

// argv is the command line with the script's arguments args.
func (p *PythonOperator) argv(args []string) []string {
	argv := append([]string{p.cfg.Interpreter}, p.cfg.InterpreterOptions...)
	if p.cfg.Module != "" {
		argv = append(argv, "-m", p.cfg.Module)
	} else {
		argv = append(argv, p.cfg.Script)
	}
	return append(argv, args...)
}

// Describe returns the command line.
func (p *PythonOperator) Describe() string { return strings.Join(p.argv(p.cfg.Args), " ") }

// Run runs the script or module until it exits or ctx ends.
func (p *PythonOperator) Run(ctx context.Context, tc *aiflow.TaskContext) error {
	if err := p.Validate(); err != nil {
		return err
	}
	pr := &process{name: "python", argv: p.argv(expandTaskEnv(p.cfg.Args, tc)), env: []string{"PYTHONUNBUFFERED=1"}, killGrace: p.cfg.KillGrace}
	return pr.run(ctx, tc)
}

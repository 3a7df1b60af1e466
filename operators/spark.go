//go:build unix

package operators

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/aiflow-go/aiflow"
)

// Defaults of SparkSubmitConfig and SparkSQLConfig.
const (
	SparkMasterDefault     = "yarn"
	SparkDeployModeDefault = "client"
	// SparkKillTimeoutDefault bounds killing a cluster-mode driver when the
	// task is stopped.
	SparkKillTimeoutDefault = 30 * time.Second
)

// SparkSubmitConfig configures a spark-submit task. Only Application is
// required.
type SparkSubmitConfig struct {
	// Application is the jar or Python file to submit. Required.
	Application string
	// ApplicationArgs are the application's arguments. References ${NAME}
	// to the task's own environment (${AIFLOW_TASK_EXECUTION_ID}, a WithEnv
	// variable) are replaced when the task execution starts, as in
	// FlinkConfig.ApplicationArgs; any other "$" is kept as written.
	ApplicationArgs []string
	// Executable is the spark-submit command; when empty, "spark-submit" on
	// PATH, else $SPARK_HOME/bin/spark-submit.
	Executable string
	// Master is the cluster's master URL (--master): "yarn", "local[2]",
	// "k8s://https://host:6443", "spark://host:7077"...;
	// SparkMasterDefault ("yarn") when empty.
	Master string
	// DeployMode is "client" (the driver runs in the spark-submit process)
	// or "cluster"; SparkDeployModeDefault ("client") when empty. Cluster
	// mode is refused for standalone (spark://) and Mesos masters, whose
	// drivers the task could not follow.
	DeployMode string
	// Name is the application's name (--name); "spark_submit_task_<task>"
	// when empty.
	Name string
	// SubmitOptions are further options of spark-submit, before the
	// application (for example "--class", "org.example.Main", "--conf",
	// "spark.executor.memory=2g").
	SubmitOptions []string
	// KubernetesNamespace is the namespace of the driver and executors
	// (spark.kubernetes.namespace). Required with a k8s:// master.
	KubernetesNamespace string
	// EnvVars are environment variables for the driver: on YARN as
	// spark.yarn.appMasterEnv.*, on Kubernetes as
	// spark.kubernetes.driverEnv.*; they are also set for the spark-submit
	// process itself (where a client-mode driver runs).
	EnvVars map[string]string
	// Yarn is the yarn command used to kill a cluster-mode application on
	// YARN when the task is stopped; "yarn" when empty.
	Yarn string
	// Streaming marks an application that never ends by itself (a Spark
	// Structured Streaming query): its task is a streaming task.
	Streaming bool
	// KillGrace is how long the spark-submit process gets between SIGTERM
	// and SIGKILL; KillGraceDefault (5 s) when zero.
	KillGrace time.Duration
}

// SparkSubmitOperator runs spark-submit. Create it with SparkSubmit.
type SparkSubmitOperator struct {
	aiflow.OperatorDefaults
	cfg SparkSubmitConfig
}

// SparkSubmit returns an operator that submits a Spark application:
//
//	spark-submit --master M --deploy-mode D --name N [--conf spark.yarn.appMasterEnv.K=V | --conf spark.kubernetes.driverEnv.K=V ...]
//	    [--conf spark.kubernetes.namespace=NS] [submit options] application [args...]
//
// The process's output goes to the task log, where the operator also finds
// the YARN application id (application_...) and, on Kubernetes, the driver
// pod ("pod name: ...") and the driver's exit code ("exit code: N"). The task
// succeeds when spark-submit exits with status 0 and, on Kubernetes, the
// driver's exit code is 0. When the task is stopped, the spark-submit process
// group is killed (SIGTERM, then SIGKILL after the kill grace period) and, in
// cluster mode, so is the driver: "yarn application -kill <id>" on YARN,
// "spark-submit --master M --kill <namespace>:<driver pod>" on Kubernetes.
func SparkSubmit(cfg SparkSubmitConfig) *SparkSubmitOperator {
	if cfg.Master == "" {
		cfg.Master = SparkMasterDefault
	}
	if cfg.DeployMode == "" {
		cfg.DeployMode = SparkDeployModeDefault
	}
	if cfg.Yarn == "" {
		cfg.Yarn = "yarn"
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = KillGraceDefault
	}
	cfg.ApplicationArgs = slices.Clone(cfg.ApplicationArgs)
	cfg.SubmitOptions = slices.Clone(cfg.SubmitOptions)
	cfg.EnvVars = maps.Clone(cfg.EnvVars)
	return &SparkSubmitOperator{cfg: cfg}
}

func (s *SparkSubmitOperator) onYarn() bool { return s.cfg.Master == "yarn" }
func (s *SparkSubmitOperator) onK8s() bool  { return strings.HasPrefix(s.cfg.Master, "k8s://") }

// Validate checks the application, the deploy mode and the master.
func (s *SparkSubmitOperator) Validate() error {
	c := &s.cfg
	switch {
	case c.Application == "":
		return errors.New("operators.SparkSubmit: Application is empty: expected a jar or Python file")
	case c.DeployMode != "client" && c.DeployMode != "cluster":
		return fmt.Errorf("operators.SparkSubmit: deploy mode %q: expected client or cluster", c.DeployMode)
	case c.DeployMode == "cluster" && (strings.HasPrefix(c.Master, "spark://") || strings.HasPrefix(c.Master, "mesos://")):
		return fmt.Errorf("operators.SparkSubmit: master %s: cluster mode is only supported on YARN and Kubernetes", c.Master)
	case s.onK8s() && c.KubernetesNamespace == "":
		return fmt.Errorf("operators.SparkSubmit: master %s needs KubernetesNamespace", c.Master)
	}
	return nil
}

// Streaming reports SparkSubmitConfig.Streaming.
func (s *SparkSubmitOperator) Streaming() bool { return s.cfg.Streaming }

// Describe returns the command line (with the default name for a task
// called "<task>").
func (s *SparkSubmitOperator) Describe() string {
	exe := s.cfg.Executable
	if exe == "" {
		exe = "spark-submit"
	}
	return strings.Join(s.argv(exe, "<task>", s.cfg.ApplicationArgs), " ")
}

// argv is the command line of task with the application's arguments args.
func (s *SparkSubmitOperator) argv(exe, task string, args []string) []string {
	c := &s.cfg
	name := c.Name
	if name == "" {
		name = "spark_submit_task_" + task
	}
	argv := []string{exe, "--master", c.Master, "--deploy-mode", c.DeployMode, "--name", name}
	for _, k := range slices.Sorted(maps.Keys(c.EnvVars)) {
		switch {
		case s.onYarn():
			argv = append(argv, "--conf", "spark.yarn.appMasterEnv."+k+"="+c.EnvVars[k])
		case s.onK8s():
			argv = append(argv, "--conf", "spark.kubernetes.driverEnv."+k+"="+c.EnvVars[k])
		}
	}
	if c.KubernetesNamespace != "" {
		argv = append(argv, "--conf", "spark.kubernetes.namespace="+c.KubernetesNamespace)
	}
	argv = append(argv, c.SubmitOptions...)
	argv = append(argv, c.Application)
	return append(argv, args...)
}

var (
	sparkAppIDRe    = regexp.MustCompile(`\b(application_\d+_\d+)\b`)
	sparkDriverRe   = regexp.MustCompile(`pod name: (\S+)`)
	sparkExitCodeRe = regexp.MustCompile(`exit code: (-?\d+)`)
)

// sparkWatch collects what spark-submit's output says about the driver.
type sparkWatch struct {
	mu       sync.Mutex
	appID    string
	driver   string
	exitCode int
	exited   bool
}

func (w *sparkWatch) scan(line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m := sparkAppIDRe.FindStringSubmatch(line); m != nil && w.appID == "" {
		w.appID = m[1]
	}
	if m := sparkDriverRe.FindStringSubmatch(line); m != nil && w.driver == "" {
		w.driver = m[1]
	}
	if m := sparkExitCodeRe.FindStringSubmatch(line); m != nil {
		w.exitCode, _ = strconv.Atoi(m[1])
		w.exited = true
	}
}

// Run runs spark-submit until it exits or ctx ends.
func (s *SparkSubmitOperator) Run(ctx context.Context, tc *aiflow.TaskContext) error {
	if err := s.Validate(); err != nil {
		return err
	}
	exe, err := findExecutable(s.cfg.Executable, "spark-submit", "SPARK_HOME")
	if err != nil {
		return fmt.Errorf("spark-submit: %w", err)
	}
	w := &sparkWatch{}
	var env []string
	for _, k := range slices.Sorted(maps.Keys(s.cfg.EnvVars)) {
		env = append(env, k+"="+s.cfg.EnvVars[k])
	}
	p := &process{name: "spark-submit", argv: s.argv(exe, tc.Task, expandTaskEnv(s.cfg.ApplicationArgs, tc)), env: env, killGrace: s.cfg.KillGrace,
		out: &lineWriter{w: tc.Log, fn: w.scan}}
	cmd, done, err := p.start(tc)
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		if err := p.exitError(err); err != nil {
			return err
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if s.onK8s() && w.exited && w.exitCode != 0 {
			return fmt.Errorf("spark-submit: the driver %s exited with code %d", w.driver, w.exitCode)
		}
		return nil
	case <-ctx.Done():
	}
	p.kill(cmd, done)
	stopped := fmt.Errorf("spark-submit: stopped: %w", context.Cause(ctx))
	if s.cfg.DeployMode != "cluster" {
		return stopped
	}
	return errors.Join(stopped, s.killDriver(ctx, tc, exe, w))
}

// killDriver kills a cluster-mode driver after the task was stopped.
func (s *SparkSubmitOperator) killDriver(ctx context.Context, tc *aiflow.TaskContext, exe string, w *sparkWatch) error {
	w.mu.Lock()
	appID, driver := w.appID, w.driver
	w.mu.Unlock()
	var argv []string
	switch {
	case s.onYarn() && appID != "":
		argv = []string{s.cfg.Yarn, "application", "-kill", appID}
	case s.onK8s() && driver != "":
		argv = []string{exe, "--master", s.cfg.Master, "--kill", s.cfg.KubernetesNamespace + ":" + driver}
	default:
		fmt.Fprintln(tc.Log, "aiflow: the driver was not named in spark-submit's output; nothing more to kill")
		return nil
	}
	fmt.Fprintf(tc.Log, "aiflow: killing the driver: %s\n", strings.Join(argv, " "))
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), SparkKillTimeoutDefault)
	defer cancel()
	p := &process{name: "spark-submit", argv: argv, killGrace: s.cfg.KillGrace}
	if err := p.run(kctx, tc); err != nil {
		return fmt.Errorf("spark-submit: killing the driver: %w", err)
	}
	return nil
}

// SparkSQLConfig configures a spark-sql task. Set exactly one of SQL and
// File.
type SparkSQLConfig struct {
	// SQL is the statements to run, passed as they are to spark-sql -e. A
	// single word ending in ".sql" or ".hql" is refused as a likely file
	// path: set File for that.
	SQL string
	// File is the path of a file of statements (spark-sql -f), relative to
	// the task's working directory when not absolute.
	File string
	// Master is the master URL (--master); SparkMasterDefault ("yarn")
	// when empty. The driver runs in the spark-sql process (client mode).
	Master string
	// Name is the application's name (--name); "spark_sql_task_<task>" when
	// empty.
	Name string
	// Executable is the spark-sql command; when empty, "spark-sql" on
	// PATH, else $SPARK_HOME/bin/spark-sql.
	Executable string
	// Options are further options of spark-sql, before -e or -f (for
	// example "--conf", "spark.sql.shuffle.partitions=8").
	Options []string
	// KillGrace is how long the spark-sql process gets between SIGTERM and
	// SIGKILL; KillGraceDefault (5 s) when zero.
	KillGrace time.Duration
}

// SparkSQLOperator runs spark-sql. Create it with SparkSQL.
type SparkSQLOperator struct {
	aiflow.OperatorDefaults
	cfg SparkSQLConfig
}

// SparkSQL returns an operator that runs SQL with spark-sql:
//
//	spark-sql --master M --name N [options] -e SQL        (or -f File)
//
// Its output goes to the task log; a non-zero exit status fails the task.
// When the task is stopped the process group is killed (SIGTERM, then
// SIGKILL after the kill grace period). Unlike AIFlow, the master is passed
// on.
func SparkSQL(cfg SparkSQLConfig) *SparkSQLOperator {
	if cfg.Master == "" {
		cfg.Master = SparkMasterDefault
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = KillGraceDefault
	}
	cfg.Options = slices.Clone(cfg.Options)
	return &SparkSQLOperator{cfg: cfg}
}

// Validate checks that exactly one of SQL and File is set, and that SQL is
// not a file path.
func (s *SparkSQLOperator) Validate() error {
	sql := strings.TrimSpace(s.cfg.SQL)
	switch {
	case sql == "" && s.cfg.File == "":
		return errors.New("operators.SparkSQL: SQL and File are empty: expected statements in SQL or a file of statements in File")
	case sql != "" && s.cfg.File != "":
		return fmt.Errorf("operators.SparkSQL: both SQL and File (%q) are set: expected one of them", s.cfg.File)
	case looksLikeSQLFile(sql):
		return fmt.Errorf("operators.SparkSQL: SQL %q looks like a file path: set File to run a file of statements (SQL is run as statements, with -e)", sql)
	}
	return nil
}

// looksLikeSQLFile reports whether sql is a single word ending in .sql or
// .hql.
func looksLikeSQLFile(sql string) bool {
	return !strings.ContainsFunc(sql, unicode.IsSpace) && (strings.HasSuffix(sql, ".sql") || strings.HasSuffix(sql, ".hql"))
}

// Describe returns the command line (with the default name for a task
// called "<task>").
func (s *SparkSQLOperator) Describe() string {
	exe := s.cfg.Executable
	if exe == "" {
		exe = "spark-sql"
	}
	return strings.Join(s.argv(exe, "<task>"), " ")
}

func (s *SparkSQLOperator) argv(exe, task string) []string {
	c := &s.cfg
	name := c.Name
	if name == "" {
		name = "spark_sql_task_" + task
	}
	argv := append([]string{exe, "--master", c.Master, "--name", name}, c.Options...)
	if c.File != "" {
		return append(argv, "-f", c.File)
	}
	return append(argv, "-e", c.SQL)
}

// Run runs spark-sql until it exits or ctx ends.
func (s *SparkSQLOperator) Run(ctx context.Context, tc *aiflow.TaskContext) error {
	if err := s.Validate(); err != nil {
		return err
	}
	exe, err := findExecutable(s.cfg.Executable, "spark-sql", "SPARK_HOME")
	if err != nil {
		return fmt.Errorf("spark-sql: %w", err)
	}
	p := &process{name: "spark-sql", argv: s.argv(exe, tc.Task), killGrace: s.cfg.KillGrace}
	return p.run(ctx, tc)
}

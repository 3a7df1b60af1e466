//go:build unix

package operators

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aiflow-go/aiflow"
)

// Defaults of FlinkConfig.
const (
	// FlinkPollIntervalDefault is how often Flink asks the cluster for the
	// job's state (each time with "flink list").
	FlinkPollIntervalDefault = 5 * time.Second
	// FlinkStopTimeoutDefault bounds "flink stop" (taking a savepoint) or
	// "flink cancel" when the task is stopped.
	FlinkStopTimeoutDefault = time.Minute
)

// FlinkConfig configures a Flink job. Only Application is required.
type FlinkConfig struct {
	// Application is the job's program: a jar file, or a Python file when
	// CommandOptions carry "-py"/"--python" as Flink expects. Required.
	Application string
	// ApplicationArgs are the program's arguments. References ${NAME} to
	// the task's own environment are replaced when the task execution
	// starts: ${AIFLOW_TASK_EXECUTION_ID} becomes the running task
	// execution's id, ${AIFLOW_WORKFLOW_EXECUTION_ID} its workflow
	// execution's, ${MY_VAR} a WithEnv variable; any other "$" is kept as
	// written, and "$${" stands for a literal "${". The client process's own
	// environment is not expanded.
	ApplicationArgs []string
	// Executable is the flink command line; when empty, "flink" on PATH,
	// else $FLINK_HOME/bin/flink.
	Executable string
	// Target is the deployment target (flink run --target): empty for the
	// cluster of the Flink configuration, "remote", "local", "yarn-per-job",
	// "yarn-session" or "kubernetes-session"; in application mode
	// "yarn-application" or "kubernetes-application". With "local" the job
	// runs inside the flink process (attached, not detached): the process's
	// end is the job's end and stopping kills it.
	Target string
	// ApplicationMode submits with "flink run-application" instead of
	// "flink run --detached".
	ApplicationMode bool
	// KubernetesClusterID is the cluster id of a kubernetes-session or
	// kubernetes-application target (-Dkubernetes.cluster-id). Required
	// for those targets.
	KubernetesClusterID string
	// CommandOptions are options of the submitting command only, before
	// the application (for example "-p", "4", "-c", "com.example.Main").
	CommandOptions []string
	// ClusterOptions are options of every command the operator runs
	// (submitting, listing, stopping, cancelling): how to reach the cluster,
	// for example "-m", "jobmanager:8081", or "-Dyarn.application.id=..."
	// for a yarn session.
	ClusterOptions []string
	// PollInterval is how often the job's state is asked for;
	// FlinkPollIntervalDefault (5 s) when zero.
	PollInterval time.Duration
	// StopWithSavepoint stops the job with "flink stop" (which takes a
	// savepoint) when the task is stopped; otherwise the job is cancelled
	// with "flink cancel".
	StopWithSavepoint bool
	// SavepointDir is where "flink stop" writes the savepoint
	// (--savepointPath); when empty, the cluster's state.savepoints.dir.
	SavepointDir string
	// SavepointEvent, when set, is the key of an event that a stop with a
	// savepoint sends from the task, with the savepoint's path as its value
	// (see aiflow.TaskContext.SendEvent: it carries the task execution and
	// reaches the task's own workflow execution). The path is always in the
	// task log and the status message; the event puts it in the event log,
	// where ListEvents and "aiflow event list" find it and rules can react
	// to it. No event when empty (the default).
	SavepointEvent string
	// StopTimeout bounds stopping or cancelling the job;
	// FlinkStopTimeoutDefault (1 min) when zero. Stopping also has to fit
	// in the client's Config.StopGracePeriod.
	StopTimeout time.Duration
	// Kubectl is the kubectl command used to delete the cluster of a
	// kubernetes-application job once it has ended; "kubectl" when empty.
	Kubectl string
	// Streaming marks a job that never ends by itself (its task is a
	// streaming task, see aiflow.Streaming).
	Streaming bool
	// KillGrace is how long the local flink process gets between SIGTERM
	// and SIGKILL when it must be killed; KillGraceDefault (5 s) when zero.
	KillGrace time.Duration
}

// FlinkOperator submits a Flink job and follows it. Create it with Flink.
type FlinkOperator struct {
	aiflow.OperatorDefaults
	cfg FlinkConfig
}

// Flink returns an operator that submits a job with the flink command line
// and follows it until it ends:
//
//	flink run --detached [--target T] [-Dkubernetes.cluster-id=ID] [cluster options] [command options] application [args...]
//	flink run-application --target T [...] application [args...]           (application mode)
//
// It reads the job id from the command's output ("Job has been submitted with
// JobID ..."; in application mode, when the output has none, from "flink
// list"), then asks for the job's state with "flink list -a" every poll
// interval, reporting each new state as the task's status message. A job that
// FINISHED is a successful task; a job that FAILED, was CANCELED outside the
// task or was SUSPENDED fails the task, with its last state in the log. A
// streaming job keeps its task RUNNING while it runs.
//
// When the task is stopped (STOP, RESTART, its timeout, a client shutdown),
// the job is stopped with a savepoint ("flink stop --savepointPath") when
// StopWithSavepoint is set, recording the savepoint's path in the task log
// and status message (and, with SavepointEvent, in an event), and cancelled
// ("flink cancel") otherwise. A stop or cancel that fails is said in the
// task log and the status message: the job may still be running. A stop
// while the job is being submitted kills the submitting command and, if it
// has printed the job id, stops the job; otherwise the log says that the
// submission was interrupted. A kubernetes-application cluster is deleted
// with kubectl once its job has ended, also after a stop. Every command gets the task's context in AIFLOW_* environment
// variables and writes its output to the task log. A job on a cluster does
// not see those variables: pass what it needs in ApplicationArgs, for
// example "--task-execution-id", "${AIFLOW_TASK_EXECUTION_ID}", which is
// expanded when the task execution starts.
func Flink(cfg FlinkConfig) *FlinkOperator {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = FlinkPollIntervalDefault
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = FlinkStopTimeoutDefault
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = KillGraceDefault
	}
	if cfg.Kubectl == "" {
		cfg.Kubectl = "kubectl"
	}
	cfg.ApplicationArgs = slices.Clone(cfg.ApplicationArgs)
	cfg.CommandOptions = slices.Clone(cfg.CommandOptions)
	cfg.ClusterOptions = slices.Clone(cfg.ClusterOptions)
	return &FlinkOperator{cfg: cfg}
}

// Validate checks the application and the target.
func (f *FlinkOperator) Validate() error {
	c := &f.cfg
	if c.Application == "" {
		return errors.New("operators.Flink: Application is empty: expected the job's jar or Python file")
	}
	if c.ApplicationMode {
		if c.Target != "yarn-application" && c.Target != "kubernetes-application" {
			return fmt.Errorf("operators.Flink: target %q: application mode expects yarn-application or kubernetes-application", c.Target)
		}
	} else if !slices.Contains([]string{"", "local", "remote", "yarn-per-job", "yarn-session", "kubernetes-session"}, c.Target) {
		return fmt.Errorf("operators.Flink: target %q: expected local, remote, yarn-per-job, yarn-session or kubernetes-session (or yarn-application, kubernetes-application in application mode)", c.Target)
	}
	if strings.HasPrefix(c.Target, "kubernetes-") && c.KubernetesClusterID == "" {
		return fmt.Errorf("operators.Flink: target %s needs KubernetesClusterID", c.Target)
	}
	if c.Target == "local" && c.StopWithSavepoint {
		return errors.New("operators.Flink: a local job cannot be stopped with a savepoint")
	}
	return nil
}

// Streaming reports FlinkConfig.Streaming.
func (f *FlinkOperator) Streaming() bool { return f.cfg.Streaming }

// Describe returns the submitting command line.
func (f *FlinkOperator) Describe() string {
	exe := f.cfg.Executable
	if exe == "" {
		exe = "flink"
	}
	return strings.Join(f.submitArgv(exe, f.cfg.ApplicationArgs), " ")
}

// submitArgv is the submitting command line with the application's
// arguments args.
func (f *FlinkOperator) submitArgv(exe string, args []string) []string {
	c := &f.cfg
	argv := []string{exe}
	if c.ApplicationMode {
		argv = append(argv, "run-application")
	} else {
		argv = append(argv, "run")
		if c.Target != "local" {
			argv = append(argv, "--detached")
		}
	}
	if c.Target != "" {
		argv = append(argv, "--target", c.Target)
	}
	if c.Target == "kubernetes-application" {
		// Keep the cluster after the job ends, so that its final state can be
		// read; the operator deletes it.
		argv = append(argv, "-Dexecution.shutdown-on-application-finish=false")
	}
	if c.KubernetesClusterID != "" {
		argv = append(argv, "-Dkubernetes.cluster-id="+c.KubernetesClusterID)
	}
	argv = append(argv, c.ClusterOptions...)
	argv = append(argv, c.CommandOptions...)
	argv = append(argv, c.Application)
	return append(argv, args...)
}

// targetArgs are the options that point list, stop and cancel at the job's
// cluster.
func (f *FlinkOperator) targetArgs(appID string) []string {
	c := &f.cfg
	var argv []string
	if c.Target != "" {
		argv = append(argv, "--target", c.Target)
	}
	if c.KubernetesClusterID != "" {
		argv = append(argv, "-Dkubernetes.cluster-id="+c.KubernetesClusterID)
	}
	if appID != "" && !slices.ContainsFunc(c.ClusterOptions, func(o string) bool { return strings.HasPrefix(o, "-Dyarn.application.id=") }) {
		argv = append(argv, "-Dyarn.application.id="+appID)
	}
	return append(argv, c.ClusterOptions...)
}

var (
	flinkJobIDRe     = regexp.MustCompile(`JobID ([0-9a-fA-F]{32})`)
	flinkAppIDRe     = regexp.MustCompile(`\b(application_\d+_\d+)\b`)
	flinkListLineRe  = regexp.MustCompile(`:\s*([0-9a-fA-F]{32})\s*:.*\(([A-Z_]+)\)\s*$`)
	flinkSavepointRe = regexp.MustCompile(`Savepoint completed\. Path: (\S+)`)
)

// flinkRun is one attempt's job.
type flinkRun struct {
	f     *FlinkOperator
	tc    *aiflow.TaskContext
	exe   string
	mu    sync.Mutex
	jobID string
	appID string
}

func (r *flinkRun) ids() (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.jobID, r.appID
}

func (r *flinkRun) scan(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := flinkJobIDRe.FindStringSubmatch(line); m != nil && r.jobID == "" {
		r.jobID = strings.ToLower(m[1])
	}
	if m := flinkAppIDRe.FindStringSubmatch(line); m != nil && r.appID == "" {
		r.appID = m[1]
	}
}

func (r *flinkRun) command(argv ...string) *process {
	return &process{name: "flink", argv: append([]string{r.exe}, argv...), killGrace: r.f.cfg.KillGrace}
}

// Run submits the job and follows it until it ends or ctx ends.
func (f *FlinkOperator) Run(ctx context.Context, tc *aiflow.TaskContext) error {
	if err := f.Validate(); err != nil {
		return err
	}
	exe, err := findExecutable(f.cfg.Executable, "flink", "FLINK_HOME")
	if err != nil {
		return fmt.Errorf("flink: %w", err)
	}
	r := &flinkRun{f: f, tc: tc, exe: exe}
	submit := &process{name: "flink", argv: f.submitArgv(exe, expandTaskEnv(f.cfg.ApplicationArgs, tc)), killGrace: f.cfg.KillGrace,
		out: &lineWriter{w: tc.Log, fn: r.scan}}
	if f.cfg.Target == "local" {
		// The job runs inside the flink process.
		return submit.run(ctx, tc)
	}
	fmt.Fprintf(tc.Log, "aiflow: submitting the Flink job: %s\n", strings.Join(submit.argv, " "))
	cmd, done, err := submit.start(tc)
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		if err := submit.exitError(err); err != nil {
			return err
		}
	case <-ctx.Done():
		submit.kill(cmd, done)
		if id, _ := r.ids(); id != "" {
			// The job was submitted: stop it like a running one.
			return r.stop(ctx)
		}
		err := fmt.Errorf("flink: the submission was interrupted before it printed a job id (%v): if the cluster accepted the job anyway, it was not stopped", context.Cause(ctx))
		fmt.Fprintf(tc.Log, "aiflow: %v\n", err)
		r.report(ctx, "flink: the submission was interrupted before it printed a job id")
		return err
	}
	if id, _ := r.ids(); id == "" {
		if !f.cfg.ApplicationMode {
			return errors.New(`flink: the job id is not in the output of flink run (expected "Job has been submitted with JobID <id>"); see the task log`)
		}
		if err := r.discoverJob(ctx); err != nil {
			return err
		}
	}
	return r.follow(ctx)
}

// discoverJob finds the job of an application cluster with flink list.
func (r *flinkRun) discoverJob(ctx context.Context) error {
	const tries = 10
	t := time.NewTicker(r.f.cfg.PollInterval)
	defer t.Stop()
	for i := 0; i < tries; i++ {
		_, appID := r.ids()
		out, err := r.command(append([]string{"list", "-a"}, r.targetArgs(appID)...)...).output(ctx, r.tc)
		if err == nil {
			for _, line := range strings.Split(out, "\n") {
				if m := flinkListLineRe.FindStringSubmatch(line); m != nil {
					r.mu.Lock()
					r.jobID = strings.ToLower(m[1])
					r.mu.Unlock()
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("flink: looking for the application's job: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
	return fmt.Errorf("flink: the application cluster listed no job after %d tries", tries)
}

func (r *flinkRun) targetArgs(appID string) []string { return r.f.targetArgs(appID) }

// Failures tolerated in a row before the job is given up: listing errors,
// and listings that do not show the job.
const (
	flinkListErrorsMax = 5
	flinkMissesMax     = 3
)

// follow polls the job's state until it ends or ctx ends.
func (r *flinkRun) follow(ctx context.Context) error {
	jobID, _ := r.ids()
	fmt.Fprintf(r.tc.Log, "aiflow: following Flink job %s\n", jobID)
	r.report(ctx, "flink job "+jobID+": SUBMITTED")
	t := time.NewTicker(r.f.cfg.PollInterval)
	defer t.Stop()
	var state string
	errorsInARow, misses := 0, 0
	for {
		_, appID := r.ids()
		out, err := r.command(append([]string{"list", "-a"}, r.targetArgs(appID)...)...).output(ctx, r.tc)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			errorsInARow++
			fmt.Fprintf(r.tc.Log, "aiflow: asking for the state of Flink job %s failed (%d in a row): %v\n%s", jobID, errorsInARow, err, out)
			if errorsInARow >= flinkListErrorsMax {
				return fmt.Errorf("flink: asking for the state of job %s failed %d times in a row: %w", jobID, errorsInARow, err)
			}
		default:
			errorsInARow = 0
			s, line := listedState(out, jobID)
			if s == "" {
				misses++
				if misses >= flinkMissesMax {
					fmt.Fprintf(r.tc.Log, "%s", out)
					return fmt.Errorf("flink: job %s is not listed by the cluster (%d times in a row)", jobID, misses)
				}
				break
			}
			misses = 0
			if s != state {
				state = s
				fmt.Fprintf(r.tc.Log, "aiflow: Flink job %s is %s\n", jobID, s)
				r.report(ctx, "flink job "+jobID+": "+s)
			}
			switch s {
			case "FINISHED":
				return r.cleanUp(ctx)
			case "FAILED", "CANCELED", "SUSPENDED":
				fmt.Fprintf(r.tc.Log, "aiflow: %s\n", strings.TrimSpace(line))
				err := fmt.Errorf("flink: job %s %s", jobID, s)
				if s == "CANCELED" {
					err = fmt.Errorf("flink: job %s was CANCELED outside the task", jobID)
				}
				return errors.Join(err, r.cleanUp(ctx))
			}
		}
		select {
		case <-ctx.Done():
			return r.stop(ctx)
		case <-t.C:
		}
	}
}

// listedState finds the job's state in the output of flink list.
func listedState(out, jobID string) (state, line string) {
	for _, l := range strings.Split(out, "\n") {
		if m := flinkListLineRe.FindStringSubmatch(l); m != nil && strings.EqualFold(m[1], jobID) {
			return m[2], l
		}
	}
	return "", ""
}

func (r *flinkRun) report(ctx context.Context, msg string) {
	if ctx.Err() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	if err := r.tc.ReportStatus(ctx, msg); err != nil {
		r.tc.Logger.Warn("reporting the Flink job's state failed", "error", err)
	}
}

// stop stops (with a savepoint) or cancels the job after ctx ended.
func (r *flinkRun) stop(ctx context.Context) error {
	cause := context.Cause(ctx)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.f.cfg.StopTimeout)
	defer cancel()
	jobID, appID := r.ids()
	var argv []string
	if r.f.cfg.StopWithSavepoint {
		argv = []string{"stop"}
		if r.f.cfg.SavepointDir != "" {
			argv = append(argv, "--savepointPath", r.f.cfg.SavepointDir)
		}
	} else {
		argv = []string{"cancel"}
	}
	argv = append(append(argv, r.targetArgs(appID)...), jobID)
	fmt.Fprintf(r.tc.Log, "aiflow: the task is stopping (%v): flink %s\n", cause, strings.Join(argv, " "))
	p := r.command(argv...)
	var buf syncBuffer
	p.out = &lineWriter{w: r.tc.Log, fn: func(line string) { fmt.Fprintln(&buf, line) }}
	err := p.run(sctx, r.tc)
	if err != nil {
		fmt.Fprintf(r.tc.Log, "aiflow: flink %s failed, job %s may still be running: %v\n", argv[0], jobID, err)
		r.report(sctx, "flink job "+jobID+": "+argv[0]+" failed, the job may still be running: "+err.Error())
		err = fmt.Errorf("flink: %s job %s failed, the job may still be running: %w", argv[0], jobID, err)
	} else if r.f.cfg.StopWithSavepoint {
		if m := flinkSavepointRe.FindStringSubmatch(buf.String()); m != nil {
			fmt.Fprintf(r.tc.Log, "aiflow: Flink job %s stopped with a savepoint at %s\n", jobID, m[1])
			r.report(sctx, "flink job "+jobID+": stopped with a savepoint at "+m[1])
			r.sendSavepoint(sctx, m[1])
		} else {
			fmt.Fprintf(r.tc.Log, "aiflow: Flink job %s stopped; its output names no savepoint\n", jobID)
		}
	} else {
		r.report(sctx, "flink job "+jobID+": cancelled")
	}
	return errors.Join(fmt.Errorf("flink: job %s stopped: %w", jobID, cause), err, r.cleanUp(sctx))
}

// sendSavepoint sends the savepoint's path as FlinkConfig.SavepointEvent.
func (r *flinkRun) sendSavepoint(ctx context.Context, path string) {
	key := r.f.cfg.SavepointEvent
	if key == "" {
		return
	}
	if _, err := r.tc.SendEvent(ctx, key, path, nil); err != nil {
		fmt.Fprintf(r.tc.Log, "aiflow: sending the savepoint's path as event %q failed: %v\n", key, err)
		r.tc.Logger.Warn("sending the savepoint event failed", "key", key, "error", err)
	}
}

// cleanUp deletes the cluster of a kubernetes-application job.
func (r *flinkRun) cleanUp(ctx context.Context) error {
	if r.f.cfg.Target != "kubernetes-application" {
		return nil
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), r.f.cfg.StopTimeout)
		defer cancel()
	}
	p := &process{name: "kubectl", argv: []string{r.f.cfg.Kubectl, "delete", "deployment/" + r.f.cfg.KubernetesClusterID},
		killGrace: r.f.cfg.KillGrace}
	if err := p.run(ctx, r.tc); err != nil {
		return fmt.Errorf("flink: deleting the application cluster %s: %w", r.f.cfg.KubernetesClusterID, err)
	}
	return nil
}

//go:build unix

package operators_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
)

var jobIDRe = regexp.MustCompile(`JobID ([0-9a-f]{32})`)

func jobID(t *testing.T, log string) string {
	t.Helper()
	m := jobIDRe.FindStringSubmatch(log)
	require.NotNil(t, m, "no job id in the log:\n%s", log)
	return m[1]
}

func TestFlinkBatchJobEndsTheTask(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	wf := aiflow.NewWorkflow("w")
	wf.Task("wordcount", operators.Flink(operators.FlinkConfig{
		Application:     "wordcount.jar",
		ApplicationArgs: []string{"--input", "in.txt", "--output", "out"},
		Executable:      bin(t, "flink"),
		Target:          "yarn-per-job",
		CommandOptions:  []string{"-p", "4", "-c", "org.example.WordCount"},
		ClusterOptions:  []string{"-Dyarn.application.queue=batch"},
		PollInterval:    10 * time.Millisecond,
	}), aiflow.WithEnv(fk.env("FAKE_FLINK_MODE", "batch", "FAKE_FLINK_POLLS", "2")))
	env := newEnv(t, wf)
	_, te := env.RunTask("w", "wordcount", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	log := env.WaitTaskLog(te.ID, "is FINISHED")
	id := jobID(t, log)
	require.Contains(t, log, "aiflow: Flink job "+id+" is RUNNING")

	runs := fk.callsOf("flink", "run")
	require.Len(t, runs, 1)
	require.Equal(t, []string{"run", "--detached", "--target", "yarn-per-job", "-Dyarn.application.queue=batch",
		"-p", "4", "-c", "org.example.WordCount", "wordcount.jar", "--input", "in.txt", "--output", "out"}, runs[0])
	lists := fk.callsOf("flink", "list")
	require.GreaterOrEqual(t, len(lists), 3, "RUNNING twice, then FINISHED")
	require.Equal(t, []string{"list", "-a", "--target", "yarn-per-job", "-Dyarn.application.id=application_1700000000000_0042",
		"-Dyarn.application.queue=batch"}, lists[0], "the YARN application id from the submission's output")
	require.Empty(t, fk.callsOf("flink", "cancel"))
	require.Equal(t, "flink job "+id+": FINISHED", te.StatusMessage)
}

// References to the task's context in ApplicationArgs reach the job as the
// values of the running task execution; the declaration (Describe) keeps
// them as written.
func TestFlinkApplicationArgsGetTheTaskContext(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	cfg := operators.FlinkConfig{
		Application: "hourly.jar",
		ApplicationArgs: []string{"--task-execution-id", "${AIFLOW_TASK_EXECUTION_ID}",
			"--run=${AIFLOW_WORKFLOW_EXECUTION_ID}-${AIFLOW_TASK}-${AIFLOW_SEQ_NUM}", "--out", "${OUT}/x",
			"--price", "$5", "${HOME}", "$${AIFLOW_TASK}"},
		Executable:   bin(t, "flink"),
		PollInterval: 10 * time.Millisecond,
	}
	wf := aiflow.NewWorkflow("w")
	wf.Task("hourly", operators.Flink(cfg), aiflow.WithEnv(fk.env("FAKE_FLINK_MODE", "batch", "FAKE_FLINK_POLLS", "0", "OUT", "/data")))
	env := newEnv(t, wf)
	x, te := env.RunTask("w", "hourly", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	runs := fk.callsOf("flink", "run")
	require.Len(t, runs, 1)
	require.Equal(t, []string{"run", "--detached", "hourly.jar", "--task-execution-id", strconv.FormatInt(te.ID, 10),
		fmt.Sprintf("--run=%d-hourly-1", x), "--out", "/data/x", "--price", "$5", "${HOME}", "${AIFLOW_TASK}"}, runs[0])
	require.Equal(t, "flink run --detached hourly.jar --task-execution-id ${AIFLOW_TASK_EXECUTION_ID} "+
		"--run=${AIFLOW_WORKFLOW_EXECUTION_ID}-${AIFLOW_TASK}-${AIFLOW_SEQ_NUM} --out ${OUT}/x --price $5 ${HOME} $${AIFLOW_TASK}",
		operators.Flink(operators.FlinkConfig{Application: cfg.Application, ApplicationArgs: cfg.ApplicationArgs}).Describe())
}

func TestFlinkStreamingJobStopsWithASavepoint(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	savepoints := t.TempDir()
	wf := aiflow.NewWorkflow("w")
	wf.Task("stream", operators.Flink(operators.FlinkConfig{
		Application:         "topspeed.jar",
		Executable:          bin(t, "flink"),
		Target:              "kubernetes-session",
		KubernetesClusterID: "session-1",
		PollInterval:        10 * time.Millisecond,
		Streaming:           true,
		StopWithSavepoint:   true,
		SavepointDir:        savepoints,
		SavepointEvent:      "stream_savepoint",
	}), aiflow.WithEnv(fk.env("FAKE_FLINK_MODE", "streaming")))
	env := newEnv(t, wf)
	x, te := env.RunTask("w", "stream", aiflow.TaskRunning)
	require.True(t, te.Streaming, "a streaming Flink job makes a streaming task")
	log := env.WaitTaskLog(te.ID, "is RUNNING")
	id := jobID(t, log)
	// Several polls, the task is still RUNNING.
	require.Eventually(t, func() bool { return len(fk.callsOf("flink", "list")) >= 3 }, 30*time.Second, 5*time.Millisecond)
	require.Equal(t, aiflow.TaskRunning, env.WaitTaskExecution(x, "stream", 1, aiflow.TaskRunning).Status)

	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "stream"))
	te = env.WaitTaskExecution(x, "stream", 1, aiflow.TaskStopped)
	log = env.WaitTaskLog(te.ID, "stopped with a savepoint")
	path := "file:" + savepoints + "/savepoint-" + id[:6] + "-0123456789ab"
	require.Contains(t, log, "aiflow: Flink job "+id+" stopped with a savepoint at "+path)
	require.Equal(t, "flink job "+id+": stopped with a savepoint at "+path, te.StatusMessage)
	// SavepointEvent: the path is in the event log too, sent by the task
	// execution.
	evs, _, err := env.Client.ListEvents(env.Context(), &aiflow.EventFilter{ExecutionID: x, Keys: []string{"stream_savepoint"}})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, path, evs[0].Value)
	require.Equal(t, te.ID, evs[0].TaskExecutionID)
	require.Equal(t, "stream", evs[0].TaskName)
	require.Equal(t, []string{"run", "--detached", "--target", "kubernetes-session", "-Dkubernetes.cluster-id=session-1", "topspeed.jar"},
		fk.callsOf("flink", "run")[0])
	require.Equal(t, []string{"list", "-a", "--target", "kubernetes-session", "-Dkubernetes.cluster-id=session-1"}, fk.callsOf("flink", "list")[0])
	require.Equal(t, [][]string{{"stop", "--savepointPath", savepoints, "--target", "kubernetes-session", "-Dkubernetes.cluster-id=session-1", id}},
		fk.callsOf("flink", "stop"))
	require.Empty(t, fk.callsOf("flink", "cancel"))
}

func TestFlinkStreamingJobIsCancelledOnStopAndOnTimeout(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	fk2 := newFake(t)
	op := operators.FlinkConfig{
		Application:    "job.jar",
		Executable:     bin(t, "flink"),
		ClusterOptions: []string{"-m", "jobmanager:8081"},
		PollInterval:   10 * time.Millisecond,
		Streaming:      true,
	}
	wf := aiflow.NewWorkflow("w")
	wf.Task("stopped", operators.Flink(op), aiflow.WithEnv(fk.env("FAKE_FLINK_MODE", "streaming")))
	// The timeout must leave the fake flink time to submit (start bash,
	// print the job id) on a loaded machine under -race: 300 ms did not,
	// and then the interrupted submission has no job to cancel.
	wf.Task("timed_out", operators.Flink(op), aiflow.WithEnv(fk2.env("FAKE_FLINK_MODE", "streaming")),
		aiflow.WithTimeout(3*time.Second))
	env := newEnv(t, wf)
	x, te := env.RunTask("w", "stopped", aiflow.TaskRunning)
	id := jobID(t, env.WaitTaskLog(te.ID, "is RUNNING"))
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "stopped"))
	te = env.WaitTaskExecution(x, "stopped", 1, aiflow.TaskStopped)
	require.Equal(t, [][]string{{"cancel", "-m", "jobmanager:8081", id}}, fk.callsOf("flink", "cancel"))
	require.Equal(t, "flink job "+id+": cancelled", te.StatusMessage)
	require.Equal(t, []string{"run", "--detached", "-m", "jobmanager:8081", "job.jar"}, fk.callsOf("flink", "run")[0])

	te = env.WaitTaskExecution(x, "timed_out", 1, aiflow.TaskFailed)
	require.Contains(t, te.Error, "timed out")
	id2 := jobID(t, env.WaitTaskLog(te.ID, "Cancelled job"))
	require.Equal(t, [][]string{{"cancel", "-m", "jobmanager:8081", id2}}, fk2.callsOf("flink", "cancel"))
}

func TestFlinkFailedJobFailsTheTask(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	rejected := newFake(t)
	op := operators.FlinkConfig{Application: "job.jar", Executable: bin(t, "flink"), PollInterval: 10 * time.Millisecond}
	wf := aiflow.NewWorkflow("w")
	wf.Task("fails", operators.Flink(op), aiflow.WithEnv(fk.env("FAKE_FLINK_MODE", "fail", "FAKE_FLINK_POLLS", "1")))
	wf.Task("rejected", operators.Flink(op), aiflow.WithEnv(rejected.env("FAKE_FLINK_MODE", "reject")))
	env := newEnv(t, wf)
	x, te := env.RunTask("w", "fails", aiflow.TaskFailed)
	log := env.WaitTaskLog(te.ID, `\(FAILED\)`)
	id := jobID(t, log)
	require.Contains(t, te.Error, "flink: job "+id+" FAILED")
	require.Contains(t, log, "aiflow: 01.01.2024 00:00:00 : "+id+" : Fake Job (FAILED)", "the reason is in the log")

	te = env.WaitTaskExecution(x, "rejected", 1, aiflow.TaskFailed)
	require.Contains(t, te.Error, "exited with status 1")
	env.WaitTaskLog(te.ID, "ProgramInvocationException: The main method caused an error")
	require.Empty(t, rejected.callsOf("flink", "list"))
}

func TestFlinkApplicationModeOnKubernetes(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	wf := aiflow.NewWorkflow("w")
	wf.Task("app", operators.Flink(operators.FlinkConfig{
		Application:         "local:///opt/flink/usrlib/job.jar",
		ApplicationArgs:     []string{"--day", "2024-01-01"},
		Executable:          bin(t, "flink"),
		Kubectl:             bin(t, "kubectl"),
		Target:              "kubernetes-application",
		ApplicationMode:     true,
		KubernetesClusterID: "app-1",
		CommandOptions:      []string{"-Dkubernetes.container.image=job:1"},
		PollInterval:        10 * time.Millisecond,
	}), aiflow.WithEnv(fk.env("FAKE_FLINK_MODE", "batch", "FAKE_FLINK_POLLS", "2")))
	env := newEnv(t, wf)
	_, te := env.RunTask("w", "app", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	require.Equal(t, [][]string{{"run-application", "--target", "kubernetes-application", "-Dexecution.shutdown-on-application-finish=false",
		"-Dkubernetes.cluster-id=app-1", "-Dkubernetes.container.image=job:1", "local:///opt/flink/usrlib/job.jar", "--day", "2024-01-01"}},
		fk.callsOf("flink", "run-application"))
	// The job id came from flink list, not from the output of run-application.
	require.Regexp(t, `^flink job [0-9a-f]{32}: FINISHED$`, te.StatusMessage)
	require.Equal(t, [][]string{{"delete", "deployment/app-1"}}, fk.calls("kubectl"), "the application cluster is deleted")
}

func TestFlinkLocalJobRunsInTheProcess(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	wf := aiflow.NewWorkflow("w")
	wf.Task("local", operators.Flink(operators.FlinkConfig{Application: "job.jar", Executable: bin(t, "flink"), Target: "local", Streaming: true}),
		aiflow.WithEnv(fk.env("FAKE_FLINK_MODE", "streaming")))
	env := newEnv(t, wf)
	x, te := env.RunTask("w", "local", aiflow.TaskRunning)
	env.WaitTaskLog(te.ID, "JobID")
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "local"))
	te = env.WaitTaskExecution(x, "local", 1, aiflow.TaskStopped)
	env.WaitTaskLog(te.ID, "local job [0-9a-f]+ killed")
	require.Equal(t, [][]string{{"run", "--target", "local", "job.jar"}}, fk.calls("flink"), "attached: no list, no cancel")
}

func TestFlinkConfigurationIsValidatedAtRegistration(t *testing.T) {
	t.Parallel()
	for _, cfg := range []operators.FlinkConfig{
		{},
		{Application: "a.jar", Target: "yarn"},
		{Application: "a.jar", Target: "kubernetes-session"},
		{Application: "a.jar", Target: "yarn-per-job", ApplicationMode: true},
		{Application: "a.jar", Target: "local", StopWithSavepoint: true},
	} {
		wf := aiflow.NewWorkflow("w")
		wf.Task("t", operators.Flink(cfg))
		c, err := aiflow.New(&aiflow.Config{Store: newMemoryStore()})
		require.NoError(t, err)
		err = c.Register(t.Context(), wf)
		require.Error(t, err, "%+v", cfg)
		require.True(t, errors.Is(err, aiflow.ErrInvalidWorkflow), err)
	}
}

// release lets a submission blocked by FAKE_FLINK_SUBMIT go on.
func (f *fake) release() {
	require.NoError(f.t, os.MkdirAll(f.state, 0o755))
	require.NoError(f.t, os.WriteFile(filepath.Join(f.state, "release"), nil, 0o644))
}

// jobs returns the ids of the jobs the fake flink holds.
func (f *fake) jobs() []string {
	entries, err := os.ReadDir(filepath.Join(f.state, "jobs"))
	require.NoError(f.t, err)
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}

// A stop while flink run is still running kills it; a job whose id it had
// printed is cancelled, and without an id the log says that the submission
// was interrupted.
func TestFlinkStopDuringSubmission(t *testing.T) {
	t.Parallel()
	afterID, beforeID := newFake(t), newFake(t)
	t.Cleanup(afterID.release)
	t.Cleanup(beforeID.release)
	op := operators.FlinkConfig{Application: "job.jar", Executable: bin(t, "flink"), PollInterval: 10 * time.Millisecond, Streaming: true}
	wf := aiflow.NewWorkflow("w")
	wf.Task("after_id", operators.Flink(op), aiflow.WithEnv(afterID.env("FAKE_FLINK_MODE", "streaming", "FAKE_FLINK_SUBMIT", "after-id")))
	wf.Task("before_id", operators.Flink(op), aiflow.WithEnv(beforeID.env("FAKE_FLINK_MODE", "streaming", "FAKE_FLINK_SUBMIT", "before-id")))
	env := newEnv(t, wf)

	x, te := env.RunTask("w", "after_id", aiflow.TaskRunning)
	id := jobID(t, env.WaitTaskLog(te.ID, "JobID")) // flink run printed it and blocks
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "after_id"))
	te = env.WaitTaskExecution(x, "after_id", 1, aiflow.TaskStopped)
	require.Equal(t, [][]string{{"cancel", id}}, afterID.callsOf("flink", "cancel"), "the submitted job is cancelled")
	require.Empty(t, afterID.callsOf("flink", "list"), "the job was never followed")
	require.Equal(t, "flink job "+id+": cancelled", te.StatusMessage)
	env.WaitTaskLog(te.ID, "Cancelled job "+id)

	te = env.WaitTaskExecution(x, "before_id", 1, aiflow.TaskRunning)
	env.WaitTaskLog(te.ID, "Submitting the job")
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "before_id"))
	te = env.WaitTaskExecution(x, "before_id", 1, aiflow.TaskStopped)
	env.WaitTaskLog(te.ID, "aiflow: flink: the submission was interrupted before it printed a job id")
	require.Equal(t, "flink: the submission was interrupted before it printed a job id", te.StatusMessage)
	require.Equal(t, [][]string{{"run", "--detached", "job.jar"}}, beforeID.calls("flink"), "no job id: nothing to stop")
}

// A stop or cancel that fails says so in the task log and the status
// message; after a client shutdown it is the attempt's error.
func TestFlinkFailingStopIsReported(t *testing.T) {
	t.Parallel()
	cancelFails, stopFails := newFake(t), newFake(t)
	op := operators.FlinkConfig{Application: "job.jar", Executable: bin(t, "flink"), PollInterval: 10 * time.Millisecond, Streaming: true}
	wf := aiflow.NewWorkflow("w")
	wf.Task("cancel_fails", operators.Flink(op), aiflow.WithEnv(cancelFails.env("FAKE_FLINK_MODE", "streaming", "FAKE_FLINK_STOP", "fail")))
	env := newEnv(t, wf)
	x, te := env.RunTask("w", "cancel_fails", aiflow.TaskRunning)
	id := jobID(t, env.WaitTaskLog(te.ID, "is RUNNING"))
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "cancel_fails"))
	te = env.WaitTaskExecution(x, "cancel_fails", 1, aiflow.TaskStopped)
	log := env.WaitTaskLog(te.ID, "aiflow: flink cancel failed, job "+id+" may still be running: .*exited with status 1")
	require.Contains(t, log, "FlinkException: Could not cancel job "+id+".")
	require.Regexp(t, "^flink job "+id+": cancel failed, the job may still be running: .*exited with status 1$", te.StatusMessage)
	require.Equal(t, []string{"RUNNING 2"}, readJobs(t, cancelFails), "the fake's job is still running")

	// A client that shuts down stops its streaming tasks too: the attempt
	// ends RETRYING with the failure as its error.
	op.StopWithSavepoint = true
	wf = aiflow.NewWorkflow("w")
	wf.Task("stop_fails", operators.Flink(op), aiflow.WithEnv(stopFails.env("FAKE_FLINK_MODE", "streaming", "FAKE_FLINK_STOP", "fail")))
	env = newEnv(t, wf)
	x, te = env.RunTask("w", "stop_fails", aiflow.TaskRunning)
	id = jobID(t, env.WaitTaskLog(te.ID, "is RUNNING"))
	require.NoError(t, env.Client.Stop(env.Context()))
	te = env.WaitTaskExecution(x, "stop_fails", 1, aiflow.TaskRetrying)
	require.Regexp(t, "flink: stop job "+id+" failed, the job may still be running: .*exited with status 1", te.Error)
	env.WaitTaskLog(te.ID, "FlinkException: Could not stop job "+id+".")
	require.Len(t, stopFails.callsOf("flink", "stop"), 1)
}

// readJobs returns the contents of the fake flink's job files.
func readJobs(t *testing.T, f *fake) []string {
	var out []string
	for _, id := range f.jobs() {
		data, err := os.ReadFile(filepath.Join(f.state, "jobs", id))
		require.NoError(t, err)
		out = append(out, strings.TrimSpace(string(data)))
	}
	return out
}

// A stopped job of a kubernetes-application cluster is cancelled on its
// cluster, and the cluster is deleted.
func TestFlinkKubernetesApplicationIsDeletedAfterAStop(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	wf := aiflow.NewWorkflow("w")
	wf.Task("app", operators.Flink(operators.FlinkConfig{
		Application:         "local:///opt/flink/usrlib/job.jar",
		Executable:          bin(t, "flink"),
		Kubectl:             bin(t, "kubectl"),
		Target:              "kubernetes-application",
		ApplicationMode:     true,
		KubernetesClusterID: "app-2",
		PollInterval:        10 * time.Millisecond,
		Streaming:           true,
	}), aiflow.WithEnv(fk.env("FAKE_FLINK_MODE", "streaming")))
	env := newEnv(t, wf)
	x, te := env.RunTask("w", "app", aiflow.TaskRunning)
	env.WaitTaskLog(te.ID, "is RUNNING")
	require.Empty(t, fk.calls("kubectl"), "the cluster lives while its job runs")
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "app"))
	te = env.WaitTaskExecution(x, "app", 1, aiflow.TaskStopped)
	ids := fk.jobs()
	require.Len(t, ids, 1)
	require.Equal(t, [][]string{{"cancel", "--target", "kubernetes-application", "-Dkubernetes.cluster-id=app-2", ids[0]}},
		fk.callsOf("flink", "cancel"))
	require.Equal(t, [][]string{{"delete", "deployment/app-2"}}, fk.calls("kubectl"), "the application cluster is deleted after the stop")
	require.Equal(t, "flink job "+ids[0]+": cancelled", te.StatusMessage)
}

// In yarn-application mode flink run-application prints no job id: the job
// is found with flink list on the YARN application it printed.
func TestFlinkYarnApplicationModeFindsTheJobWithFlinkList(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	wf := aiflow.NewWorkflow("w")
	wf.Task("app", operators.Flink(operators.FlinkConfig{
		Application:     "hdfs:///jobs/job.jar",
		ApplicationArgs: []string{"--day", "2024-01-01"},
		Executable:      bin(t, "flink"),
		Kubectl:         bin(t, "kubectl"),
		Target:          "yarn-application",
		ApplicationMode: true,
		ClusterOptions:  []string{"-Dyarn.application.queue=batch"},
		PollInterval:    10 * time.Millisecond,
	}), aiflow.WithEnv(fk.env("FAKE_FLINK_MODE", "batch", "FAKE_FLINK_POLLS", "1")))
	env := newEnv(t, wf)
	_, te := env.RunTask("w", "app", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	require.Equal(t, [][]string{{"run-application", "--target", "yarn-application", "-Dyarn.application.queue=batch",
		"hdfs:///jobs/job.jar", "--day", "2024-01-01"}}, fk.callsOf("flink", "run-application"))
	ids := fk.jobs()
	require.Len(t, ids, 1)
	log := env.WaitTaskLog(te.ID, "is FINISHED")
	require.NotContains(t, log, "JobID", "run-application printed no job id")
	require.Contains(t, log, "aiflow: following Flink job "+ids[0])
	lists := fk.callsOf("flink", "list")
	require.GreaterOrEqual(t, len(lists), 2, "one list finds the job, the next follow it")
	for _, l := range lists {
		require.Equal(t, []string{"list", "-a", "--target", "yarn-application", "-Dyarn.application.id=application_1700000000000_0042",
			"-Dyarn.application.queue=batch"}, l)
	}
	require.Equal(t, "flink job "+ids[0]+": FINISHED", te.StatusMessage)
	require.Empty(t, fk.calls("kubectl"), "only a kubernetes-application cluster is deleted")
}

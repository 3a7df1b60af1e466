//go:build unix

package operators_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
)

func TestSparkSubmitOnYarnInClusterMode(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	streaming := newFake(t)
	cfg := operators.SparkSubmitConfig{
		Application:     "spark-examples.jar",
		ApplicationArgs: []string{"100", "--run", "${AIFLOW_WORKFLOW_EXECUTION_ID}/${AIFLOW_TASK_EXECUTION_ID}", "$HOME"},
		Executable:      bin(t, "spark-submit"),
		Yarn:            bin(t, "yarn"),
		DeployMode:      "cluster",
		SubmitOptions:   []string{"--class", "org.apache.spark.examples.SparkPi", "--conf", "spark.executor.memory=2g"},
		EnvVars:         map[string]string{"MODEL_DIR": "/models", "A": "1"},
	}
	wf := aiflow.NewWorkflow("w")
	wf.Task("pi", operators.SparkSubmit(cfg), aiflow.WithEnv(fk.env("FAKE_SPARK_ENV", "MODEL_DIR")))
	cfg.Name, cfg.Streaming = "stream", true
	wf.Task("stream", operators.SparkSubmit(cfg), aiflow.WithEnv(streaming.env("FAKE_SPARK_MODE", "streaming")))
	env := newEnv(t, wf)

	x, te := env.RunTask("w", "pi", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	log := env.WaitTaskLog(te.ID, "Pi is roughly")
	require.Equal(t, "spark-submit --master yarn --deploy-mode cluster --name spark_submit_task_<task> --conf spark.yarn.appMasterEnv.A=1 "+
		"--conf spark.yarn.appMasterEnv.MODEL_DIR=/models --class org.apache.spark.examples.SparkPi --conf spark.executor.memory=2g "+
		"spark-examples.jar 100 --run ${AIFLOW_WORKFLOW_EXECUTION_ID}/${AIFLOW_TASK_EXECUTION_ID} $HOME",
		operators.SparkSubmit(operators.SparkSubmitConfig{Application: cfg.Application, ApplicationArgs: cfg.ApplicationArgs,
			DeployMode: "cluster", SubmitOptions: cfg.SubmitOptions, EnvVars: cfg.EnvVars}).Describe(), "the declaration keeps the references")
	require.Contains(t, log, "env MODEL_DIR=/models\n", "EnvVars reach the spark-submit process")
	require.Equal(t, [][]string{{"--master", "yarn", "--deploy-mode", "cluster", "--name", "spark_submit_task_pi",
		"--conf", "spark.yarn.appMasterEnv.A=1", "--conf", "spark.yarn.appMasterEnv.MODEL_DIR=/models",
		"--class", "org.apache.spark.examples.SparkPi", "--conf", "spark.executor.memory=2g", "spark-examples.jar", "100",
		"--run", fmt.Sprintf("%d/%d", x, te.ID), "$HOME"}},
		fk.calls("spark-submit"), "the task's context is expanded in the application's arguments")

	// Stopping kills the client process and, in cluster mode, the application.
	te = env.WaitTaskExecution(x, "stream", 1, aiflow.TaskRunning)
	require.True(t, te.Streaming)
	env.WaitTaskLog(te.ID, "streaming query started")
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "stream"))
	te = env.WaitTaskExecution(x, "stream", 1, aiflow.TaskStopped)
	env.WaitTaskLog(te.ID, "spark-submit got TERM(.|\n)*Killed application application_1700000000000_0007")
	require.Equal(t, [][]string{{"application", "-kill", "application_1700000000000_0007"}}, streaming.calls("yarn"))
	require.Equal(t, "stream", streaming.calls("spark-submit")[0][5], "the name given")
}

func TestSparkSubmitOnKubernetes(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	failing := newFake(t)
	cfg := operators.SparkSubmitConfig{
		Application:         "local:///opt/spark/examples/pi.py",
		Executable:          bin(t, "spark-submit"),
		Master:              "k8s://https://k8s.example:6443",
		DeployMode:          "cluster",
		KubernetesNamespace: "spark",
		EnvVars:             map[string]string{"MODE": "fast"},
		Streaming:           true,
	}
	wf := aiflow.NewWorkflow("w")
	wf.Task("stream", operators.SparkSubmit(cfg), aiflow.WithEnv(fk.env("FAKE_SPARK_MODE", "streaming")))
	cfg.Streaming = false
	wf.Task("driver_fails", operators.SparkSubmit(cfg), aiflow.WithEnv(failing.env("FAKE_SPARK_MODE", "driverfail")))
	env := newEnv(t, wf)

	x, te := env.RunTask("w", "driver_fails", aiflow.TaskFailed)
	require.Contains(t, te.Error, "the driver spark-pi-1a2b-driver exited with code 1")
	require.Equal(t, [][]string{{"--master", "k8s://https://k8s.example:6443", "--deploy-mode", "cluster", "--name", "spark_submit_task_driver_fails",
		"--conf", "spark.kubernetes.driverEnv.MODE=fast", "--conf", "spark.kubernetes.namespace=spark", "local:///opt/spark/examples/pi.py"}},
		failing.calls("spark-submit"))

	te = env.WaitTaskExecution(x, "stream", 1, aiflow.TaskRunning)
	env.WaitTaskLog(te.ID, "streaming query started")
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "stream"))
	te = env.WaitTaskExecution(x, "stream", 1, aiflow.TaskStopped)
	env.WaitTaskLog(te.ID, "Killing submission spark:spark-pi-1a2b-driver")
	calls := fk.calls("spark-submit")
	require.Len(t, calls, 2)
	require.Equal(t, []string{"--master", "k8s://https://k8s.example:6443", "--kill", "spark:spark-pi-1a2b-driver"}, calls[1])
}

func TestSparkSubmitInClientMode(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	failing := newFake(t)
	cfg := operators.SparkSubmitConfig{Application: "app.py", Executable: bin(t, "spark-submit"), Yarn: bin(t, "yarn"), Master: "local[2]"}
	wf := aiflow.NewWorkflow("w")
	wf.Task("stream", operators.SparkSubmit(cfg), aiflow.WithEnv(fk.env("FAKE_SPARK_MODE", "streaming")))
	wf.Task("fails", operators.SparkSubmit(cfg), aiflow.WithEnv(failing.env("FAKE_SPARK_MODE", "fail")))
	env := newEnv(t, wf)
	x, te := env.RunTask("w", "fails", aiflow.TaskFailed)
	require.Contains(t, te.Error, "exited with status 1")
	env.WaitTaskLog(te.ID, "SparkException: Application failed")

	te = env.WaitTaskExecution(x, "stream", 1, aiflow.TaskRunning)
	env.WaitTaskLog(te.ID, "streaming query started")
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "stream"))
	te = env.WaitTaskExecution(x, "stream", 1, aiflow.TaskStopped)
	env.WaitTaskLog(te.ID, "spark-submit got TERM")
	require.Len(t, fk.calls("spark-submit"), 1, "in client mode the driver is the process: nothing else to kill")
	require.Empty(t, fk.calls("yarn"))
}

func TestSparkSQL(t *testing.T) {
	t.Parallel()
	fk := newFake(t)
	failing := newFake(t)
	stopped := newFake(t)
	exe := bin(t, "spark-sql")
	wf := aiflow.NewWorkflow("w")
	wf.Task("query", operators.SparkSQL(operators.SparkSQLConfig{SQL: "SELECT count(*) FROM events", Master: "local[4]", Executable: exe,
		Options: []string{"--conf", "spark.sql.shuffle.partitions=8"}}), aiflow.WithEnv(fk.env()))
	wf.Task("file", operators.SparkSQL(operators.SparkSQLConfig{File: "reports/daily.sql", Name: "daily", Executable: exe}),
		aiflow.WithEnv(fk.env()))
	// Statements that end with ".sql" are still statements.
	statements := "SELECT 1 AS one -- written by reports/daily.sql"
	wf.Task("statements", operators.SparkSQL(operators.SparkSQLConfig{SQL: statements, Name: "statements", Executable: exe}),
		aiflow.WithEnv(fk.env()))
	wf.Task("fails", operators.SparkSQL(operators.SparkSQLConfig{SQL: "SELECT * FROM missing", Executable: exe}),
		aiflow.WithEnv(failing.env("FAKE_SPARK_MODE", "fail")))
	wf.Task("long", operators.SparkSQL(operators.SparkSQLConfig{SQL: "INSERT INTO t SELECT * FROM s", Executable: exe}),
		aiflow.WithEnv(stopped.env("FAKE_SPARK_MODE", "streaming")))
	env := newEnv(t, wf)
	x, te := env.RunTask("w", "query", aiflow.TaskSuccess, aiflow.TaskFailed)
	require.Equal(t, aiflow.TaskSuccess, te.Status, te.Error)
	env.WaitTaskLog(te.ID, "Fetched 1 row")
	env.WaitTaskExecution(x, "file", 1, aiflow.TaskSuccess)
	env.WaitTaskExecution(x, "statements", 1, aiflow.TaskSuccess)
	require.ElementsMatch(t, [][]string{
		{"--master", "local[4]", "--name", "spark_sql_task_query", "--conf", "spark.sql.shuffle.partitions=8", "-e", "SELECT count(*) FROM events"},
		{"--master", "yarn", "--name", "daily", "-f", "reports/daily.sql"},
		{"--master", "yarn", "--name", "statements", "-e", statements},
	}, fk.calls("spark-sql"), "the master reaches the command line; File is run with -f, SQL with -e")

	te = env.WaitTaskExecution(x, "fails", 1, aiflow.TaskFailed)
	require.Contains(t, te.Error, "exited with status 1")
	env.WaitTaskLog(te.ID, "Table or view not found")

	env.WaitTaskExecution(x, "long", 1, aiflow.TaskRunning)
	require.Eventually(t, func() bool { return len(stopped.calls("spark-sql")) == 1 }, waitFor, tick)
	require.NoError(t, env.Client.StopTaskExecution(env.Context(), x, "long"))
	te = env.WaitTaskExecution(x, "long", 1, aiflow.TaskStopped)
	env.WaitTaskLog(te.ID, "spark-sql got TERM")
}

func TestSparkConfigurationIsValidatedAtRegistration(t *testing.T) {
	t.Parallel()
	for _, op := range []aiflow.Operator{
		operators.SparkSubmit(operators.SparkSubmitConfig{}),
		operators.SparkSubmit(operators.SparkSubmitConfig{Application: "a.jar", DeployMode: "remote"}),
		operators.SparkSubmit(operators.SparkSubmitConfig{Application: "a.jar", Master: "spark://m:7077", DeployMode: "cluster"}),
		operators.SparkSubmit(operators.SparkSubmitConfig{Application: "a.jar", Master: "k8s://https://k:6443"}),
		operators.SparkSQL(operators.SparkSQLConfig{SQL: " "}),
		operators.SparkSQL(operators.SparkSQLConfig{SQL: "SELECT 1", File: "a.sql"}),
		operators.SparkSQL(operators.SparkSQLConfig{SQL: "reports/daily.sql"}),
		operators.SparkSQL(operators.SparkSQLConfig{SQL: " daily.hql\n"}),
	} {
		wf := aiflow.NewWorkflow("w")
		wf.Task("t", op)
		c, err := aiflow.New(&aiflow.Config{Store: newMemoryStore()})
		require.NoError(t, err)
		require.ErrorIs(t, c.Register(t.Context(), wf), aiflow.ErrInvalidWorkflow, "%T", op)
	}
	require.Equal(t, "spark-submit --master yarn --deploy-mode client --name spark_submit_task_<task> a.jar",
		operators.SparkSubmit(operators.SparkSubmitConfig{Application: "a.jar"}).Describe())
	wf := aiflow.NewWorkflow("w")
	wf.Task("t", operators.SparkSQL(operators.SparkSQLConfig{SQL: "reports/daily.sql"}))
	c, err := aiflow.New(&aiflow.Config{Store: newMemoryStore()})
	require.NoError(t, err)
	require.ErrorContains(t, c.Register(t.Context(), wf), `SQL "reports/daily.sql" looks like a file path: set File`)
}

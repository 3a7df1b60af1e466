package operators_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
)

// TestPublicDescriptions: each operator's public description leaves out
// the fields it marks secret and keeps the others.
func TestPublicDescriptions(t *testing.T) {
	const pw = "s3cr3t-pw"
	for name, c := range map[string]struct {
		op         aiflow.PublicDescriber
		want, full string
	}{
		"python": {op: operators.Python(operators.PythonConfig{Script: "etl.py", Args: []string{"--password", pw}, InterpreterOptions: []string{"-u"}}),
			want: "python3 -u etl.py [redacted] [redacted]"},
		"python module": {op: operators.Python(operators.PythonConfig{Module: "jobs.etl"}), want: "python3 -m jobs.etl"},
		"spark-submit": {op: operators.SparkSubmit(operators.SparkSubmitConfig{Application: "app.jar", Master: "yarn", DeployMode: "cluster",
			EnvVars: map[string]string{"DB_PASSWORD": pw}, SubmitOptions: []string{"--conf", "spark.password=" + pw}, ApplicationArgs: []string{pw}}),
			want: "spark-submit --master yarn --deploy-mode cluster --name spark_submit_task_<task> --conf spark.yarn.appMasterEnv.DB_PASSWORD=[redacted] [redacted] [redacted] app.jar [redacted]"},
		"spark-sql": {op: operators.SparkSQL(operators.SparkSQLConfig{SQL: "CREATE TABLE t OPTIONS (password '" + pw + "')", Master: "local", Options: []string{"--conf", pw}}),
			want: "spark-sql --master local --name spark_sql_task_<task> [redacted] [redacted] -e [redacted]"},
		"flink": {op: operators.Flink(operators.FlinkConfig{Application: "job.jar", Target: "local", ApplicationArgs: []string{"--token", pw},
			CommandOptions: []string{"-Dpw=" + pw}}), want: "job.jar [redacted] [redacted]"},
		"func": {op: operators.Func(nil), want: "<nil>"},
	} {
		got := c.op.PublicDescribe()
		require.NotContains(t, got, pw, name)
		require.Contains(t, got, c.want, name)
	}
	_, isPublic := any(operators.Bash("echo " + pw)).(aiflow.PublicDescriber)
	require.False(t, isPublic, "Bash marks its whole command secret: it has no public description")
}

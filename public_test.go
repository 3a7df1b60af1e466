package aiflow_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

// TestPublicDescriptionIsRecordedNotVersioned: an operator's public
// description is in the recorded definition but not in what the version
// hashes, so adding public descriptions to operators makes no new version.
func TestPublicDescriptionIsRecordedNotVersioned(t *testing.T) {
	ctx := context.Background()
	c, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	require.NoError(t, err)
	wf := aiflow.NewWorkflow("pub")
	wf.Task("etl", operators.Python(operators.PythonConfig{Script: "etl.py", Args: []string{"--password", "pw"}}))
	wf.Task("sh", operators.Bash("echo hi"))
	require.NoError(t, c.Register(ctx, wf))
	require.NoError(t, c.Start(ctx)) // records the workflows
	defer func() { require.NoError(t, c.Stop(ctx)) }()
	info, err := c.GetWorkflow(ctx, "", "pub")
	require.NoError(t, err)
	var def map[string]any
	require.NoError(t, json.Unmarshal(info.Definition, &def))
	tasks := def["tasks"].([]any)
	require.Equal(t, "python3 etl.py [redacted] [redacted]", tasks[0].(map[string]any)["operator_public"])
	require.NotContains(t, tasks[1].(map[string]any), "operator_public", "Bash has none")
	delete(tasks[0].(map[string]any), "operator_public")
	js, err := json.Marshal(def)
	require.NoError(t, err)
	sum := sha256.Sum256(js)
	require.Equal(t, hex.EncodeToString(sum[:6]), info.Version, "the version hashes the definition without the public descriptions")
}

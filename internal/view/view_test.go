package view

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedactLeavesOutEnvironmentValuesAndCommands(t *testing.T) {
	var def any
	require.NoError(t, json.Unmarshal([]byte(`{"name":"w","tasks":[{"name":"t","operator":"*operators.BashOperator: curl -u admin:pw x",
		"env":{"TOKEN":"abc"},"rules":[]}]}`), &def))
	in := Workflow{Name: "w", Definition: def}
	out := Redact(in)
	js, err := json.Marshal(out)
	require.NoError(t, err)
	require.JSONEq(t, `{"namespace":"","name":"w","version":"","enabled":false,"definition":{"name":"w","tasks":[{"name":"t",
		"operator":"*operators.BashOperator","env":{"TOKEN":"[redacted]"},"rules":[]}]}}`, string(js))
	// The input is left as it was.
	orig, err := json.Marshal(in)
	require.NoError(t, err)
	require.Contains(t, string(orig), "admin:pw")
	require.Equal(t, Workflow{Name: "x"}, Redact(Workflow{Name: "x"}))
}

func TestRedactShowsPublicDescriptions(t *testing.T) {
	var def any
	require.NoError(t, json.Unmarshal([]byte(`{"name":"w","tasks":[{"name":"t","operator":"*operators.PythonOperator: python3 etl.py --password pw",
		"operator_public":"python3 etl.py [redacted] [redacted]","rules":[]}]}`), &def))
	js, err := json.Marshal(Redact(Workflow{Name: "w", Definition: def}))
	require.NoError(t, err)
	require.JSONEq(t, `{"namespace":"","name":"w","version":"","enabled":false,"definition":{"name":"w","tasks":[{"name":"t",
		"operator":"*operators.PythonOperator: python3 etl.py [redacted] [redacted]","rules":[]}]}}`, string(js))
	require.Equal(t, "*operators.BashOperator", PublicOperator("*operators.BashOperator: echo hi", ""))
}

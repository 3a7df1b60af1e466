package operators

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpandRefs(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AIFLOW_TASK_EXECUTION_ID": "42", "AIFLOW_TASK": "train", "MINE": "a b", "EMPTY": ""}
	for in, want := range map[string]string{
		"${AIFLOW_TASK_EXECUTION_ID}":       "42",
		"--id=${AIFLOW_TASK_EXECUTION_ID}":  "--id=42",
		"${AIFLOW_TASK}-${AIFLOW_TASK}":     "train-train",
		"${MINE}":                           "a b",
		"x${EMPTY}y":                        "xy",
		"${HOME}":                           "${HOME}",
		"$AIFLOW_TASK":                      "$AIFLOW_TASK",
		"$5 and $":                          "$5 and $",
		"${AIFLOW_TASK":                     "${AIFLOW_TASK",
		"${}":                               "${}",
		"$${AIFLOW_TASK}":                   "${AIFLOW_TASK}",
		"$$":                                "$$",
		"${${AIFLOW_TASK}}":                 "${train}",
		"${AIFLOW_TASK}}":                   "train}",
		"no references":                     "no references",
		"price: ${NOPE} id: ${AIFLOW_TASK}": "price: ${NOPE} id: train",
	} {
		require.Equal(t, want, expandRefs(in, env), "%q", in)
	}
}

//go:build unix

package kubernetes_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Bounds of require.Eventually in these tests.
const (
	waitFor = 30 * time.Second
	tick    = 5 * time.Millisecond
)

// newEnv returns a started client running wfs on a memory store, on the
// real clock: the operator polls the cluster on real time.
func newEnv(t *testing.T, wfs ...*aiflow.Workflow) *aiflowtest.Env {
	t.Helper()
	return aiflowtest.New(t, &aiflowtest.Opts{RealClock: true, Timeout: waitFor, Config: func(c *aiflow.Config) {
		c.PollInterval, c.StopGracePeriod = 20*time.Millisecond, 5*time.Second
	}}, wfs...)
}

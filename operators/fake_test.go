//go:build unix

package operators_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store/memory"
)

// fake is one test's view of the fake command lines in testdata: each
// records its invocations in the file FAKE_ARGV and keeps the jobs it
// simulates in the directory FAKE_STATE.
type fake struct {
	t     *testing.T
	argv  string
	state string
}

func newFake(t *testing.T) *fake {
	dir := t.TempDir()
	return &fake{t: t, argv: filepath.Join(dir, "argv"), state: filepath.Join(dir, "state")}
}

// env returns the variables a task passes to the fake (WithEnv), plus extra
// pairs.
func (f *fake) env(kv ...string) map[string]string {
	m := map[string]string{"FAKE_ARGV": f.argv, "FAKE_STATE": f.state}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// calls returns the recorded invocations of program, each as its
// arguments.
func (f *fake) calls(program string) [][]string {
	data, err := os.ReadFile(f.argv)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(f.t, err)
	var out [][]string
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		parts := strings.Split(line, "\x1f")
		if parts[0] == program {
			out = append(out, parts[1:])
		}
	}
	return out
}

// call returns the recorded invocations of program whose first argument is
// action.
func (f *fake) callsOf(program, action string) [][]string {
	var out [][]string
	for _, c := range f.calls(program) {
		if len(c) > 0 && c[0] == action {
			out = append(out, c)
		}
	}
	return out
}

// bin returns the absolute path of a fake program.
func bin(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	require.NoError(t, err)
	return p
}

func newMemoryStore() *memory.Store { return memory.New(nil) }

// Bounds of require.Eventually in these tests.
const (
	waitFor = 30 * time.Second
	tick    = 5 * time.Millisecond
)

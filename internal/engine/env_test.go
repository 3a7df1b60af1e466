package engine

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/aiflow-go/aiflow/store"
)

// TestExecEnvStateMatchesAMap checks an execution's state through its
// environment (the hot state, its value held in the execution when short)
// against a plain map, over random reads, writes of every size and deletes
// of a few names.
func TestExecEnvStateMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	e := New(NewRegistry(), 0)
	e.Begin(nil, nil)
	x := &Execution{ID: 1, Status: store.WorkflowRunning, running: true}
	env := &execEnv{e: e, x: x}
	want := map[string]string{}
	names := []string{"a", "b", "c"}
	for i := range 20000 {
		name := names[rng.IntN(len(names))]
		switch op := rng.IntN(10); {
		case op < 4:
			got, ok := env.State(name)
			w, wok := want[name]
			if ok != wok || string(got) != w {
				t.Fatalf("step %d: State(%q) = %q, %v; want %q, %v", i, name, got, ok, w, wok)
			}
		case op < 9:
			v := strconv.Itoa(rng.IntN(10_000_000))
			if rng.IntN(4) == 0 {
				v = `"` + strings.Repeat("x", rng.IntN(12)) + `"`
			}
			buf := []byte(v)
			env.SetState(name, buf)
			buf[0] = '!' // the state holds a copy
			want[name] = v
		default:
			env.DeleteState(name)
			delete(want, name)
		}
		if len(x.State) != len(want) {
			t.Fatalf("step %d: %d states, want %d", i, len(x.State), len(want))
		}
		for k, w := range want {
			if string(x.State[k]) != w {
				t.Fatalf("step %d: state %q is %q, want %q", i, k, x.State[k], w)
			}
		}
	}
}

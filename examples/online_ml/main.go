// Command online_ml runs the seed system's tutorial, an online machine
// learning loop of streaming and batch tasks:
//
//   - pre_processing (streaming) turns a stream of generated samples into
//     datasets and sends "data_prepared" with each one;
//   - training starts on every "data_prepared" and fits a logistic regression
//     (written in Go) to the newest dataset;
//   - validating runs after training and, if the new model beats the deployed
//     one on fresh data, sends "model_validated";
//   - deploying starts on "model_validated", installs the model and sends
//     "model_deployed";
//   - predicting (streaming) classifies the live stream and reloads the model
//     on every "model_deployed".
//
// The samples' true decision boundary drifts slowly, so models age and new
// ones keep being deployed.
//
//	go run ./examples/online_ml -rounds 3
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/examples/internal/exampleenv"
	"github.com/aiflow-go/aiflow/operators"
)

// The events of the loop.
const (
	DataPrepared   = "data_prepared"
	ModelValidated = "model_validated"
	ModelDeployed  = "model_deployed"
)

// Options configure the example.
type Options struct {
	// Dir holds the datasets and models.
	Dir string
	// BatchSize is the number of samples of a dataset.
	BatchSize int
	// SampleInterval paces the generated stream.
	SampleInterval time.Duration
	// Rounds stops the execution once that many models went through
	// validation (0: run until interrupted).
	Rounds int
	// Lockstep makes pre_processing wait until the previous dataset has gone
	// through the loop (validated and, if better, deployed and loaded)
	// before it sends the next, so that no "data_prepared" is ignored while
	// training still runs (for tests and demos).
	Lockstep bool
}

// sample is one labelled point.
type sample struct {
	X [2]float64 `json:"x"`
	Y float64    `json:"y"`
}

// world generates samples around a decision boundary whose angle drifts
// with every sample.
type world struct {
	mu    sync.Mutex
	rng   *rand.Rand
	angle float64
}

func newWorld(seed uint64) *world { return &world{rng: rand.New(rand.NewPCG(seed, 7))} }

func (w *world) next() sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.angle += 0.002
	x := [2]float64{w.rng.NormFloat64(), w.rng.NormFloat64()}
	score := math.Cos(w.angle)*x[0] + math.Sin(w.angle)*x[1] + 0.3*w.rng.NormFloat64()
	y := 0.0
	if score > 0 {
		y = 1
	}
	return sample{X: x, Y: y}
}

// Model is a logistic regression on two features.
type Model struct {
	W    [2]float64 `json:"w"`
	B    float64    `json:"b"`
	Name string     `json:"name"`
}

func (m *Model) prob(x [2]float64) float64 {
	return 1 / (1 + math.Exp(-(m.W[0]*x[0] + m.W[1]*x[1] + m.B)))
}

// Accuracy is the share of samples the model classifies right.
func (m *Model) Accuracy(data []sample) float64 {
	if len(data) == 0 {
		return 0
	}
	right := 0
	for _, s := range data {
		if (m.prob(s.X) >= 0.5) == (s.Y == 1) {
			right++
		}
	}
	return float64(right) / float64(len(data))
}

// fit trains a model with batch gradient descent.
func fit(data []sample, name string) *Model {
	m := &Model{Name: name}
	const rate, epochs = 0.5, 200
	for e := 0; e < epochs; e++ {
		var gw [2]float64
		var gb float64
		for _, s := range data {
			d := m.prob(s.X) - s.Y
			gw[0] += d * s.X[0]
			gw[1] += d * s.X[1]
			gb += d
		}
		n := float64(len(data))
		m.W[0] -= rate * gw[0] / n
		m.W[1] -= rate * gw[1] / n
		m.B -= rate * gb / n
	}
	return m
}

func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path) // readers never see half a file
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// loop is the state the tasks of one run share: files in Dir, the generated
// world, and the lockstep signal.
type loop struct {
	opts  Options
	world *world
	// roundDone receives a value when a dataset has gone through the loop.
	roundDone chan struct{}
}

func (l *loop) path(name string) string { return filepath.Join(l.opts.Dir, name) }

func (l *loop) signalRound() {
	select {
	case l.roundDone <- struct{}{}:
	default:
	}
}

// preProcess collects BatchSize samples at a time into a dataset and sends
// DataPrepared with its path.
func (l *loop) preProcess(ctx context.Context, tc *aiflow.TaskContext) error {
	t := time.NewTicker(l.opts.SampleInterval)
	defer t.Stop()
	for n := 1; ; n++ {
		batch := make([]sample, 0, l.opts.BatchSize)
		for len(batch) < l.opts.BatchSize {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			batch = append(batch, l.world.next())
		}
		path := l.path(fmt.Sprintf("dataset-%d.json", n))
		if err := writeJSON(path, batch); err != nil {
			return err
		}
		if err := writeJSON(l.path("dataset-latest.json"), path); err != nil {
			return err
		}
		fmt.Fprintf(tc.Log, "prepared %s (%d samples)\n", path, len(batch))
		if _, err := tc.SendEvent(ctx, DataPrepared, path, nil); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if l.opts.Lockstep {
			select {
			case <-l.roundDone:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// train fits a model to the newest dataset.
func (l *loop) train(_ context.Context, tc *aiflow.TaskContext) error {
	var path string
	if err := readJSON(l.path("dataset-latest.json"), &path); err != nil {
		return fmt.Errorf("no dataset yet: %w", err)
	}
	var data []sample
	if err := readJSON(path, &data); err != nil {
		return err
	}
	m := fit(data, fmt.Sprintf("model-%d", tc.SeqNum))
	out := l.path(m.Name + ".json")
	if err := writeJSON(out, m); err != nil {
		return err
	}
	if err := writeJSON(l.path("model-trained.json"), out); err != nil {
		return err
	}
	fmt.Fprintf(tc.Log, "trained %s on %s: w=%.3f,%.3f b=%.3f, training accuracy %.3f\n", m.Name, path, m.W[0], m.W[1], m.B, m.Accuracy(data))
	return nil
}

// validate compares the new model with the deployed one on fresh samples.
func (l *loop) validate(ctx context.Context, tc *aiflow.TaskContext) error {
	var path string
	if err := readJSON(l.path("model-trained.json"), &path); err != nil {
		return err
	}
	var candidate Model
	if err := readJSON(path, &candidate); err != nil {
		return err
	}
	fresh := make([]sample, 500)
	for i := range fresh {
		fresh[i] = l.world.next()
	}
	newAcc := candidate.Accuracy(fresh)
	var deployed Model
	err := readJSON(l.path("model-deployed.json"), &deployed)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(tc.Log, "%s: accuracy %.3f; no model deployed yet\n", candidate.Name, newAcc)
	case err != nil:
		return err
	default:
		oldAcc := deployed.Accuracy(fresh)
		fmt.Fprintf(tc.Log, "%s: accuracy %.3f, deployed %s: %.3f\n", candidate.Name, newAcc, deployed.Name, oldAcc)
		if newAcc <= oldAcc {
			fmt.Fprintf(tc.Log, "%s is not better: keeping %s\n", candidate.Name, deployed.Name)
			l.signalRound()
			return nil
		}
	}
	if err := tc.ReportMetrics(ctx, map[string]float64{"accuracy": newAcc}); err != nil {
		return err
	}
	_, err = tc.SendEvent(ctx, ModelValidated, path, nil)
	return err
}

// deploy installs the newest validated model.
func (l *loop) deploy(ctx context.Context, tc *aiflow.TaskContext) error {
	var path string
	if err := readJSON(l.path("model-trained.json"), &path); err != nil {
		return err
	}
	var m Model
	if err := readJSON(path, &m); err != nil {
		return err
	}
	if err := writeJSON(l.path("model-deployed.json"), m); err != nil {
		return err
	}
	fmt.Fprintf(tc.Log, "deployed %s\n", m.Name)
	_, err := tc.SendEvent(ctx, ModelDeployed, m.Name, nil)
	return err
}

// predict classifies the live stream with the deployed model, reloading it
// on every ModelDeployed, and reports its running accuracy.
func (l *loop) predict(ctx context.Context, tc *aiflow.TaskContext) error {
	var mu sync.Mutex
	var current *Model
	load := func() {
		var m Model
		if err := readJSON(l.path("model-deployed.json"), &m); err != nil {
			fmt.Fprintf(tc.Log, "no model to load yet: %v\n", err)
			return
		}
		mu.Lock()
		current = &m
		mu.Unlock()
		fmt.Fprintf(tc.Log, "loaded %s\n", m.Name)
		_ = tc.ReportStatus(ctx, "serving "+m.Name)
	}
	load()
	listening := make(chan error, 1)
	go func() {
		listening <- tc.ListenEvents(ctx, []string{ModelDeployed}, func(aiflow.Event) error {
			load()
			l.signalRound()
			return nil
		})
	}()
	t := time.NewTicker(l.opts.SampleInterval)
	defer t.Stop()
	right, total := 0, 0
	for {
		select {
		case <-ctx.Done():
			<-listening
			return nil
		case err := <-listening:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-t.C:
		}
		mu.Lock()
		m := current
		mu.Unlock()
		if m == nil {
			continue
		}
		s := l.world.next()
		total++
		if (m.prob(s.X) >= 0.5) == (s.Y == 1) {
			right++
		}
		if total%200 == 0 {
			_ = tc.ReportMetrics(ctx, map[string]float64{"accuracy": float64(right) / float64(total), "predictions": float64(total)})
		}
	}
}

// Workflow declares the workflow.
func Workflow(opts Options) *aiflow.Workflow {
	l := &loop{opts: opts, world: newWorld(1), roundDone: make(chan struct{}, 1)}
	wf := aiflow.NewWorkflow("online_ml")
	wf.Task("pre_processing", operators.Func(l.preProcess), aiflow.Streaming())
	training := wf.Task("training", operators.Func(l.train))
	training.OnEvent(DataPrepared, aiflow.ActionStart)
	validating := wf.Task("validating", operators.Func(l.validate))
	validating.StartAfter(training)
	deploying := wf.Task("deploying", operators.Func(l.deploy))
	deploying.OnEvent(ModelValidated, aiflow.ActionStart)
	wf.Task("predicting", operators.Func(l.predict), aiflow.Streaming())
	return wf
}

func main() {
	opts := Options{BatchSize: 500, SampleInterval: time.Millisecond}
	flag.IntVar(&opts.Rounds, "rounds", 3, "stop after this many validations (0: run until interrupted)")
	flag.StringVar(&opts.Dir, "dir", "", "directory of datasets and models (a temporary one when empty)")
	flag.BoolVar(&opts.Lockstep, "lockstep", true, "pre_processing waits for each dataset to go through the loop")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "online_ml")
		if err != nil {
			fmt.Fprintln(os.Stderr, "online_ml:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
		opts.Dir = dir
	}
	if _, err := run(ctx, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "online_ml:", err)
		os.Exit(1)
	}
}

// run starts one execution, prints what happens and stops it after
// opts.Rounds validations; it returns the execution's final status.
func run(ctx context.Context, out io.Writer, opts Options) (aiflow.WorkflowStatus, error) {
	st, closeStore, err := exampleenv.OpenStore(ctx)
	if err != nil {
		return "", err
	}
	defer closeStore()
	client, err := aiflow.New(&aiflow.Config{Store: st, PollInterval: 100 * time.Millisecond})
	if err != nil {
		return "", err
	}
	wf := Workflow(opts)
	if err := client.Register(ctx, wf); err != nil {
		return "", err
	}
	if err := client.Start(ctx); err != nil {
		return "", err
	}
	defer client.Stop(context.WithoutCancel(ctx))
	rounds := 0
	x, err := exampleenv.RunAndPrintUntil(ctx, client, wf.Name(), out, func(ev aiflow.Event) bool {
		if ev.IsStatusChange() && ev.TaskName == "validating" && ev.Value == string(aiflow.TaskSuccess) {
			rounds++
		}
		return opts.Rounds > 0 && rounds >= opts.Rounds
	})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(out, "workflow execution %d ended %s after %d validations\n", x.ID, x.Status, rounds)
	if err := printLog(ctx, client, x.ID, "predicting", out); err != nil {
		return "", err
	}
	return x.Status, nil
}

// printLog waits until the first run of task has finished and prints its log.
func printLog(ctx context.Context, c *aiflow.Client, executionID int64, task string, out io.Writer) error {
	for {
		tes, err := c.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: executionID, Task: task})
		if err != nil {
			return err
		}
		if len(tes) > 0 && tes[0].Status.Finished() {
			data, _, err := c.ReadTaskLog(ctx, tes[0].ID, 0, 0)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "log of %s #1 (%s):\n%s", task, tes[0].Status, data)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

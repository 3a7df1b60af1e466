// Command flink_watermark runs the seed system's headline scenario: a
// streaming job reads time-stamped records, advances an event-time watermark
// and, each time the watermark passes the end of an hour, writes that hour's
// data and sends the event "hour_closed" naming the hour; such an event
// starts a training task, which trains on the hours the events named (see
// train), and a validating task follows each training. The
// streaming task runs the whole time while the batch tasks come and go.
//
// By default the streaming job is simulated in Go (shaped like the real one:
// out-of-order records, a bounded-lateness watermark, one event per closed
// hour). With -flink-jar it is a real Flink job submitted with operators.Flink
// instead; see README.md.
//
//	go run ./examples/flink_watermark -hours 3
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/examples/internal/exampleenv"
	"github.com/aiflow-go/aiflow/operators"
)

// HourClosedEvent is the key of the event the streaming job sends when its
// watermark passes the end of an hour; its value names the hour, in the
// form HourLayout (the hour's data is in <data>/hour=<value>).
const HourClosedEvent = "hour_closed"

// HourLayout is the form of an hour in HourClosedEvent values and data
// directories: "2024-01-01T00" (UTC).
const HourLayout = "2006-01-02T15"

// Options configure the example.
type Options struct {
	// DataDir receives the hours' data and models.
	DataDir string
	// RecordInterval paces the simulated job's records.
	RecordInterval time.Duration
	// Hours stops the execution once that many hours have been validated
	// (0: run until interrupted).
	Hours int
	// Lockstep makes the simulated job wait, before closing an hour, until
	// the previous hour has been validated, so that every hour gets a
	// training of its own (for tests and demos; a real job does not wait,
	// and an hour that closes while training runs is trained by the next
	// training).
	Lockstep bool
	// TrainingTime stands for the work of a real training: each training
	// takes at least this long (0: as long as it takes to fit the
	// stand-in model).
	TrainingTime time.Duration
	// FlinkJar, when set, runs a real Flink job instead of the simulation.
	FlinkJar string
	// FlinkArgs are the Flink job's arguments.
	FlinkArgs []string
}

// record is one input of the job: an event time and a value.
type record struct {
	At    time.Time
	Value float64
}

// lateness is how far behind the latest event time the watermark stays:
// records may arrive up to this late.
const lateness = 5 * time.Minute

// simulatedJob is the streaming job: records arrive out of order, the
// watermark is the largest event time seen minus the allowed lateness, and
// when it passes the end of an hour the hour is complete: its records are
// written to <data>/hour=<hour>/records.json and HourClosedEvent is sent
// with the hour as its value.
func simulatedJob(opts Options, validated <-chan string) func(ctx context.Context, tc *aiflow.TaskContext) error {
	return func(ctx context.Context, tc *aiflow.TaskContext) error {
		rng := rand.New(rand.NewPCG(1, 2))
		start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		maxSeen := start
		watermark := start.Add(-lateness)
		open := map[time.Time][]record{} // records of hours not closed yet
		t := time.NewTicker(opts.RecordInterval)
		defer t.Stop()
		records := 0
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			// The next record: event time moves on by up to 4 minutes, and
			// arrives up to lateness late.
			maxSeen = maxSeen.Add(time.Duration(rng.IntN(240)) * time.Second)
			r := record{At: maxSeen.Add(-time.Duration(rng.IntN(int(lateness/time.Second))) * time.Second), Value: rng.NormFloat64()*2 + 10}
			if r.At.Before(watermark) {
				continue // too late: dropped, as Flink drops late records
			}
			records++
			open[r.At.Truncate(time.Hour)] = append(open[r.At.Truncate(time.Hour)], r)
			next := maxSeen.Add(-lateness)
			if !next.After(watermark) {
				continue
			}
			watermark = next
			if err := tc.ReportMetrics(ctx, map[string]float64{"watermark_unix": float64(watermark.Unix()), "records": float64(records)}); err != nil && ctx.Err() == nil {
				return err
			}
			// Close every hour that ended before the watermark.
			var hours []time.Time
			for h := range open {
				if !h.Add(time.Hour).After(watermark) {
					hours = append(hours, h)
				}
			}
			sort.Slice(hours, func(i, j int) bool { return hours[i].Before(hours[j]) })
			for _, h := range hours {
				if err := writeHour(opts.DataDir, h, open[h]); err != nil {
					return err
				}
				fmt.Fprintf(tc.Log, "watermark %s passed the end of hour %s: %d records\n", watermark.Format(time.RFC3339), h.Format(HourLayout), len(open[h]))
				delete(open, h)
				if _, err := tc.SendEvent(ctx, HourClosedEvent, h.Format(HourLayout), nil); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				if opts.Lockstep {
					select {
					case <-validated:
					case <-ctx.Done():
						return nil
					}
				}
			}
		}
	}
}

// hourDir is the data directory of an hour.
func hourDir(dataDir string, hour time.Time) string {
	return filepath.Join(dataDir, "hour="+hour.Format(HourLayout))
}

func writeHour(dataDir string, hour time.Time, rs []record) error {
	dir := hourDir(dataDir, hour)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "records.json"), data, 0o644)
}

// EventLister lists events; *aiflow.Client is one.
type EventLister interface {
	ListEvents(ctx context.Context, filter *aiflow.EventFilter) ([]aiflow.Event, aiflow.Position, error)
}

// closedHours returns the hours named by the HourClosedEvent events of a
// workflow execution, in the order of the event log (the order the job
// closed them), each once: after a Flink failover a job may announce an
// hour again.
func closedHours(ctx context.Context, events EventLister, executionID int64) ([]time.Time, error) {
	const page = 1000
	f := &aiflow.EventFilter{ExecutionID: executionID, Keys: []string{HourClosedEvent}, UserOnly: true, Limit: page}
	seen := map[time.Time]bool{}
	var hours []time.Time
	for {
		evs, next, err := events.ListEvents(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			h, err := time.Parse(HourLayout, ev.Value)
			if err != nil {
				return nil, fmt.Errorf("event %d %q has the value %q: expected an hour such as %q", ev.ID, ev.Key, ev.Value, HourLayout)
			}
			if !seen[h] {
				seen[h] = true
				hours = append(hours, h)
			}
		}
		if len(evs) < page {
			return hours, nil
		}
		f.After = next
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// model is what training makes of an hour: the mean and spread of its
// values, a stand-in for a real model.
type model struct {
	Hour  string  `json:"hour"`
	N     int     `json:"n"`
	Mean  float64 `json:"mean"`
	Sigma float64 `json:"sigma"`
}

// train fits a model to every hour named by an HourClosedEvent of its
// execution that has no model yet, oldest first: the hour of the event that
// started it and of any event that arrived while the previous training was
// still running (whose START was ignored), so that no closed hour is left
// out and none is trained twice.
func train(opts Options, events EventLister) func(ctx context.Context, tc *aiflow.TaskContext) error {
	dataDir := opts.DataDir
	return func(ctx context.Context, tc *aiflow.TaskContext) error {
		if opts.TrainingTime > 0 {
			t := time.NewTimer(opts.TrainingTime)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		hours, err := closedHours(ctx, events, tc.ExecutionID)
		if err != nil {
			return err
		}
		trained := 0
		for _, h := range hours {
			dir := hourDir(dataDir, h)
			if exists(filepath.Join(dir, "model.json")) {
				continue
			}
			if err := trainHour(tc, dir, h); err != nil {
				return err
			}
			trained++
		}
		if trained == 0 {
			fmt.Fprintf(tc.Log, "every hour named by a %q event has a model already\n", HourClosedEvent)
		}
		return nil
	}
}

func trainHour(tc *aiflow.TaskContext, dir string, hour time.Time) error {
	data, err := os.ReadFile(filepath.Join(dir, "records.json"))
	if err != nil {
		return fmt.Errorf("hour %s: %w", hour.Format(HourLayout), err)
	}
	var rs []record
	if err := json.Unmarshal(data, &rs); err != nil {
		return err
	}
	m := model{Hour: hour.Format(HourLayout), N: len(rs)}
	for _, r := range rs {
		m.Mean += r.Value / float64(len(rs))
	}
	for _, r := range rs {
		m.Sigma += (r.Value - m.Mean) * (r.Value - m.Mean) / float64(len(rs))
	}
	out, _ := json.Marshal(m)
	fmt.Fprintf(tc.Log, "trained on hour %s: %s\n", m.Hour, out)
	return os.WriteFile(filepath.Join(dir, "model.json"), out, 0o644)
}

// validate checks the models of the hours named by HourClosedEvent events
// that have a model and were not validated yet, oldest first.
func validate(dataDir string, events EventLister, validated chan<- string) func(ctx context.Context, tc *aiflow.TaskContext) error {
	return func(ctx context.Context, tc *aiflow.TaskContext) error {
		hours, err := closedHours(ctx, events, tc.ExecutionID)
		if err != nil {
			return err
		}
		for _, h := range hours {
			dir := hourDir(dataDir, h)
			if !exists(filepath.Join(dir, "model.json")) || exists(filepath.Join(dir, "validated")) {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, "model.json"))
			if err != nil {
				return err
			}
			var m model
			if err := json.Unmarshal(data, &m); err != nil {
				return err
			}
			if m.N == 0 {
				return fmt.Errorf("hour %s: the model saw no records", m.Hour)
			}
			fmt.Fprintf(tc.Log, "validated the model of hour %s (%d records, mean %.2f)\n", m.Hour, m.N, m.Mean)
			if err := os.WriteFile(filepath.Join(dir, "validated"), nil, 0o644); err != nil {
				return err
			}
			select {
			case validated <- m.Hour:
			default:
			}
		}
		return nil
	}
}

// Workflow declares the workflow. Training and validating read the hours
// named by the execution's HourClosedEvent events with events (the
// client).
func Workflow(opts Options, events EventLister, validated chan string) *aiflow.Workflow {
	wf := aiflow.NewWorkflow("flink_watermark")
	var job aiflow.Operator = operators.Func(simulatedJob(opts, validated))
	if opts.FlinkJar != "" {
		job = operators.Flink(operators.FlinkConfig{
			Application: opts.FlinkJar, ApplicationArgs: opts.FlinkArgs,
			Streaming: true, StopWithSavepoint: true,
		})
	}
	wf.Task("watermark_job", job, aiflow.Streaming(), aiflow.WithEnv(map[string]string{"WATERMARK_DATA_DIR": opts.DataDir}))
	training := wf.Task("training", operators.Func(train(opts, events)))
	training.OnEvent(HourClosedEvent, aiflow.ActionStart)
	validating := wf.Task("validating", operators.Func(validate(opts.DataDir, events, validated)))
	validating.StartAfter(training)
	return wf
}

func main() {
	opts := Options{RecordInterval: 20 * time.Millisecond}
	flag.IntVar(&opts.Hours, "hours", 3, "stop after this many validated hours (0: run until interrupted)")
	flag.StringVar(&opts.DataDir, "data", "", "data directory (a temporary one when empty)")
	flag.StringVar(&opts.FlinkJar, "flink-jar", "", "run this Flink job as the streaming task instead of the simulation")
	flag.BoolVar(&opts.Lockstep, "lockstep", true, "the simulated job waits for each hour's validation before closing the next")
	flag.DurationVar(&opts.TrainingTime, "training-time", 0, "how long each training takes at least (simulated work)")
	flag.Parse()
	opts.FlinkArgs = flag.Args()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.DataDir == "" {
		dir, err := os.MkdirTemp("", "flink_watermark")
		if err != nil {
			fmt.Fprintln(os.Stderr, "flink_watermark:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
		opts.DataDir = dir
	}
	if _, err := run(ctx, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "flink_watermark:", err)
		os.Exit(1)
	}
}

// run starts one execution, prints what happens and, after opts.Hours
// validations, stops it; it returns the execution's final status.
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
	wf := Workflow(opts, client, make(chan string, 1))
	if err := client.Register(ctx, wf); err != nil {
		return "", err
	}
	if err := client.Start(ctx); err != nil {
		return "", err
	}
	defer client.Stop(context.WithoutCancel(ctx))
	validations := 0
	x, err := exampleenv.RunAndPrintUntil(ctx, client, wf.Name(), out, func(ev aiflow.Event) bool {
		if ev.IsStatusChange() && ev.TaskName == "validating" && ev.Value == string(aiflow.TaskSuccess) {
			validations++
		}
		return opts.Hours > 0 && validations >= opts.Hours
	})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(out, "workflow execution %d ended %s after %d validated hours\n", x.ID, x.Status, validations)
	return x.Status, nil
}

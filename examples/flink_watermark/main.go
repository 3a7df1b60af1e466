// Command flink_watermark runs the seed system's headline scenario: a
// streaming job reads time-stamped records, advances an event-time watermark
// and, each time the watermark passes the end of an hour, writes that hour's
// data and sends the event "hour_closed"; every such event starts a training
// task on the hour's data, and a validating task follows each training. The
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
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/examples/internal/exampleenv"
	"github.com/aiflow-go/aiflow/operators"
)

// HourClosedEvent is the key of the event the streaming job sends when its
// watermark passes the end of an hour; its value is the hour's data
// directory.
const HourClosedEvent = "hour_closed"

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
	// the previous hour has been validated, so that no START is ignored
	// because training is still running (for tests and demos; a real job
	// does not wait).
	Lockstep bool
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
// written to <data>/hour=<hour>/records.json and HourClosedEvent is sent.
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
				dir, err := writeHour(opts.DataDir, h, open[h])
				if err != nil {
					return err
				}
				fmt.Fprintf(tc.Log, "watermark %s passed the end of hour %s: %d records\n", watermark.Format(time.RFC3339), h.Format("2006-01-02T15"), len(open[h]))
				delete(open, h)
				if _, err := tc.SendEvent(ctx, HourClosedEvent, dir); err != nil {
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

func writeHour(dataDir string, hour time.Time, rs []record) (string, error) {
	dir := filepath.Join(dataDir, "hour="+hour.Format("2006-01-02T15"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	data, err := json.Marshal(rs)
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "records.json"), data, 0o644)
}

// latestHour returns the newest closed hour's directory.
func latestHour(dataDir string) (string, error) {
	dirs, err := filepath.Glob(filepath.Join(dataDir, "hour=*"))
	if err != nil || len(dirs) == 0 {
		return "", errors.Join(errors.New("no closed hour yet"), err)
	}
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "records.json")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("no closed hour yet")
}

// model is what training makes of an hour: the mean and spread of its
// values, a stand-in for a real model.
type model struct {
	Hour  string  `json:"hour"`
	N     int     `json:"n"`
	Mean  float64 `json:"mean"`
	Sigma float64 `json:"sigma"`
}

// train fits the model of the newest closed hour.
func train(dataDir string) func(ctx context.Context, tc *aiflow.TaskContext) error {
	return func(_ context.Context, tc *aiflow.TaskContext) error {
		dir, err := latestHour(dataDir)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(filepath.Join(dir, "records.json"))
		if err != nil {
			return err
		}
		var rs []record
		if err := json.Unmarshal(data, &rs); err != nil {
			return err
		}
		m := model{Hour: strings.TrimPrefix(filepath.Base(dir), "hour="), N: len(rs)}
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
}

// validate checks the newest hour's model.
func validate(dataDir string, validated chan<- string) func(ctx context.Context, tc *aiflow.TaskContext) error {
	return func(_ context.Context, tc *aiflow.TaskContext) error {
		dir, err := latestHour(dataDir)
		if err != nil {
			return err
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
		select {
		case validated <- m.Hour:
		default:
		}
		return nil
	}
}

// Workflow declares the workflow.
func Workflow(opts Options, validated chan string) *aiflow.Workflow {
	wf := aiflow.NewWorkflow("flink_watermark")
	var job aiflow.Operator = operators.Func(simulatedJob(opts, validated))
	if opts.FlinkJar != "" {
		job = operators.Flink(operators.FlinkConfig{
			Application: opts.FlinkJar, ApplicationArgs: opts.FlinkArgs,
			Streaming: true, StopWithSavepoint: true,
		})
	}
	wf.Task("watermark_job", job, aiflow.Streaming(), aiflow.WithEnv(map[string]string{"WATERMARK_DATA_DIR": opts.DataDir}))
	training := wf.Task("training", operators.Func(train(opts.DataDir)))
	training.OnEvent(HourClosedEvent, aiflow.ActionStart)
	validating := wf.Task("validating", operators.Func(validate(opts.DataDir, validated)))
	validating.StartAfter(training)
	return wf
}

func main() {
	opts := Options{RecordInterval: 20 * time.Millisecond}
	flag.IntVar(&opts.Hours, "hours", 3, "stop after this many validated hours (0: run until interrupted)")
	flag.StringVar(&opts.DataDir, "data", "", "data directory (a temporary one when empty)")
	flag.StringVar(&opts.FlinkJar, "flink-jar", "", "run this Flink job as the streaming task instead of the simulation")
	flag.BoolVar(&opts.Lockstep, "lockstep", true, "the simulated job waits for each hour's validation before closing the next")
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
	wf := Workflow(opts, make(chan string, 1))
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

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFlinkWatermark(t *testing.T) {
	t.Setenv("AIFLOW_DATABASE_URL", "") // the memory store
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	status, err := run(ctx, &out, Options{DataDir: t.TempDir(), RecordInterval: time.Millisecond, Hours: 3, Lockstep: true})
	require.NoError(t, err)
	text := out.String()
	require.Equal(t, aiflow.WorkflowStopped, status, text)

	lines := strings.Split(text, "\n")
	index := func(line string) int {
		t.Helper()
		for i, l := range lines {
			if l == line {
				return i
			}
		}
		t.Fatalf("output lacks %q:\n%s", line, text)
		return -1
	}
	running := index("task watermark_job #1: RUNNING")
	stopped := index("stopping workflow execution 1")
	require.NotContains(t, text, "task watermark_job #2", "the streaming task never stops while batch tasks come and go")
	require.NotContains(t, text, "task watermark_job #1: RETRYING")
	require.NotContains(t, text, "task watermark_job #1: FAILED")
	require.GreaterOrEqual(t, strings.Count(text, `event "hour_closed" = `), 3, text)
	for i := 1; i <= 3; i++ {
		trained := index(fmt.Sprintf("task training #%d: SUCCESS", i))
		validated := index(fmt.Sprintf("task validating #%d: SUCCESS", i))
		require.Less(t, running, index(fmt.Sprintf("task training #%d: QUEUED", i)))
		require.Less(t, trained, index(fmt.Sprintf("task validating #%d: QUEUED", i)), "validating follows training")
		require.Less(t, validated, stopped, "the streaming job was running the whole time")
	}
	require.Contains(t, text, "ended STOPPED after 3 validated hours")
}

var hourClosedRe = regexp.MustCompile(`(?m)^event "hour_closed" = "([^"]+)" from `)

// namedHours returns the hours named by the printed hour_closed events, in
// order.
func namedHours(t *testing.T, out string) []string {
	t.Helper()
	var hours []string
	for _, m := range hourClosedRe.FindAllStringSubmatch(out, -1) {
		hours = append(hours, m[1])
	}
	require.NotEmpty(t, hours, out)
	return hours
}

// trainedHour returns the hour of the model in an hour's directory, and
// whether it has one.
func trainedHour(t *testing.T, dataDir, hour string) (string, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "hour="+hour, "model.json"))
	if os.IsNotExist(err) {
		return "", false
	}
	require.NoError(t, err)
	var m model
	require.NoError(t, json.Unmarshal(data, &m))
	return m.Hour, true
}

// Training trains the hour its event names, not the newest directory: a
// newer hour that no event named is left alone.
func TestFlinkWatermarkTrainsTheHourTheEventNames(t *testing.T) {
	t.Setenv("AIFLOW_DATABASE_URL", "") // the memory store
	dataDir := t.TempDir()
	decoy := filepath.Join(dataDir, "hour=2030-01-01T00")
	require.NoError(t, os.MkdirAll(decoy, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(decoy, "records.json"), []byte(`[{"At":"2030-01-01T00:10:00Z","Value":1}]`), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	status, err := run(ctx, &out, Options{DataDir: dataDir, RecordInterval: time.Millisecond, Hours: 3, Lockstep: true})
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowStopped, status, out.String())

	hours := namedHours(t, out.String())
	require.Equal(t, []string{"2024-01-01T00", "2024-01-01T01", "2024-01-01T02"}, hours[:3], "the job closes the hours in order")
	for _, h := range hours[:3] {
		got, ok := trainedHour(t, dataDir, h)
		require.True(t, ok, "hour %s named by an event has a model", h)
		require.Equal(t, h, got)
		require.FileExists(t, filepath.Join(dataDir, "hour="+h, "validated"))
	}
	_, ok := trainedHour(t, dataDir, "2030-01-01T00")
	require.False(t, ok, "no event named the newest directory: it is not trained")
}

// Without lockstep the job does not wait: hours close while training runs
// and their START is ignored, but none is left out: the hours with a model
// are the oldest of those the events named, without a gap, whatever the
// timing (TestTrainingCatchesUp makes the case deterministic).
func TestFlinkWatermarkWithoutLockstepLeavesNoHourOut(t *testing.T) {
	t.Setenv("AIFLOW_DATABASE_URL", "") // the memory store
	dataDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	// Each training takes long enough for several hours to close meanwhile.
	status, err := run(ctx, &out, Options{DataDir: dataDir, RecordInterval: time.Millisecond, Hours: 3, TrainingTime: 100 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowStopped, status, out.String())

	hours := namedHours(t, out.String())
	trained := 0
	for trained < len(hours) {
		got, ok := trainedHour(t, dataDir, hours[trained])
		if !ok {
			break
		}
		require.Equal(t, hours[trained], got)
		trained++
	}
	require.Positive(t, trained, out.String())
	for _, h := range hours[trained:] {
		_, ok := trainedHour(t, dataDir, h)
		require.False(t, ok, "hour %s was trained while an older one (%s) was left out", h, hours[trained])
	}
	dirs, err := filepath.Glob(filepath.Join(dataDir, "hour=*", "model.json"))
	require.NoError(t, err)
	require.Len(t, dirs, trained, "only hours named by events are trained")
}

// fakeEvents lists the hour_closed events of execution 7 with the values
// in hours, a page of at most filter.Limit at a time (the ID of a position
// counts the events listed before it).
type fakeEvents struct {
	hours []string
	calls int
}

func (f *fakeEvents) ListEvents(_ context.Context, filter *aiflow.EventFilter) ([]aiflow.Event, aiflow.Position, error) {
	f.calls++
	if filter.ExecutionID != 7 || len(filter.Keys) != 1 || filter.Keys[0] != HourClosedEvent {
		return nil, filter.After, fmt.Errorf("unexpected filter %+v", filter)
	}
	from := int(filter.After.ID)
	to := min(from+filter.Limit, len(f.hours))
	var evs []aiflow.Event
	for i := from; i < to; i++ {
		evs = append(evs, aiflow.Event{ID: int64(i + 1), Key: HourClosedEvent, Value: f.hours[i], ExecutionID: 7})
	}
	return evs, aiflow.Position{XID: 1, ID: int64(to)}, nil
}

// A training trains every hour named by an event that has no model yet,
// oldest first, once each: the hours whose START was ignored while the
// previous training ran are not lost, and an hour announced twice is
// trained once. Validating follows the same hours.
func TestTrainingCatchesUp(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		require.NoError(t, writeHour(dataDir, start.Add(time.Duration(i)*time.Hour), []record{{At: start, Value: float64(i)}}))
	}
	var log bytes.Buffer
	tc := &aiflow.TaskContext{ExecutionID: 7, Task: "training", Log: &log}
	// Hour 00 started the first training; 01 and 02 closed while it ran
	// (01 twice, after a failover); 04 is on disk but not announced yet.
	events := &fakeEvents{hours: []string{"2024-01-01T00", "2024-01-01T01", "2024-01-01T01", "2024-01-01T02"}}
	require.NoError(t, train(Options{DataDir: dataDir}, events)(t.Context(), tc))
	require.Equal(t, "trained on hour 2024-01-01T00: "+`{"hour":"2024-01-01T00","n":1,"mean":0,"sigma":0}`+"\n"+
		"trained on hour 2024-01-01T01: "+`{"hour":"2024-01-01T01","n":1,"mean":1,"sigma":0}`+"\n"+
		"trained on hour 2024-01-01T02: "+`{"hour":"2024-01-01T02","n":1,"mean":2,"sigma":0}`+"\n", log.String())
	for _, h := range []string{"2024-01-01T03", "2024-01-01T04"} {
		_, ok := trainedHour(t, dataDir, h)
		require.False(t, ok, "hour %s was not announced", h)
	}
	validated := make(chan string, 10)
	log.Reset()
	require.NoError(t, validate(dataDir, events, validated)(t.Context(), tc))
	require.Equal(t, 3, strings.Count(log.String(), "validated the model of hour"), log.String())
	require.Equal(t, "2024-01-01T00", <-validated)

	// The next training, started by 04's event, trains 03 and 04 only.
	events.hours = append(events.hours, "2024-01-01T04", "2024-01-01T03")
	log.Reset()
	require.NoError(t, train(Options{DataDir: dataDir}, events)(t.Context(), tc))
	require.Regexp(t, `^trained on hour 2024-01-01T04: .*\ntrained on hour 2024-01-01T03: .*\n$`, log.String(), "in the order of the events")
	log.Reset()
	require.NoError(t, train(Options{DataDir: dataDir}, events)(t.Context(), tc))
	require.Equal(t, "every hour named by a \"hour_closed\" event has a model already\n", log.String())
	log.Reset()
	require.NoError(t, validate(dataDir, events, validated)(t.Context(), tc))
	require.Equal(t, "validated the model of hour 2024-01-01T04 (1 records, mean 4.00)\n"+
		"validated the model of hour 2024-01-01T03 (1 records, mean 3.00)\n", log.String())

	// More events than a page: every page is read.
	many := &fakeEvents{}
	for range 2500 {
		many.hours = append(many.hours, "2024-01-01T00")
	}
	many.hours = append(many.hours, "2024-01-01T01")
	hours, err := closedHours(t.Context(), many, 7)
	require.NoError(t, err)
	require.Equal(t, []time.Time{start, start.Add(time.Hour)}, hours)
	require.Equal(t, 3, many.calls)

	// A value that names no hour is an error that says what was expected.
	_, err = closedHours(t.Context(), &fakeEvents{hours: []string{"/data/hour=2024-01-01T00"}}, 7)
	require.EqualError(t, err, `event 1 "hour_closed" has the value "/data/hour=2024-01-01T00": expected an hour such as "2006-01-02T15"`)
}

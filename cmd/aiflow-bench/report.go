package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Sizes sets how much each measurement does.
type Sizes struct {
	Latencies  int           // events (and River jobs) timed one at a time
	Appends    time.Duration // duration of each append measurement
	Idle       time.Duration // duration of the idle CPU measurement
	Executions int           // running executions of the throughput measurements
	Rounds     int           // task start rounds
	Applied    int           // events of the applied measurement (no rule met)
	Stateful   int           // events of the stateful applied measurement, each deciding in every execution
	Scoped     int           // events of the scoped applied measurement, each deciding in one execution
	BulkStarts int           // executions of the bulk start measurement

	// Curve lists the running executions of the points of the
	// execution-count curve; each point sends CurveEvents events that no
	// rule expects and curveEvents(n, CurveEvents, CurveWork) that every
	// execution expects (about CurveWork decisions, at least 100 events),
	// CurveRounds times, the point's cost being the median round's.
	Curve       []int
	CurveEvents int
	CurveWork   int
	CurveRounds int

	// Processes lists the numbers of worker processes of the scaling
	// measurement, each measured as Scaling sets.
	Processes []int
	Scaling   ScalingSetup

	// Only lists the measurements to take (see Measurements); empty means
	// all of them.
	Only []string
}

// Measurements names the measurements of a run, for Sizes.Only (the
// command's -only): event to start (with River's floor), appends, events
// applied (the three kinds), task starts, bulk starts, idle CPU, the
// execution-count curve and the multi-process scaling.
var Measurements = []string{"latency", "appends", "applied", "starts", "bulk", "idle", "curve", "scaling"}

// Full are the sizes of a measurement run; Quick those of a smoke run.
var (
	Full = Sizes{Latencies: 1000, Appends: 5 * time.Second, Idle: 10 * time.Second, Executions: 1000, Rounds: 5,
		Applied: 50000, Stateful: 5000, Scoped: 20000, BulkStarts: 10000,
		Curve: []int{10, 1000, 10000}, CurveEvents: 2000, CurveWork: 1_000_000, CurveRounds: 3,
		Processes: []int{1, 2, 3}, Scaling: ScalingSetup{Executions: 1000, Events: 100000, Rounds: 3, Partitions: 6, Conns: 20, WorkerCPU: 0.15}}
	Quick = Sizes{Latencies: 20, Appends: 300 * time.Millisecond, Idle: time.Second, Executions: 50, Rounds: 1,
		Applied: 1000, Stateful: 200, Scoped: 200, BulkStarts: 100,
		Curve: []int{10, 50}, CurveEvents: 100, CurveWork: 1000, CurveRounds: 2,
		Processes: []int{1, 2}, Scaling: ScalingSetup{Executions: 20, Events: 200, Rounds: 1, Partitions: 2, Conns: 8, WorkerCPU: 0.15}}
)

// Report holds the figures of one run.
type Report struct {
	EventToStart      Latency
	RiverInsertToWork Latency
	AppendOne         float64 // events/s, one event per transaction, 2 callers
	AppendBatch       float64 // events/s, 100 events per transaction, 2 callers
	EventsApplied     float64 // events/s, no rule met (the cheapest events)
	StatefulApplied   float64 // events/s, each updating a condition's state in every execution
	ScopedApplied     float64 // events/s, each updating a condition's state in the one execution it is sent to
	TaskStarts        float64 // starts/s
	BulkStarts        BulkStartFigures
	IdleProcess       float64 // % of one core
	IdleBackends      float64 // % of one core
	Curve             []CurvePoint
	Scaling           []ScalingPoint

	taken map[string]bool // the measurements taken, by name
}

// Run takes every measurement in turn, printing each line to w as it comes,
// and returns the figures. The scaling measurement runs this program again
// as its worker processes (see worker.go).
func Run(ctx context.Context, pool *pgxpool.Pool, sz Sizes, w io.Writer) (*Report, error) {
	r := &Report{taken: map[string]bool{}}
	for _, m := range sz.Only {
		if !slices.Contains(Measurements, m) {
			return nil, fmt.Errorf("measurement %q: expected one of %s", m, strings.Join(Measurements, ", "))
		}
	}
	var err error
	kind := ""
	step := func(name string, f func() error) {
		if err != nil || (len(sz.Only) > 0 && !slices.Contains(sz.Only, kind)) {
			return
		}
		r.taken[kind] = true
		fmt.Fprintf(w, "measuring %s ...\n", name)
		if e := f(); e != nil {
			err = fmt.Errorf("%s: %w", name, e)
		}
	}
	kind = "latency"
	step("event to operator start", func() (e error) { r.EventToStart, e = EventToStart(ctx, pool, nil, sz.Latencies); return })
	step("River insert to work", func() (e error) { r.RiverInsertToWork, e = RiverInsertToWork(ctx, pool, sz.Latencies); return })
	kind = "appends"
	step("appends, one event per transaction", func() (e error) { r.AppendOne, e = AppendEvents(ctx, pool, 1, 2, sz.Appends); return })
	step("appends, 100 events per transaction", func() (e error) { r.AppendBatch, e = AppendEvents(ctx, pool, 100, 2, sz.Appends); return })
	kind = "applied"
	step("events applied", func() (e error) { r.EventsApplied, e = EventsApplied(ctx, pool, sz.Executions, sz.Applied); return })
	step("events applied, stateful condition, each event sent to one execution", func() (e error) {
		r.ScopedApplied, e = ScopedEventsApplied(ctx, pool, sz.Executions, sz.Scoped)
		return
	})
	step("events applied, stateful condition, each event deciding in every execution", func() (e error) {
		r.StatefulApplied, e = StatefulEventsApplied(ctx, pool, sz.Executions, sz.Stateful)
		return
	})
	kind = "starts"
	step("task starts", func() (e error) { r.TaskStarts, e = TaskStarts(ctx, pool, sz.Executions, sz.Rounds); return })
	kind = "bulk"
	step("bulk starts", func() (e error) { r.BulkStarts, e = BulkStarts(ctx, pool, sz.BulkStarts); return })
	kind = "idle"
	step("idle CPU", func() (e error) { r.IdleProcess, r.IdleBackends, e = IdleCPU(ctx, pool, sz.Idle); return })
	kind = "curve"
	for _, n := range sz.Curve {
		step(fmt.Sprintf("the cost of an event with %d running executions", n), func() error {
			p, e := ExecutionCurve(ctx, pool, n, curveEvents(n, sz.CurveEvents, sz.CurveWork), sz.CurveEvents, sz.CurveRounds)
			r.Curve = append(r.Curve, p)
			if e == nil {
				fmt.Fprintf(w, "  started %d executions in %.1f s; %s per expected event (rounds: %s), %s per unexpected one\n",
					n, p.Starting.Seconds(), ms(p.Expected), msList(p.ExpectedRounds), ms(p.Unexpected))
			}
			return e
		})
	}
	kind = "scaling"
	exe, exeErr := os.Executable()
	for _, k := range sz.Processes {
		step(fmt.Sprintf("one workflow with %d %s", k, processesWord(k)), func() error {
			if exeErr != nil {
				return exeErr
			}
			p, e := Scaling(ctx, pool, exe, k, sz.Scaling)
			r.Scaling = append(r.Scaling, p)
			return e
		})
	}
	if err != nil {
		return nil, err
	}
	r.Print(w, sz)
	return r, nil
}

// table is the report being written: one row per figure, with its target
// and whether it is met.
type table struct{ tw *tabwriter.Writer }

// row writes a figure; target "" means it has none (information, or a
// floor), and then no verdict is written.
func (t table) row(what, figure, target string, met bool) {
	verdict := ""
	switch {
	case target == "":
	case met:
		verdict = "PASS"
	default:
		verdict = "MISS"
	}
	fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t\n", what, figure, target, verdict)
}

// rate writes a rate with 3 significant digits below 100, none above.
func rate(x float64) string {
	if x < 100 {
		return fmt.Sprintf("%.3g", x)
	}
	return fmt.Sprintf("%.0f", x)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// msList formats ds in milliseconds, separated by " / ".
func msList(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmt.Sprintf("%.2f", float64(d.Microseconds())/1000)
	}
	return strings.Join(s, " / ") + " ms"
}

// Print writes the report as a table: each figure, its target (those of
// issue 16) and PASS or MISS.
func (r *Report) Print(w io.Writer, sz Sizes) {
	t := table{tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t.tw, "measurement\tfigure\ttarget\t\t")
	if r.taken["latency"] {
		r.printLatency(t)
	}
	if r.taken["idle"] {
		t.row("idle CPU, process + Postgres backends", fmt.Sprintf("%.2f %% + %.2f %% of a core", r.IdleProcess, r.IdleBackends), "< 2 %",
			r.IdleProcess+r.IdleBackends < 2)
	}
	if r.taken["starts"] {
		t.row(fmt.Sprintf("task starts (%d running executions, %d rounds)", sz.Executions, sz.Rounds), fmt.Sprintf("%.0f starts/s", r.TaskStarts),
			">= 5,000/s", r.TaskStarts >= 5000)
	}
	if r.taken["applied"] {
		t.row(fmt.Sprintf("events applied, stateful condition, each event to one of %d executions", sz.Executions),
			fmt.Sprintf("%.0f events/s", r.ScopedApplied), ">= 20,000/s", r.ScopedApplied >= 20000)
	}
	if r.taken["bulk"] {
		r.BulkStarts.rows(t)
	}
	r.printCurve(t)
	r.printScaling(t, sz)
	if r.taken["appends"] {
		t.row("appends, one event per transaction (2 callers)", fmt.Sprintf("%.0f events/s", r.AppendOne), "", false)
		t.row("appends, 100 events per transaction (2 callers)", fmt.Sprintf("%.0f events/s", r.AppendBatch), "", false)
	}
	if r.taken["applied"] {
		t.row(fmt.Sprintf("events applied, no rule met (%d running executions)", sz.Executions), fmt.Sprintf("%.0f events/s", r.EventsApplied), "", false)
		t.row(fmt.Sprintf("events applied, each deciding in all %d executions", sz.Executions),
			fmt.Sprintf("%.0f events/s (%.0f decisions/s)", r.StatefulApplied, r.StatefulApplied*float64(sz.Executions)), "", false)
	}
	_ = t.tw.Flush()
}

// printLatency writes event to operator start and River's floor.
func (r *Report) printLatency(t table) {
	p50, p99 := r.EventToStart.Quantile(0.5), r.EventToStart.Quantile(0.99)
	rp50, rp99 := r.RiverInsertToWork.Quantile(0.5), r.RiverInsertToWork.Quantile(0.99)
	t.row(fmt.Sprintf("event to operator start, p50 (%d events)", len(r.EventToStart)), ms(p50), "<= 2.0 ms", p50 <= 2*time.Millisecond)
	t.row("event to operator start, p99", ms(p99), "<= 4 ms", p99 <= 4*time.Millisecond)
	t.row("River insert to work, p50 / p99 (same settings, same run)", ms(rp50)+" / "+ms(rp99), "", false)
	ratio := 0.0
	if rp50 > 0 {
		ratio = float64(p50) / float64(rp50)
	}
	t.row("event to start p50 / River's p50", fmt.Sprintf("%.2fx", ratio), "<= 1.0x", rp50 > 0 && ratio <= 1)
}

// printCurve writes the execution-count curve: each point, then whether an
// event no execution expects costs the same at the largest count as at the
// smallest (within 1.5x, the noise of a shared machine), and whether the
// cost of one every execution expects grew less than the number of
// executions between the two largest counts.
func (r *Report) printCurve(t table) {
	for _, p := range r.Curve {
		t.row(fmt.Sprintf("an event every execution expects, %d running executions (median of %d rounds of %d events)", p.Executions, len(p.ExpectedRounds), p.ExpectedEvents),
			fmt.Sprintf("%s/event, %s events/s a partition", ms(p.Expected), rate(perSecond(p.Expected))), "", false)
	}
	for _, p := range r.Curve {
		t.row(fmt.Sprintf("an event no execution expects, %d running executions (%d events)", p.Executions, p.UnexpectedEvents),
			fmt.Sprintf("%s/event, %s events/s a partition", ms(p.Unexpected), rate(perSecond(p.Unexpected))), "", false)
	}
	if len(r.Curve) < 2 {
		return
	}
	first, prev, last := r.Curve[0], r.Curve[len(r.Curve)-2], r.Curve[len(r.Curve)-1]
	flat := float64(last.Unexpected) / float64(max(first.Unexpected, 1))
	t.row(fmt.Sprintf("an event no execution expects: cost at %d / at %d executions", last.Executions, first.Executions),
		fmt.Sprintf("%.2fx", flat), "<= 1.5x (flat)", flat <= 1.5)
	grew := float64(last.Expected) / float64(max(prev.Expected, 1))
	more := float64(last.Executions) / float64(max(prev.Executions, 1))
	t.row(fmt.Sprintf("an event every execution expects: cost at %d / at %d executions", last.Executions, prev.Executions),
		fmt.Sprintf("%.2fx", grew), fmt.Sprintf("< %.0fx (less than linear)", more), grew < more)
}

// printScaling writes what one workflow did with each number of processes,
// then whether the figures grew with the processes: at the most processes
// at least 1 + 0.25 a process more than at the fewest (1.5x from 1 to 3).
func (r *Report) printScaling(t table, sz Sizes) {
	for _, p := range r.Scaling {
		t.row(fmt.Sprintf("one workflow, %d %s (partitions held %v of %d, events counted %v): events applied, stateful condition",
			p.Processes, processesWord(p.Processes), p.Partitions, sz.Scaling.Partitions, p.Counted), fmt.Sprintf("%.0f events/s", p.EventsApplied), "", false)
		t.row(fmt.Sprintf("one workflow, %d %s (task bodies run %v): task starts, %d executions",
			p.Processes, processesWord(p.Processes), p.Ran, sz.Scaling.Executions), fmt.Sprintf("%.0f starts/s", p.TaskStarts), "", false)
	}
	if len(r.Scaling) < 2 {
		return
	}
	first, last := r.Scaling[0], r.Scaling[len(r.Scaling)-1]
	t.row("one workflow: each worker process's CPU limited to", last.CPULimit, "", false)
	want := 1 + 0.25*float64(last.Processes-first.Processes)
	target := fmt.Sprintf(">= %.2fx", want)
	ratio := func(a, b float64) float64 {
		if b <= 0 {
			return 0
		}
		return a / b
	}
	applied, starts := ratio(last.EventsApplied, first.EventsApplied), ratio(last.TaskStarts, first.TaskStarts)
	t.row(fmt.Sprintf("one workflow: events applied, %d / %d processes", last.Processes, first.Processes), fmt.Sprintf("%.2fx", applied), target, applied >= want)
	t.row(fmt.Sprintf("one workflow: task starts, %d / %d processes", last.Processes, first.Processes), fmt.Sprintf("%.2fx", starts), target, starts >= want)
}

func processesWord(n int) string {
	if n == 1 {
		return "process"
	}
	return "processes"
}

package main

import (
	"context"
	"fmt"
	"io"
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
}

// Full are the sizes of a measurement run; Quick those of a smoke run.
var (
	Full  = Sizes{Latencies: 1000, Appends: 5 * time.Second, Idle: 10 * time.Second, Executions: 1000, Rounds: 5, Applied: 50000, Stateful: 5000, Scoped: 20000}
	Quick = Sizes{Latencies: 20, Appends: 300 * time.Millisecond, Idle: time.Second, Executions: 50, Rounds: 1, Applied: 1000, Stateful: 200, Scoped: 200}
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
}

// Run takes every measurement in turn, printing each line to w as it comes,
// and returns the figures.
func Run(ctx context.Context, pool *pgxpool.Pool, sz Sizes, w io.Writer) (*Report, error) {
	r := &Report{}
	var err error
	step := func(name string, f func() error) {
		if err != nil {
			return
		}
		fmt.Fprintf(w, "measuring %s ...\n", name)
		if e := f(); e != nil {
			err = fmt.Errorf("%s: %w", name, e)
		}
	}
	step("event to operator start", func() (e error) { r.EventToStart, e = EventToStart(ctx, pool, nil, sz.Latencies); return })
	step("River insert to work", func() (e error) { r.RiverInsertToWork, e = RiverInsertToWork(ctx, pool, sz.Latencies); return })
	step("appends, one event per transaction", func() (e error) { r.AppendOne, e = AppendEvents(ctx, pool, 1, 2, sz.Appends); return })
	step("appends, 100 events per transaction", func() (e error) { r.AppendBatch, e = AppendEvents(ctx, pool, 100, 2, sz.Appends); return })
	step("events applied", func() (e error) { r.EventsApplied, e = EventsApplied(ctx, pool, sz.Executions, sz.Applied); return })
	step("events applied, stateful condition, each event sent to one execution", func() (e error) {
		r.ScopedApplied, e = ScopedEventsApplied(ctx, pool, sz.Executions, sz.Scoped)
		return
	})
	step("events applied, stateful condition, each event deciding in every execution", func() (e error) {
		r.StatefulApplied, e = StatefulEventsApplied(ctx, pool, sz.Executions, sz.Stateful)
		return
	})
	step("task starts", func() (e error) { r.TaskStarts, e = TaskStarts(ctx, pool, sz.Executions, sz.Rounds); return })
	step("bulk starts", func() (e error) { r.BulkStarts, e = BulkStarts(ctx, pool, 10*sz.Executions); return })
	step("idle CPU", func() (e error) { r.IdleProcess, r.IdleBackends, e = IdleCPU(ctx, pool, sz.Idle); return })
	if err != nil {
		return nil, err
	}
	r.Print(w, sz)
	return r, nil
}

// Print writes the report as a table with the targets.
func (r *Report) Print(w io.Writer, sz Sizes) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	p50, p99 := r.EventToStart.Quantile(0.5), r.EventToStart.Quantile(0.99)
	rp50, rp99 := r.RiverInsertToWork.Quantile(0.5), r.RiverInsertToWork.Quantile(0.99)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tresult\ttarget\t")
	fmt.Fprintf(tw, "event to operator start, p50 (%d events)\t%s\t<= 5 ms: %s\t\n", len(r.EventToStart), ms(p50), verdict(p50 <= 5*time.Millisecond))
	fmt.Fprintf(tw, "event to operator start, p99\t%s\t<= 20 ms: %s\t\n", ms(p99), verdict(p99 <= 20*time.Millisecond))
	fmt.Fprintf(tw, "River insert to work, p50 / p99 (same settings)\t%s / %s\tfloor\t\n", ms(rp50), ms(rp99))
	ratio := 0.0
	if rp50 > 0 {
		ratio = float64(p50) / float64(rp50)
	}
	fmt.Fprintf(tw, "event to start p50 / River's p50\t%.2fx\t<= 2x: %s\t\n", ratio, verdict(ratio <= 2))
	fmt.Fprintf(tw, "appends, one event per transaction (2 callers)\t%.0f events/s\t\t\n", r.AppendOne)
	fmt.Fprintf(tw, "appends, 100 events per transaction (2 callers)\t%.0f events/s\t\t\n", r.AppendBatch)
	fmt.Fprintf(tw, "events applied, no rule met (%d running executions)\t%.0f events/s\t>= 5,000: %s\t\n", sz.Executions, r.EventsApplied, verdict(r.EventsApplied >= 5000))
	fmt.Fprintf(tw, "events applied, each deciding in one of %d executions (stateful condition)\t%.0f events/s\t>= 5,000: %s\t\n", sz.Executions, r.ScopedApplied, verdict(r.ScopedApplied >= 5000))
	fmt.Fprintf(tw, "events applied, each deciding in all %d executions (%d decisions per event)\t%.0f events/s (%.0f decisions/s)\tinformational\t\n",
		sz.Executions, sz.Executions, r.StatefulApplied, r.StatefulApplied*float64(sz.Executions))
	fmt.Fprintf(tw, "task starts (%d running executions, %d rounds)\t%.0f starts/s\t>= 2,000: %s\t\n", sz.Executions, sz.Rounds, r.TaskStarts, verdict(r.TaskStarts >= 2000))
	r.BulkStarts.print(tw)
	fmt.Fprintf(tw, "idle CPU, process / Postgres backends\t%.2f %% / %.2f %% of a core\t< 2 %%: %s\t\n", r.IdleProcess, r.IdleBackends, verdict(r.IdleProcess+r.IdleBackends < 2))
	_ = tw.Flush()
}

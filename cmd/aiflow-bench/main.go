// Command aiflow-bench measures the Postgres store on the machine it runs on
// and prints every figure of docs/benchmarks.md in one run, next to its
// target: event to operator start (p50, p99), River's own insert-to-work
// latency with the same River settings, append throughput, events applied per
// second with running executions (events no rule meets; events each sent to
// one execution, whose stateful condition evaluates them and updates its
// state; and, for information, events that the stateful condition of every
// execution evaluates), task starts per second, bulk starts (when the build
// has them), the idle CPU of a client and its Postgres backends, the cost of
// an event by the number of running executions (the execution-count curve)
// and the events applied and task starts of one workflow with 1, 2 and 3
// processes, each with PASS or MISS against its target.
//
//	go run ./cmd/aiflow-bench -database-url postgres://postgres@127.0.0.1:5432/test
//
// Each measurement works in a fresh schema that it drops afterwards. -quick
// runs every measurement briefly (a smoke run, figures not meaningful).
// Run it on a quiet machine: figures taken while other work runs are up to
// three times worse.
//
// -curve sets the running executions of the execution-count curve (10, 1,000
// and 10,000 by default; -curve 10,1000,10000,100000 adds the point outside
// CI; each point's cost is the median of -curve-rounds timed rounds, 3 by
// default, after an untimed warm-up round), -processes the numbers of
// processes of the multi-process scaling (1, 2
// and 3: this program runs itself again as each worker process, told so by
// the environment variable AIFLOW_BENCH_WORKER), and -only a subset of the
// measurements (-only curve,scaling); -worker-conns sizes the pool of each
// worker process (20 by default) and -worker-cpu the CPU each may use (0.15
// of a core by default, with a control group of its own where the machine
// allows it, as a replica on a machine of its own would have, small enough
// that three workers and Postgres fit in two cores; 0: no limit, the
// workers then share the machine's cores with each other and Postgres).
//
// The same measurements run as go test benchmarks, one at a time:
//
//	go test -run '^$' -bench BenchmarkEventToFuncStart -benchtime 500x ./cmd/aiflow-bench
//
// Import rule: aiflow-bench imports the root package, operators, store,
// store/postgres, pgx and River; being a command, nothing imports it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	runWorkerIfAsked()
	url := flag.String("database-url", os.Getenv("AIFLOW_DATABASE_URL"), "Postgres URL (default $AIFLOW_DATABASE_URL)")
	quick := flag.Bool("quick", false, "run every measurement briefly (smoke run)")
	curve := flag.String("curve", joinInts(Full.Curve), "running executions of the points of the execution-count curve (add 100000 outside CI)")
	curveRounds := flag.Int("curve-rounds", Full.CurveRounds, "rounds of expected events at each point of the execution-count curve; a point's cost is the median round's")
	processes := flag.String("processes", joinInts(Full.Processes), "numbers of worker processes of the multi-process scaling measurement")
	workerConns := flag.Int("worker-conns", int(Full.Scaling.Conns), "connections of each worker process's pool in the scaling measurement")
	workerCPU := flag.Float64("worker-cpu", Full.Scaling.WorkerCPU, "cores each worker process of the scaling measurement may use (a control group of its own: Linux, as root); 0: no limit")
	only := flag.String("only", "", "comma-separated measurements to take, of "+strings.Join(Measurements, ", ")+" (default all)")
	flag.Parse()
	sizes := Full
	if *quick {
		sizes = Quick
	}
	var err error
	flag.Visit(func(f *flag.Flag) {
		switch {
		case err != nil:
		case f.Name == "curve":
			sizes.Curve, err = parseInts("-curve", *curve)
		case f.Name == "curve-rounds" && (*curveRounds < 1 || *curveRounds > 100):
			err = fmt.Errorf("-curve-rounds %d: expected 1 to 100 rounds", *curveRounds)
		case f.Name == "curve-rounds":
			sizes.CurveRounds = *curveRounds
		case f.Name == "processes":
			sizes.Processes, err = parseInts("-processes", *processes)
		case f.Name == "worker-conns" && (*workerConns < 1 || *workerConns > 1000):
			err = fmt.Errorf("-worker-conns %d: expected 1 to 1000 connections", *workerConns)
		case f.Name == "worker-conns":
			sizes.Scaling.Conns = int32(*workerConns)
		case f.Name == "worker-cpu" && (*workerCPU < 0 || *workerCPU > 1024):
			err = fmt.Errorf("-worker-cpu %g: expected 0 (no limit) or a positive number of cores, such as 0.25", *workerCPU)
		case f.Name == "worker-cpu":
			sizes.Scaling.WorkerCPU = *workerCPU
		case f.Name == "only":
			sizes.Only = strings.Split(*only, ",")
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "aiflow-bench:", err)
		os.Exit(2)
	}
	if *url == "" {
		fmt.Fprintln(os.Stderr, "aiflow-bench: no database: pass -database-url or set AIFLOW_DATABASE_URL, for example postgres://postgres@127.0.0.1:5432/test")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := pgxpool.ParseConfig(*url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "aiflow-bench: -database-url %q: %v\n", *url, err)
		os.Exit(2)
	}
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aiflow-bench:", err)
		os.Exit(1)
	}
	defer pool.Close()
	if _, err := Run(ctx, pool, sizes, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "aiflow-bench:", err)
		pool.Close()
		os.Exit(1)
	}
}

// parseInts parses a comma-separated list of positive numbers, the value of
// flag name.
func parseInts(name, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: expected comma-separated positive numbers, such as 10,1000,10000", name, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// joinInts writes ns as parseInts reads them.
func joinInts(ns []int) string {
	fs := make([]string, len(ns))
	for i, n := range ns {
		fs[i] = strconv.Itoa(n)
	}
	return strings.Join(fs, ",")
}

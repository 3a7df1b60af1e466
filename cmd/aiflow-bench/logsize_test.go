package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// logSizes are the sizes of the log BenchmarkEventCostByLogSize runs with:
// CI runs the small one; the long form (docs/benchmarks.md) passes
// -args -log-sizes 10000,100000,1000000,10000000.
var logSizes = flag.String("log-sizes", "10000", "comma-separated numbers of events logged before BenchmarkEventCostByLogSize measures")

// BenchmarkEventCostByLogSize measures the cost of appending and applying an
// event when the log already holds a given number of consumed events (a
// deployment that has run for a while; pruning keeps it bounded, and the
// cost should not depend on it either way): b.N appends of one event, then
// b.N events appended in batches of 100 and applied by a client with 100
// running executions. Each size runs in a fresh schema, prefilled by SQL.
//
//	go test -run '^$' -bench BenchmarkEventCostByLogSize -benchtime 2000x ./cmd/aiflow-bench
//	go test -run '^$' -bench BenchmarkEventCostByLogSize -benchtime 2000x -timeout 2h ./cmd/aiflow-bench \
//		-args -log-sizes 10000,100000,1000000,10000000
func BenchmarkEventCostByLogSize(b *testing.B) {
	for _, f := range strings.Split(*logSizes, ",") {
		logged, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || logged < 0 {
			b.Fatalf("-log-sizes %q: expected comma-separated numbers of events, such as 10000,10000000", *logSizes)
		}
		b.Run(fmt.Sprintf("logged=%d", logged), func(b *testing.B) {
			if probe(b) {
				return
			}
			c, err := EventCostWithLog(context.Background(), benchPool(b), logged, 100, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(c.Append.Microseconds()), "append-µs")
			b.ReportMetric(c.Applied, "applied-events/s")
			b.ReportMetric(float64(c.LogBytes)/(1<<20), "log-MB")
		})
	}
}

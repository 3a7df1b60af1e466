package main

import (
	"context"
	"testing"
)

// BenchmarkBulkStarts measures starting 10,000 executions with
// Client.StartWorkflowExecutions on a running client, until every one is
// RUNNING (executions/s), and reports the rate of the calls alone and of
// starting them one call at a time (a tenth of them) for comparison.
//
//	go test -run '^$' -bench BenchmarkBulkStarts -benchtime 1x ./cmd/aiflow-bench
func BenchmarkBulkStarts(b *testing.B) {
	pool := benchPool(b)
	for range b.N {
		f, err := BulkStarts(context.Background(), pool, 10000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(f.Running, "running/s")
		b.ReportMetric(f.Created, "created/s")
		b.ReportMetric(f.OneByOne, "one-by-one/s")
	}
}

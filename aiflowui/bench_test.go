package aiflowui

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

// BenchmarkPagesWith10000Executions serves the pages that list executions
// with 10,000 of them in the store: each reads a bounded page, never all.
func BenchmarkPagesWith10000Executions(b *testing.B) {
	ctx := context.Background()
	st := memory.New(nil)
	defer st.Close()
	c, err := aiflow.New(&aiflow.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	w := aiflow.NewWorkflow("w")
	w.Task("wait", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("never", aiflow.ActionStart)
	if err := c.Register(ctx, w); err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = c.Stop(sctx)
	}()
	var last int64
	for range 10000 {
		if last, err = c.StartWorkflowExecution(ctx, "w", nil); err != nil {
			b.Fatal(err)
		}
	}
	h := NewHandler(c, &Options{Auth: aiflowhttp.Auth{AllowUnauthenticated: true}, Logger: slog.New(slog.DiscardHandler)})
	for _, path := range []string{"/", "/executions", "/executions?status=RUNNING&before=5000", "/namespaces/default/workflows/w",
		"/executions/" + itoa(last)} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
				}
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

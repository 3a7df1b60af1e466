package aiflowhttp

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

func TestIdempotencyKeyHeader(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	send := func(key, value string) view.Event {
		t.Helper()
		r := b.do("POST", "/v1/events", `{"key":"paid","value":"`+value+`"}`, IdempotencyKeyHeader, key)
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
		var ev view.Event
		r.json(t, &ev)
		return ev
	}
	first := send("order-1", "a")
	again := send("order-1", "b")
	require.Equal(t, first.ID, again.ID, "a retried request answers the first request's event")
	require.Equal(t, "a", again.Value)
	require.NotEqual(t, first.ID, send("order-2", "c").ID)

	start := func(key string) int64 {
		t.Helper()
		r := b.do("POST", "/v1/namespaces/default/workflows/w/executions", "", IdempotencyKeyHeader, key)
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
		loc := r.header.Get("Location")
		id, err := strconv.ParseInt(strings.TrimPrefix(loc, "/v1/executions/"), 10, 64)
		require.NoError(t, err, loc)
		return id
	}
	x := start("start-1")
	require.Equal(t, x, start("start-1"))
	xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.Len(t, xs, 1)

	b.fails(b.do("POST", "/v1/events", `{"key":"paid"}`, IdempotencyKeyHeader, strings.Repeat("k", 256)),
		http.StatusBadRequest, "invalid", "idempotency key")
}

func TestLoneSurrogateIsRefused(t *testing.T) {
	t.Parallel()
	require.Empty(t, checkJSONText([]byte(`{"key":"\ud83d\ude00 \u00e9 \\ud800"}`)), "pairs, other escapes and escaped backslashes pass")
	for _, body := range []string{
		`{"key":"\ud800"}`, `{"key":"x\udc00"}`, `{"key":"\ud800\u0041"}`, `{"key":"\ud800\ud800\udc00"}`, `{"key":"k","value":"\udfff"}`,
	} {
		require.Contains(t, checkJSONText([]byte(body)), "lone UTF-16 surrogate", body)
	}
	require.Contains(t, checkJSONText([]byte("{\"key\":\"\xff\"}")), "not valid UTF-8")

	b := newBed(t)
	b.fails(b.do("POST", "/v1/events", `{"key":"\ud800"}`), http.StatusBadRequest, "invalid", `lone UTF-16 surrogate (\ud800`)
	b.fails(b.do("POST", "/v1/events", `{"key":"k","value":"a\udc00"}`), http.StatusBadRequest, "invalid", "lone UTF-16 surrogate")
	r := b.do("POST", "/v1/events", `{"key":"smile","value":"\ud83d\ude00"}`)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var ev view.Event
	r.json(t, &ev)
	require.Equal(t, "\U0001F600", ev.Value)
}

func TestInvalidNamespaceIsABadRequest(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	b.fails(b.do("POST", "/v1/events", `{"key":"k","namespace":"a\u0000b"}`), http.StatusBadRequest, "invalid", "namespace name")
	b.fails(b.do("GET", "/v1/namespaces/a%00b/workflows", ""), http.StatusBadRequest, "invalid", "namespace name")
	b.fails(b.do("GET", "/v1/events?namespace=%ff", ""), http.StatusBadRequest, "invalid", "namespace name")
	b.fails(b.do("POST", "/v1/namespaces/a%00b/workflows/w/executions", ""), http.StatusBadRequest, "invalid", "namespace name")
}

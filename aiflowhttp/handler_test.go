package aiflowhttp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/postgres"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, pgtest.LeakOptions()...)
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(openAPIDoc, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				described[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	served := map[string]bool{"GET " + HealthzPath: true, "GET " + ReadyzPath: true} // before the routes, unauthenticated
	for _, rt := range routes {
		served[rt.method+" "+rt.pattern] = true
		require.True(t, described[rt.method+" "+rt.pattern], "route %s %s is not in openapi.yaml", rt.method, rt.pattern)
	}
	for op := range described {
		require.True(t, served[op], "openapi.yaml describes %s, which the handler does not serve", op)
	}
}

const token = "s3cret-token"

type bed struct {
	t      *testing.T
	ctx    context.Context
	client *aiflow.Client
	srv    *httptest.Server
	schema string
	logger *slog.Logger
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newBed(t *testing.T) *bed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	pool := pgtest.Pool(t, 10)
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := &postgres.Config{Schema: pgtest.SchemaName(t, pool), Logger: logger, EventPollInterval: 50 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond}
	_, err := postgres.Migrate(ctx, pool, cfg)
	require.NoError(t, err)
	st, err := postgres.New(ctx, pool, cfg)
	require.NoError(t, err)
	c, err := aiflow.New(&aiflow.Config{Store: st, Logger: logger, PollInterval: 100 * time.Millisecond, LeaseTTL: 2 * time.Second})
	require.NoError(t, err)
	w := aiflow.NewWorkflow("w")
	w.Task("quick", operators.Bash("echo hello"))
	w.Task("stream", operators.Func(func(ctx context.Context, _ *aiflow.TaskContext) error {
		<-ctx.Done()
		return nil
	}), aiflow.Streaming())
	w.Task("manual", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("go", aiflow.ActionStart)
	w.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("never", aiflow.ActionStart)
	require.NoError(t, c.Register(ctx, w))
	require.NoError(t, c.Start(ctx))
	srv := httptest.NewServer(NewHandler(c, &Options{Auth: Auth{Token: token}, Logger: logger}))
	t.Cleanup(func() {
		srv.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = c.Stop(sctx)
		_ = st.Close()
	})
	return &bed{t: t, ctx: ctx, client: c, srv: srv, schema: cfg.Schema, logger: logger}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), string(r.body))
}

// do sends a request with the right token (unless auth is given) and a JSON
// body when body is not empty.
func (b *bed) do(method, path, body string, header ...string) response {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, method, b.srv.URL+path, strings.NewReader(body))
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return response{resp.StatusCode, resp.Header, data}
}

// fails requires status and an error body with code whose message contains
// msg.
func (b *bed) fails(r response, status int, code, msg string) {
	b.t.Helper()
	require.Equal(b.t, status, r.status, string(r.body))
	require.Equal(b.t, "application/json", r.header.Get("Content-Type"))
	var e errorBody
	r.json(b.t, &e)
	require.Equal(b.t, code, e.Code, e.Error)
	require.Contains(b.t, e.Error, msg)
}

func (b *bed) waitRun(exec int64, task string, n int, status aiflow.TaskStatus) aiflow.TaskExecution {
	b.t.Helper()
	var te aiflow.TaskExecution
	require.Eventually(b.t, func() bool {
		tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: exec, Task: task})
		require.NoError(b.t, err)
		if len(tes) < n {
			return false
		}
		te = tes[n-1]
		return te.Status == status
	}, time.Minute, 20*time.Millisecond, "execution %d: %s #%d %s", exec, task, n, status)
	return te
}

func (b *bed) waitExecution(id int64, status aiflow.WorkflowStatus) {
	b.t.Helper()
	require.Eventually(b.t, func() bool {
		x, err := b.client.GetWorkflowExecution(b.ctx, id)
		require.NoError(b.t, err)
		return x.Status == status
	}, time.Minute, 20*time.Millisecond, "execution %d %s", id, status)
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, token, "Bearer " + token + "x"} {
		r := b.do("GET", "/v1/namespaces/default/workflows", "", "Authorization", auth)
		b.fails(r, http.StatusUnauthorized, "unauthenticated", "Authorization: Bearer")
		require.Equal(t, `Bearer realm="aiflow"`, r.header.Get("WWW-Authenticate"))
	}
	// Refused before anything else: even an event is not sent.
	r := b.do("POST", "/v1/events", `{"key":"go"}`, "Authorization", "")
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, http.StatusOK, b.do("GET", "/v1/namespaces/default/workflows", "").status)
	require.Equal(t, http.StatusOK, b.do("GET", "/v1/namespaces/default/workflows", "", "Authorization", "bearer "+token).status)
	n, err := b.client.CountEvents(b.ctx, &aiflow.EventFilter{Keys: []string{"go"}})
	require.NoError(t, err)
	require.Zero(t, n)

	// Without credentials configured, everything is refused ...
	closed := httptest.NewServer(NewHandler(b.client, nil))
	defer closed.Close()
	resp, err := http.Get(closed.URL + "/v1/openapi.yaml")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// ... unless opened on purpose.
	open := httptest.NewServer(NewHandler(b.client, &Options{Auth: Auth{AllowUnauthenticated: true}}))
	defer open.Close()
	resp, err = http.Get(open.URL + "/v1/openapi.yaml")
	require.NoError(t, err)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, openAPIDoc, data)
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	checkWorkflowEndpoints(t, b)
	x, x2 := checkStartExecution(t, b)
	checkShowAndListExecutions(t, b, x, x2)
	checkSendEvents(t, b, x, x2)
	checkRefusedEvents(t, b)
	checkListEvents(t, b, x2)
	checkTaskExecutions(t, b, x)
	checkStartAndStopTasks(t, b, x, x2)
	checkStopExecution(t, b, x)
	checkUnknownEndpoints(t, b)
}

// checkWorkflowEndpoints lists and shows workflows.
func checkWorkflowEndpoints(t *testing.T, b *bed) {
	// Workflows.
	var wl struct {
		Workflows []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
		} `json:"workflows"`
	}
	r := b.do("GET", "/v1/namespaces/default/workflows", "")
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &wl)
	require.Len(t, wl.Workflows, 1)
	require.Equal(t, "w", wl.Workflows[0].Name)
	b.fails(b.do("GET", "/v1/namespaces/ghost/workflows", ""), http.StatusNotFound, "not_found", `namespace not found: "ghost"`)
	var wf struct {
		Name       string `json:"name"`
		Definition struct {
			Tasks []any `json:"tasks"`
		} `json:"definition"`
		Versions []any `json:"versions"`
	}
	r = b.do("GET", "/v1/namespaces/default/workflows/w", "")
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &wf)
	require.Len(t, wf.Definition.Tasks, 4)
	require.Len(t, wf.Versions, 1)
	b.fails(b.do("GET", "/v1/namespaces/default/workflows/nope", ""), http.StatusNotFound, "not_found", `workflow not found: "nope"`)
}

// checkStartExecution starts two executions of w, and returns their ids once both run.
func checkStartExecution(t *testing.T, b *bed) (int64, int64) {
	// Start an execution.
	r := b.do("POST", "/v1/namespaces/default/workflows/w/executions", "")
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var x struct {
		ID      int64  `json:"id"`
		Status  string `json:"status"`
		RunType string `json:"run_type"`
	}
	r.json(t, &x)
	require.Equal(t, fmt.Sprintf("/v1/executions/%d", x.ID), r.header.Get("Location"))
	require.Equal(t, "MANUAL", x.RunType)
	b.waitExecution(x.ID, aiflow.WorkflowRunning)
	r = b.do("POST", "/v1/namespaces/default/workflows/w/executions", `{"input":"{\"day\":1}"}`)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var x2 struct {
		ID    int64  `json:"id"`
		Input string `json:"input"`
	}
	r.json(t, &x2)
	require.Equal(t, `{"day":1}`, x2.Input, "the execution's input")
	got, err := b.client.GetWorkflowExecution(b.ctx, x2.ID)
	require.NoError(t, err)
	require.Equal(t, `{"day":1}`, got.Input)

	b.waitExecution(x2.ID, aiflow.WorkflowRunning) // listed as running below
	b.fails(b.do("POST", "/v1/namespaces/default/workflows/w/executions", `{"namespace":"x"}`), http.StatusBadRequest, "malformed_body", "unknown field")
	b.fails(b.do("POST", "/v1/namespaces/default/workflows/nope/executions", ""), http.StatusNotFound, "not_found", "workflow not found")
	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "w"))
	b.fails(b.do("POST", "/v1/namespaces/default/workflows/w/executions", ""), http.StatusConflict, "conflict", "workflow disabled")
	require.NoError(t, b.client.EnableWorkflow(b.ctx, "", "w"))
	return x.ID, x2.ID
}

// checkShowAndListExecutions shows and lists the running executions x and x2.
func checkShowAndListExecutions(t *testing.T, b *bed, x, x2 int64) {
	// Show and list executions.
	r := b.do("GET", fmt.Sprintf("/v1/executions/%d", x), "")
	require.Equal(t, http.StatusOK, r.status)
	var shown struct {
		Status string `json:"status"`
	}
	r.json(t, &shown)
	require.Equal(t, "RUNNING", shown.Status)
	b.fails(b.do("GET", "/v1/executions/x1", ""), http.StatusBadRequest, "invalid", `id "x1": expected a positive integer`)
	b.fails(b.do("GET", "/v1/executions/424242", ""), http.StatusNotFound, "not_found", "workflow execution not found")
	var xl struct {
		Executions []struct {
			ID int64 `json:"id"`
		} `json:"executions"`
	}
	r = b.do("GET", "/v1/namespaces/default/workflows/w/executions?status=running&limit=10", "")
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &xl)
	require.Len(t, xl.Executions, 2)
	require.Equal(t, x2, xl.Executions[0].ID)
	b.fails(b.do("GET", "/v1/namespaces/default/workflows/w/executions?status=sleeping", ""), http.StatusBadRequest, "invalid", "expected INIT")
	b.fails(b.do("GET", "/v1/namespaces/default/workflows/w/executions?limit=0", ""), http.StatusBadRequest, "invalid", "limit")
}

// checkSendEvents sends events to the namespace, as a task execution of x, and to x2.
func checkSendEvents(t *testing.T, b *bed, x, x2 int64) {
	// Send events: the namespace's running executions start "manual".
	r := b.do("POST", "/v1/events", `{"key":"go","value":"from http","sender":"curl"}`)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var ev struct {
		ID          int64  `json:"id"`
		Position    string `json:"position"`
		Key         string `json:"key"`
		Value       string `json:"value"`
		Sender      string `json:"sender"`
		Namespace   string `json:"namespace"`
		ExecutionID int64  `json:"execution_id"`
		Task        string `json:"task"`
	}
	r.json(t, &ev)
	require.Equal(t, "go", ev.Key)
	require.Equal(t, "curl", ev.Sender)
	require.Equal(t, "default", ev.Namespace)
	b.waitRun(x, "manual", 1, aiflow.TaskSuccess)
	b.waitRun(x2, "manual", 1, aiflow.TaskSuccess)
	// As a task execution: only its execution.
	stream := b.waitRun(x, "stream", 1, aiflow.TaskRunning)
	r = b.do("POST", "/v1/events", fmt.Sprintf(`{"key":"go","task_execution_id":%d}`, stream.ID))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	r.json(t, &ev)
	require.Equal(t, x, ev.ExecutionID)
	require.Equal(t, "stream", ev.Task)
	require.Equal(t, fmt.Sprintf("%d_stream_1", x), ev.Sender)
	b.waitRun(x, "manual", 2, aiflow.TaskSuccess)
	// To one execution by id.
	r = b.do("POST", "/v1/events", fmt.Sprintf(`{"key":"go","execution_id":%d}`, x2))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	b.waitRun(x2, "manual", 2, aiflow.TaskSuccess)
	tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: x, Task: "manual"})
	require.NoError(t, err)
	require.Len(t, tes, 2, "the event to x2 did not reach x (x2 applied it, and x applied the earlier ones)")
}

// checkRefusedEvents sends malformed, oversized and refused events, of which none is appended.
func checkRefusedEvents(t *testing.T, b *bed) {
	// Malformed, oversized and refused events: nothing is appended.
	before, err := b.client.CountEvents(b.ctx, &aiflow.EventFilter{UserOnly: true})
	require.NoError(t, err)
	b.fails(b.do("POST", "/v1/events", `{"key":`), http.StatusBadRequest, "malformed_body", "not the expected JSON object")
	b.fails(b.do("POST", "/v1/events", `{"key":"go","valeu":"typo"}`), http.StatusBadRequest, "malformed_body", `unknown field "valeu"`)
	b.fails(b.do("POST", "/v1/events", `{"key":"go"} {"key":"go"}`), http.StatusBadRequest, "malformed_body", "data after")
	b.fails(b.do("POST", "/v1/events", `{"key":"go","value":42}`), http.StatusBadRequest, "malformed_body", "cannot unmarshal number")
	b.fails(b.do("POST", "/v1/events", ``), http.StatusBadRequest, "malformed_body", "body is empty")
	b.fails(b.do("POST", "/v1/events", `{"value":"v"}`), http.StatusBadRequest, "invalid", `"key" is missing`)
	b.fails(b.do("POST", "/v1/events", `{"key":"go"}`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "unsupported_media_type", "expected application/json")
	b.fails(b.do("POST", "/v1/events", `{"key":"go"}`, "Content-Type", ""), http.StatusUnsupportedMediaType, "unsupported_media_type", "expected application/json")
	require.Equal(t, http.StatusCreated, b.do("POST", "/v1/events", `{"key":"ok"}`, "Content-Type", "application/json; charset=utf-8").status)
	b.fails(b.do("POST", "/v1/events", `{"key":"aiflow.stop_execution"}`), http.StatusBadRequest, "invalid", "reserved for the library")
	b.fails(b.do("POST", "/v1/events", `{"key":"go","namespace":"ghost"}`), http.StatusNotFound, "not_found", `namespace not found: "ghost"`)
	b.fails(b.do("POST", "/v1/events", `{"key":"go","execution_id":424242}`), http.StatusNotFound, "not_found", "workflow execution not found")
	big := strings.Repeat("x", aiflow.MaxEventValueBytes+1)
	b.fails(b.do("POST", "/v1/events", `{"key":"go","value":"`+big+`"}`), http.StatusRequestEntityTooLarge, "event_too_large", "expected at most 65536")
	huge := strings.Repeat("x", MaxBodyBytesDefault)
	b.fails(b.do("POST", "/v1/events", `{"key":"go","value":"`+huge+`"}`), http.StatusRequestEntityTooLarge, "body_too_large", "over 524288 bytes")
	// Events are listed once the Postgres horizon passes them (other tests'
	// open transactions may hold it back a moment): wait for the valid one.
	var after int
	require.Eventually(t, func() bool {
		after, err = b.client.CountEvents(b.ctx, &aiflow.EventFilter{UserOnly: true})
		require.NoError(t, err)
		return after > before
	}, 20*time.Second, 5*time.Millisecond, "the valid event is listed")
	require.Equal(t, before+1, after, "only the valid event was appended")
}

// checkListEvents lists the events sent by checkSendEvents, with paging and filters.
func checkListEvents(t *testing.T, b *bed, x2 int64) {
	// List events, with paging.
	var el eventList
	r := b.do("GET", "/v1/events?key=go&user_only=true&limit=2", "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &el)
	require.Len(t, el.Events, 2)
	require.Equal(t, "from http", el.Events[0].Value)
	r = b.do("GET", "/v1/events?key=go&user_only=true&after="+el.Next, "")
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &el)
	require.Len(t, el.Events, 1)
	r = b.do("GET", "/v1/events?namespace=default&sender=curl", "")
	r.json(t, &el)
	require.Len(t, el.Events, 1)
	r = b.do("GET", fmt.Sprintf("/v1/events?execution_id=%d&key=go", x2), "")
	r.json(t, &el)
	require.Len(t, el.Events, 1)
	r = b.do("GET", "/v1/events?key=go&since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "")
	r.json(t, &el)
	require.Empty(t, el.Events)
	// since: the events at or after a recorded time, none before it.
	r = b.do("GET", "/v1/events?key=go&user_only=true", "")
	r.json(t, &el)
	require.Len(t, el.Events, 3)
	since := el.Events[1].Time
	r = b.do("GET", "/v1/events?key=go&user_only=true&since="+url.QueryEscape(since), "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var later eventList
	r.json(t, &later)
	require.Equal(t, el.Events[1:], later.Events, "since %s: the second and third events, not the first (%s)", since, el.Events[0].Time)
	b.fails(b.do("GET", "/v1/events?namespace=ghost", ""), http.StatusNotFound, "not_found", `namespace not found: "ghost"`)
	b.fails(b.do("GET", "/v1/events?after=12", ""), http.StatusBadRequest, "invalid", "expected the form XID-ID")
	b.fails(b.do("GET", "/v1/events?since=yesterday", ""), http.StatusBadRequest, "invalid", "RFC 3339")
	b.fails(b.do("GET", "/v1/events?user_only=yes", ""), http.StatusBadRequest, "invalid", "true or false")
	b.fails(b.do("GET", "/v1/events?limit=5000", ""), http.StatusBadRequest, "invalid", "from 1 to 1000")
}

// checkTaskExecutions lists and shows the task executions of x and reads a log.
func checkTaskExecutions(t *testing.T, b *bed, x int64) {
	// Task executions and logs.
	var tl struct {
		TaskExecutions []struct {
			ID     int64  `json:"id"`
			Task   string `json:"task"`
			Status string `json:"status"`
		} `json:"task_executions"`
	}
	quick := b.waitRun(x, "quick", 1, aiflow.TaskSuccess)
	r := b.do("GET", fmt.Sprintf("/v1/executions/%d/tasks?task=quick", x), "")
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &tl)
	require.Len(t, tl.TaskExecutions, 1)
	require.Equal(t, quick.ID, tl.TaskExecutions[0].ID)
	b.fails(b.do("GET", "/v1/executions/424242/tasks", ""), http.StatusNotFound, "not_found", "workflow execution not found")
	b.fails(b.do("GET", "/v1/executions/x1/tasks", ""), http.StatusBadRequest, "invalid", `id "x1": expected a positive integer`)
	r = b.do("GET", fmt.Sprintf("/v1/task-executions/%d", quick.ID), "")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), `"status": "SUCCESS"`)
	b.fails(b.do("GET", "/v1/task-executions/424242", ""), http.StatusNotFound, "not_found", "task execution not found")
	var lg taskLog
	r = b.do("GET", fmt.Sprintf("/v1/task-executions/%d/log", quick.ID), "")
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &lg)
	require.Equal(t, taskLog{Data: "hello\n", Offset: 0, NextOffset: 6, Finished: true}, lg)
	r = b.do("GET", fmt.Sprintf("/v1/task-executions/%d/log?offset=2&limit=2", quick.ID), "")
	r.json(t, &lg)
	require.Equal(t, taskLog{Data: "ll", Offset: 2, NextOffset: 4, Finished: true}, lg)
	b.fails(b.do("GET", "/v1/task-executions/424242/log", ""), http.StatusNotFound, "not_found", "task execution not found")
	b.fails(b.do("GET", "/v1/task-executions/x1/log", ""), http.StatusBadRequest, "invalid", `id "x1": expected a positive integer`)
	b.fails(b.do("GET", fmt.Sprintf("/v1/task-executions/%d/log?offset=-1", quick.ID), ""), http.StatusBadRequest, "invalid", "offset")
}

// checkStartAndStopTasks starts a task of x and stops one of x2.
func checkStartAndStopTasks(t *testing.T, b *bed, x, x2 int64) {
	huge := strings.Repeat("x", MaxBodyBytesDefault)
	// Start and stop tasks.
	r := b.do("POST", fmt.Sprintf("/v1/executions/%d/tasks/manual/start", x), "")
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	b.waitRun(x, "manual", 3, aiflow.TaskSuccess)
	b.fails(b.do("POST", fmt.Sprintf("/v1/executions/%d/tasks/nope/start", x), ""), http.StatusNotFound, "not_found", `"nope" is not a task of workflow "w"`)
	b.fails(b.do("POST", fmt.Sprintf("/v1/executions/%d/tasks/nope/stop", x), ""), http.StatusNotFound, "not_found", `"nope" is not a task of workflow "w"`)
	// Oversized bodies on the endpoints whose body is optional: refused
	// before anything is asked of the store.
	for _, path := range []string{"/v1/namespaces/default/workflows/w/executions", fmt.Sprintf("/v1/executions/%d/stop", x),
		fmt.Sprintf("/v1/executions/%d/tasks/manual/start", x), fmt.Sprintf("/v1/executions/%d/tasks/stream/stop", x)} {
		b.fails(b.do("POST", path, `{"pad":"`+huge+`"}`), http.StatusRequestEntityTooLarge, "body_too_large", "over 524288 bytes")
	}
	var xl struct {
		Executions []struct {
			ID int64 `json:"id"`
		} `json:"executions"`
	}
	r = b.do("GET", "/v1/namespaces/default/workflows/w/executions", "")
	r.json(t, &xl)
	require.Len(t, xl.Executions, 2, "the oversized start did not start an execution")
	r = b.do("POST", fmt.Sprintf("/v1/executions/%d/tasks/stream/stop", x2), "")
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	b.waitRun(x2, "stream", 1, aiflow.TaskStopped)
}

// checkStopExecution stops x, then finds it finished.
func checkStopExecution(t *testing.T, b *bed, x int64) {
	// Stop an execution; stopping it again is a conflict.
	r := b.do("POST", fmt.Sprintf("/v1/executions/%d/stop", x), "")
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	require.JSONEq(t, fmt.Sprintf(`{"accepted":"stop","execution_id":%d}`, x), string(r.body))
	b.waitExecution(x, aiflow.WorkflowStopped)
	b.fails(b.do("POST", fmt.Sprintf("/v1/executions/%d/stop", x), ""), http.StatusConflict, "conflict", "workflow execution finished")
	b.fails(b.do("POST", fmt.Sprintf("/v1/executions/%d/tasks/manual/start", x), ""), http.StatusConflict, "conflict", "workflow execution finished")
	b.fails(b.do("POST", "/v1/executions/424242/stop", ""), http.StatusNotFound, "not_found", "workflow execution not found")
}

// checkUnknownEndpoints asks for endpoints and methods that do not exist.
func checkUnknownEndpoints(t *testing.T, b *bed) {
	// Unknown endpoints and methods.
	b.fails(b.do("GET", "/v1/nothing", ""), http.StatusNotFound, "no_such_endpoint", "GET /v1/nothing")
	r := b.do("DELETE", "/v1/events", "")
	b.fails(r, http.StatusMethodNotAllowed, "method_not_allowed", "expected one of")
	allow := strings.Split(strings.ReplaceAll(r.header.Get("Allow"), " ", ""), ",")
	require.True(t, slices.Contains(allow, "GET") && slices.Contains(allow, "POST"), allow)
}

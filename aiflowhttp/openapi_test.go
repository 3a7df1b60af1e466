package aiflowhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// apiDoc is the part of openapi.yaml the tests check.
type apiDoc struct {
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components struct {
		Responses     map[string]any `yaml:"responses"`
		RequestBodies map[string]any `yaml:"requestBodies"`
	} `yaml:"components"`
}

type apiOperation struct {
	RequestBody *struct {
		Ref string `yaml:"$ref"`
	} `yaml:"requestBody"`
	Responses map[string]struct {
		Ref string `yaml:"$ref"`
	} `yaml:"responses"`
}

// operations returns the documented operations by "METHOD path".
func operations(t *testing.T) (map[string]apiOperation, apiDoc) {
	t.Helper()
	var doc apiDoc
	require.NoError(t, yaml.Unmarshal(openAPIDoc, &doc))
	ops := map[string]apiOperation{}
	for path, items := range doc.Paths {
		for method, node := range items {
			if method == "parameters" {
				continue
			}
			var op apiOperation
			require.NoError(t, node.Decode(&op), "%s %s", method, path)
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return ops, doc
}

// codeOf is the error code each error status may carry.
var codeOf = map[int][]string{
	400: {"malformed_body", "invalid"},
	401: {"unauthenticated"},
	403: {"forbidden"},
	404: {"not_found"},
	409: {"conflict", "already_exists"},
	413: {"body_too_large", "event_too_large"},
	415: {"unsupported_media_type"},
	500: {"internal"},
	503: {"cancelled"},
}

// call is one request of TestOpenAPIStatusCodes and the status it gets.
type call struct {
	status int
	path   string // the route's sample path when empty
	body   string // sent as application/json unless ctype says otherwise
	ctype  string
	// around, when set, prepares the store for the call and restores it.
	around func(do func())
}

// TestOpenAPIStatusCodes sends every route a request for each status code
// that openapi.yaml documents for it, and requires that the documented codes
// are exactly those exercised: a code the handler gives and the document
// leaves out, or documents and the handler never gives, fails the test. 401
// is asked of every route, and 500 (a store whose pool is closed) and 503 (a
// request cancelled before it is served) of every route but the document's
// own.
func TestOpenAPIStatusCodes(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	ctx := b.ctx
	calls := statusCalls(t, b, newStatusFixtures(t, b))

	var logs syncBuffer
	const elsewhere = "token-of-another-namespace"
	h := NewHandler(b.client, &Options{Auth: Auth{Token: token, Tokens: map[string]*Caller{elsewhere: {Name: "other", Namespaces: []string{"other"}}}},
		MaxBodyBytes: statusMaxBody, Logger: b.logger})
	broken := NewHandler(brokenClient(t, b), &Options{Auth: Auth{AllowUnauthenticated: true}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	ops, _ := operations(t)
	require.ElementsMatch(t, slices.Collect(maps.Keys(ops)), slices.Collect(maps.Keys(calls)), "every route has calls, and only routes")
	for _, rt := range routes {
		key := rt.method + " " + rt.pattern
		cs := calls[key]
		sample := cs[0]
		exercised := map[string]bool{"401": true}
		for _, c := range cs {
			if c.path == "" {
				c.path = sample.path
			}
			checkStatus(t, key, serveCall(ctx, h, rt.method, c, token), c.status)
			exercised[strconv.Itoa(c.status)] = true
		}
		// Generated: unauthenticated; the store failing; cancelled.
		noAuth := sample
		noAuth.around = nil
		checkStatus(t, key+" without a token", serveCall(ctx, h, rt.method, noAuth, ""), 401)
		if key != "GET /v1/openapi.yaml" {
			checkStatus(t, key+" on a broken store", serveCall(ctx, broken, rt.method, noAuth, ""), 500)
			checkStatus(t, key+" cancelled", serveCall(cancelled, h, rt.method, noAuth, token), 503)
			// A caller of another namespace (listing events of every
			// namespace is allowed, and leaves out the others' events).
			if key == "GET /v1/events" {
				noAuth.path = "/v1/events?namespace=default"
			}
			checkStatus(t, key+" by a caller of another namespace", serveCall(ctx, h, rt.method, noAuth, elsewhere), 403)
			exercised["500"], exercised["503"], exercised["403"] = true, true, true
		}
		documented := map[string]bool{}
		for code := range ops[key].Responses {
			documented[code] = true
		}
		require.Equal(t, exercised, documented, "%s: the status codes openapi.yaml documents (right) and those the handler gives (left)", key)
	}
	require.Contains(t, logs.String(), "aiflowhttp: request failed", "500s are logged")
	require.Contains(t, logs.String(), "closed pool", "with their cause")
}

// TestOpenAPIDocumentsEveryResponse: every referenced response and request
// body exists; operations that may get 415 declare their body; and the
// answers any request may get (no such path, wrong method) are described and
// given.
func TestOpenAPIDocumentsEveryResponse(t *testing.T) {
	t.Parallel()
	ops, doc := operations(t)
	for key, op := range ops {
		for code, resp := range op.Responses {
			if name, ok := strings.CutPrefix(resp.Ref, "#/components/responses/"); ok {
				require.Contains(t, doc.Components.Responses, name, "%s %s", key, code)
			}
		}
		_, takes415 := op.Responses["415"]
		if strings.HasPrefix(key, "POST ") {
			require.Equal(t, takes415, op.RequestBody != nil, "%s: a body is declared exactly where 415 is documented", key)
		}
		if op.RequestBody != nil {
			if name, ok := strings.CutPrefix(op.RequestBody.Ref, "#/components/requestBodies/"); ok {
				require.Contains(t, doc.Components.RequestBodies, name, key)
			}
		}
	}
	for _, name := range []string{"NoSuchEndpoint", "MethodNotAllowed", "Internal", "Cancelled"} {
		require.Contains(t, doc.Components.Responses, name)
	}

	h := NewHandler(nil, &Options{Auth: Auth{AllowUnauthenticated: true}}) // neither answer reaches the client
	for path, items := range doc.Paths {
		var methods []string
		for m := range items {
			if m != "parameters" {
				methods = append(methods, strings.ToUpper(m))
			}
		}
		p := strings.NewReplacer("{namespace}", "default", "{workflow}", "w", "{id}", "1", "{task}", "t").Replace(path)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("PUT", p, nil))
		require.Equal(t, http.StatusMethodNotAllowed, rec.Code, "PUT %s", p)
		require.Contains(t, rec.Body.String(), `"code": "method_not_allowed"`)
		allow := strings.Split(strings.ReplaceAll(rec.Header().Get("Allow"), " ", ""), ",")
		for _, m := range methods {
			require.Contains(t, allow, m, "PUT %s: Allow", p)
		}
	}
	// An empty namespace is no path either (ListWorkflows("") would list
	// every namespace).
	for _, p := range []string{"/v1/nothing", "/v1/namespaces//workflows"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		require.Equal(t, http.StatusNotFound, rec.Code, p)
		require.Contains(t, rec.Body.String(), `"code": "no_such_endpoint"`, p)
	}
}

// brokenClient is a client on b's schema whose pool is closed: every store
// call fails with an error the handler does not expect.
func brokenClient(t *testing.T, b *bed) *aiflow.Client {
	t.Helper()
	pool := pgtest.Pool(t, 2)
	st, err := postgres.New(b.ctx, pool, &postgres.Config{Schema: b.schema, Logger: b.logger})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	c, err := aiflow.New(&aiflow.Config{Store: st, Logger: b.logger})
	require.NoError(t, err)
	pool.Close()
	return c
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// statusFixtures are the executions TestOpenAPIStatusCodes calls routes on.
type statusFixtures struct {
	running, toStop, done int64 // a running execution, one to stop, a finished one
	quick                 int64 // a finished task execution of running
}

// newStatusFixtures starts the fixtures' executions and waits for them.
func newStatusFixtures(t *testing.T, b *bed) statusFixtures {
	ctx := b.ctx
	running, err := b.client.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	quick := b.waitRun(running, "quick", 1, aiflow.TaskSuccess)
	b.waitRun(running, "stream", 1, aiflow.TaskRunning)
	toStop, err := b.client.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	b.waitExecution(toStop, aiflow.WorkflowRunning)
	done, err := b.client.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	require.NoError(t, b.client.StopWorkflowExecution(ctx, done))
	b.waitExecution(done, aiflow.WorkflowStopped)
	return statusFixtures{running: running, toStop: toStop, done: done, quick: quick.ID}
}

// statusCalls returns, for each route, the calls that give each status code
// it documents. The first call of each route is its success, and its path and
// body are the sample the generated 401, 500 and 503 calls use.
func statusCalls(t *testing.T, b *bed, fx statusFixtures) map[string][]call {
	ctx := b.ctx
	pad := `{"pad":"` + strings.Repeat("x", statusMaxBody) + `"}`
	xp := func(format string, id int64) string { return fmt.Sprintf(format, id) }
	disabled := func(do func()) {
		require.NoError(t, b.client.DisableWorkflow(ctx, "", "w"))
		defer func() { require.NoError(t, b.client.EnableWorkflow(ctx, "", "w")) }()
		do()
	}
	return map[string][]call{
		"GET /v1/openapi.yaml": {{status: 200, path: "/v1/openapi.yaml"}},
		// Checked by TestOpenAPIHealthEndpoints.
		"GET /healthz": {{status: 200, path: "/healthz"}},
		"GET /readyz":  {{status: 200, path: "/readyz"}, {status: 503, path: "/readyz"}},
		"POST /v1/events": {
			{status: 201, path: "/v1/events", body: `{"key":"k"}`},
			{status: 400, body: `{"key":`},
			{status: 404, body: `{"key":"k","namespace":"ghost"}`},
			{status: 413, body: `{"key":"k","value":"` + strings.Repeat("x", statusMaxBody) + `"}`},
			{status: 415, body: `{"key":"k"}`, ctype: "text/plain"},
		},
		"GET /v1/events": {
			{status: 200, path: "/v1/events?key=k"},
			{status: 400, path: "/v1/events?limit=0"},
			{status: 404, path: "/v1/events?namespace=ghost"},
		},
		"GET /v1/namespaces/{namespace}/workflows": {
			{status: 200, path: "/v1/namespaces/default/workflows"},
			{status: 400, path: "/v1/namespaces/bad%20name/workflows"},
			{status: 404, path: "/v1/namespaces/ghost/workflows"},
		},
		"GET /v1/namespaces/{namespace}/workflows/{workflow}": {
			{status: 200, path: "/v1/namespaces/default/workflows/w"},
			{status: 400, path: "/v1/namespaces/default/workflows/bad%20name"},
			{status: 404, path: "/v1/namespaces/default/workflows/nope"},
		},
		"POST /v1/namespaces/{namespace}/workflows/{workflow}/executions": {
			{status: 201, path: "/v1/namespaces/default/workflows/w/executions"},
			{status: 400, body: `{"namespace":"x"}`},
			{status: 404, path: "/v1/namespaces/default/workflows/nope/executions"},
			{status: 409, around: disabled},
			{status: 413, body: pad},
			{status: 415, body: `{}`, ctype: "text/plain"},
		},
		"POST /v1/namespaces/{namespace}/workflows/{workflow}/executions/batch": {
			{status: 201, path: "/v1/namespaces/default/workflows/w/executions/batch", body: `{"count":2}`},
			{status: 400, body: `{"count":2,"inputs":["a"]}`},
			{status: 404, path: "/v1/namespaces/default/workflows/nope/executions/batch", body: `{"count":2}`},
			{status: 409, body: `{"count":2}`, around: disabled},
			{status: 413, body: pad},
			{status: 415, body: `{"count":2}`, ctype: "text/plain"},
		},
		"GET /v1/namespaces/{namespace}/workflows/{workflow}/executions": {
			{status: 200, path: "/v1/namespaces/default/workflows/w/executions"},
			{status: 400, path: "/v1/namespaces/default/workflows/w/executions?limit=0"},
			{status: 404, path: "/v1/namespaces/ghost/workflows/w/executions"},
		},
		"GET /v1/executions/{id}": {
			{status: 200, path: xp("/v1/executions/%d", fx.running)},
			{status: 400, path: "/v1/executions/x1"},
			{status: 404, path: "/v1/executions/424242"},
		},
		"POST /v1/executions/{id}/stop": {
			{status: 202, path: xp("/v1/executions/%d/stop", fx.toStop)},
			{status: 400, path: "/v1/executions/x1/stop"},
			{status: 400, path: xp("/v1/executions/%d/stop", fx.running), body: `{"now":true}`},
			{status: 404, path: "/v1/executions/424242/stop"},
			{status: 409, path: xp("/v1/executions/%d/stop", fx.done)},
			{status: 413, path: xp("/v1/executions/%d/stop", fx.running), body: pad},
			{status: 415, path: xp("/v1/executions/%d/stop", fx.running), body: `{}`, ctype: "text/plain"},
		},
		"GET /v1/executions/{id}/tasks": {
			{status: 200, path: xp("/v1/executions/%d/tasks", fx.running)},
			{status: 400, path: "/v1/executions/x1/tasks"},
			{status: 404, path: "/v1/executions/424242/tasks"},
		},
		"POST /v1/executions/{id}/tasks/{task}/start": {
			{status: 202, path: xp("/v1/executions/%d/tasks/manual/start", fx.running)},
			{status: 400, path: "/v1/executions/x1/tasks/manual/start"},
			{status: 400, body: `[]`},
			{status: 404, path: xp("/v1/executions/%d/tasks/nope/start", fx.running)},
			{status: 404, path: "/v1/executions/424242/tasks/manual/start"},
			{status: 409, path: xp("/v1/executions/%d/tasks/manual/start", fx.done)},
			{status: 413, body: pad},
			{status: 415, body: `{}`, ctype: "text/plain"},
		},
		"GET /v1/executions/{id}/tasks/{task}/why": {
			{status: 200, path: xp("/v1/executions/%d/tasks/manual/why", fx.running)},
			{status: 400, path: "/v1/executions/x1/tasks/manual/why"},
			{status: 404, path: xp("/v1/executions/%d/tasks/nope/why", fx.running)},
			{status: 404, path: "/v1/executions/424242/tasks/manual/why"},
		},
		"POST /v1/executions/{id}/tasks/{task}/stop": {
			{status: 202, path: xp("/v1/executions/%d/tasks/stream/stop", fx.running)},
			{status: 400, path: "/v1/executions/0/tasks/stream/stop"},
			{status: 400, body: `{"force":true}`},
			{status: 404, path: xp("/v1/executions/%d/tasks/nope/stop", fx.running)},
			{status: 409, path: xp("/v1/executions/%d/tasks/stream/stop", fx.done)},
			{status: 413, body: pad},
			{status: 415, body: `{}`, ctype: "text/plain"},
		},
		"GET /v1/task-executions/{id}": {
			{status: 200, path: xp("/v1/task-executions/%d", fx.quick)},
			{status: 400, path: "/v1/task-executions/x1"},
			{status: 404, path: "/v1/task-executions/424242"},
		},
		"GET /v1/task-executions/{id}/log": {
			{status: 200, path: xp("/v1/task-executions/%d/log", fx.quick)},
			{status: 400, path: "/v1/task-executions/x1/log"},
			{status: 400, path: xp("/v1/task-executions/%d/log?limit=0", fx.quick)},
			{status: 404, path: "/v1/task-executions/424242/log"},
		},
	}
}

// serveCall sends c to h as method, with the bearer token tok unless empty.
func serveCall(ctx context.Context, h http.Handler, method string, c call, tok string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(ctx, method, c.path, strings.NewReader(c.body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	rec := httptest.NewRecorder()
	if c.around != nil {
		c.around(func() { h.ServeHTTP(rec, req) })
	} else {
		h.ServeHTTP(rec, req)
	}
	return rec
}

// checkStatus requires that rec has status want and, for an error, the
// error body of that status.
func checkStatus(t *testing.T, rt string, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	require.Equal(t, want, rec.Code, "%s: %s", rt, rec.Body)
	if want < 400 {
		return
	}
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), rt)
	var e errorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rt)
	require.Contains(t, codeOf[want], e.Code, "%s: %d %s", rt, want, e.Error)
	require.NotEmpty(t, e.Error, rt)
}

// statusMaxBody is the MaxBodyBytes of TestOpenAPIStatusCodes' handler.
const statusMaxBody = 64

// TestOpenAPIHealthEndpoints: /healthz and /readyz answer without
// authentication the codes openapi.yaml documents, with the documented
// body: 200 on a running client; /readyz 503 when the store fails.
func TestOpenAPIHealthEndpoints(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	ops, _ := operations(t)
	h := NewHandler(b.client, &Options{Auth: Auth{Token: token}, Logger: b.logger})
	broken := NewHandler(brokenClient(t, b), &Options{Auth: Auth{Token: token}, Logger: b.logger})
	exercised := map[string]map[string]bool{"GET /healthz": {}, "GET /readyz": {}}
	check := func(hd http.Handler, path string, want int) map[string]any {
		rec := httptest.NewRecorder()
		hd.ServeHTTP(rec, httptest.NewRequest("GET", path, nil)) // no token
		require.Equal(t, want, rec.Code, "%s: %s", path, rec.Body)
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		for _, k := range []string{"status", "consuming", "partitions", "lag", "lag_seconds", "leading"} {
			require.Contains(t, body, k, path)
		}
		exercised["GET "+path][strconv.Itoa(want)] = true
		return body
	}
	check(h, "/healthz", 200)
	require.Eventually(t, func() bool {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code == 200
	}, 30*time.Second, 10*time.Millisecond, "the client gets ready")
	body := check(h, "/readyz", 200)
	require.Equal(t, true, body["consuming"])
	body = check(broken, "/readyz", 503)
	require.NotEmpty(t, body["problems"])
	for key, codes := range exercised {
		documented := map[string]bool{}
		for code := range ops[key].Responses {
			documented[code] = true
		}
		require.Equal(t, codes, documented, key)
	}
}

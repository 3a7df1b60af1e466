package aiflowhttp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

// twoTeams is a handler on the memory store with workflow "w" in namespaces
// "a" and "b", and tokens for a writer of a, a reader of a, and the admin.
type twoTeams struct {
	t      *testing.T
	ctx    context.Context
	client *aiflow.Client
	h      http.Handler
	execA  int64
	execB  int64
}

const (
	tokenA      = "team-a-token"
	tokenReader = "reader-token"
	secretValue = "hunter2-value"
)

func newTwoTeams(t *testing.T) *twoTeams {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	st := memory.New(nil)
	c, err := aiflow.New(&aiflow.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = c.Stop(sctx)
		_ = st.Close()
	})
	var execs []int64
	for _, ns := range []string{"a", "b"} {
		require.NoError(t, c.AddNamespace(ctx, ns))
		w := aiflow.NewWorkflow("w", aiflow.WithNamespace(ns))
		w.Task("deploy", operators.Bash("echo connecting with key "+secretValue),
			aiflow.WithEnv(map[string]string{"API_KEY": secretValue}))
		require.NoError(t, c.Register(ctx, w))
		id, err := c.StartWorkflowExecution(ctx, "w", &aiflow.StartWorkflowOpts{Namespace: ns})
		require.NoError(t, err)
		execs = append(execs, id)
	}
	h := NewHandler(c, &Options{Auth: Auth{Token: token, Tokens: map[string]*Caller{
		tokenA:      {Name: "team-a", Namespaces: []string{"a"}, Senders: []string{"team-a"}},
		tokenReader: {Name: "reader", Namespaces: []string{"a"}, ReadOnly: true},
	}}, Logger: slog.New(slog.DiscardHandler)})
	return &twoTeams{t: t, ctx: ctx, client: c, h: h, execA: execs[0], execB: execs[1]}
}

func (tt *twoTeams) do(tok, method, path, body string) (int, string) {
	tt.t.Helper()
	req := httptest.NewRequestWithContext(tt.ctx, method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	tt.h.ServeHTTP(rec, req)
	data, _ := io.ReadAll(rec.Body)
	return rec.Code, string(data)
}

func TestNamespaceAuthorization(t *testing.T) {
	t.Parallel()
	tt := newTwoTeams(t)
	for _, c := range []struct {
		method, path, body string
	}{
		{"GET", "/v1/namespaces/b/workflows", ""},
		{"GET", "/v1/namespaces/b/workflows/w", ""},
		{"GET", "/v1/namespaces/b/workflows/w/executions", ""},
		{"POST", "/v1/namespaces/b/workflows/w/executions", ""},
		{"GET", fmt.Sprintf("/v1/executions/%d", tt.execB), ""},
		{"POST", fmt.Sprintf("/v1/executions/%d/stop", tt.execB), ""},
		{"GET", fmt.Sprintf("/v1/executions/%d/tasks", tt.execB), ""},
		{"POST", fmt.Sprintf("/v1/executions/%d/tasks/deploy/start", tt.execB), ""},
		{"POST", fmt.Sprintf("/v1/executions/%d/tasks/deploy/stop", tt.execB), ""},
		{"GET", "/v1/events?namespace=b", ""},
		{"POST", "/v1/events", `{"namespace":"b","key":"k"}`},
	} {
		status, body := tt.do(tokenA, c.method, c.path, c.body)
		require.Equal(t, http.StatusForbidden, status, "%s %s: %s", c.method, c.path, body)
		require.Contains(t, body, `"code": "forbidden"`)
		require.Contains(t, body, `namespace \"b\"`)
		// The same request in namespace a is served (or fails for another reason).
		pathA := strings.NewReplacer("/namespaces/b/", "/namespaces/a/", fmt.Sprint(tt.execB), fmt.Sprint(tt.execA), "namespace=b", "namespace=a").Replace(c.path)
		status, body = tt.do(tokenA, c.method, pathA, strings.ReplaceAll(c.body, `"b"`, `"a"`))
		require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, status, "%s %s: %s", c.method, pathA, body)
	}

	// The reader sees namespace a and changes nothing.
	status, _ := tt.do(tokenReader, "GET", "/v1/namespaces/a/workflows", "")
	require.Equal(t, http.StatusOK, status)
	for _, c := range [][2]string{
		{"/v1/namespaces/a/workflows/w/executions", ""},
		{fmt.Sprintf("/v1/executions/%d/stop", tt.execA), ""},
		{"/v1/events", `{"namespace":"a","key":"k"}`},
	} {
		status, body := tt.do(tokenReader, "POST", c[0], c[1])
		require.Equal(t, http.StatusForbidden, status, body)
		require.Contains(t, body, "read access")
	}

	// Events of every namespace: only a's for team a, both for the admin.
	_, err := tt.client.SendEvent(tt.ctx, "visible", "x", &aiflow.SendEventOpts{Namespace: "a"})
	require.NoError(t, err)
	_, err = tt.client.SendEvent(tt.ctx, "hidden", "x", &aiflow.SendEventOpts{Namespace: "b"})
	require.NoError(t, err)
	_, body := tt.do(tokenA, "GET", "/v1/events?user_only=true", "")
	require.Contains(t, body, `"visible"`)
	require.NotContains(t, body, `"hidden"`)
	_, body = tt.do(token, "GET", "/v1/events?user_only=true", "")
	require.Contains(t, body, `"hidden"`)
}

func TestSenderAndTaskClaims(t *testing.T) {
	t.Parallel()
	tt := newTwoTeams(t)
	status, body := tt.do(tokenA, "POST", "/v1/events", `{"namespace":"a","key":"k","sender":"scheduler"}`)
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, `may not send as sender \"scheduler\"`)
	status, body = tt.do(tokenA, "POST", "/v1/events", `{"namespace":"a","key":"k","sender":"team-a"}`)
	require.Equal(t, http.StatusCreated, status, body)
	status, body = tt.do(tokenA, "POST", "/v1/events", `{"namespace":"a","key":"k","task_execution_id":1}`)
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, "may not send as task execution 1")
	// The admin token may claim any sender.
	status, body = tt.do(token, "POST", "/v1/events", `{"namespace":"a","key":"k","sender":"scheduler"}`)
	require.Equal(t, http.StatusCreated, status, body)
}

func TestWorkflowDefinitionRedacted(t *testing.T) {
	t.Parallel()
	tt := newTwoTeams(t)
	status, body := tt.do(token, "GET", "/v1/namespaces/a/workflows/w", "")
	require.Equal(t, http.StatusOK, status, body)
	require.NotContains(t, body, secretValue)
	require.NotContains(t, body, "connecting")
	require.Contains(t, body, `"API_KEY": "[redacted]"`)
	require.Contains(t, body, `"operator": "*operators.BashOperator"`)

	// An operator with a public description is shown with it, its secret
	// fields redacted.
	py := aiflow.NewWorkflow("py", aiflow.WithNamespace("a"))
	py.Task("etl", operators.Python(operators.PythonConfig{Script: "etl.py", Args: []string{"--password", secretValue}}))
	require.NoError(t, tt.client.Register(tt.ctx, py))
	status, body = tt.do(token, "GET", "/v1/namespaces/a/workflows/py", "")
	require.Equal(t, http.StatusOK, status, body)
	require.NotContains(t, body, secretValue)
	require.Contains(t, body, `"operator": "*operators.PythonOperator: python3 etl.py [redacted] [redacted]"`)
	require.NotContains(t, body, "operator_public")
}

func TestCustomAuthorize(t *testing.T) {
	t.Parallel()
	st := memory.New(nil)
	defer st.Close()
	c, err := aiflow.New(&aiflow.Config{Store: st})
	require.NoError(t, err)
	h := NewHandler(c, &Options{Auth: Auth{
		Authenticate: func(r *http.Request) (*Caller, error) {
			if u := r.Header.Get("X-User"); u != "" {
				return &Caller{Name: u}, nil
			}
			return nil, nil
		},
		Authorize: func(_ context.Context, c *Caller, ns string) Access {
			if c.Name == "ops" {
				return AccessWrite
			}
			return AccessNone
		},
	}, Logger: slog.New(slog.DiscardHandler)})
	get := func(user string) int {
		req := httptest.NewRequest("GET", "/v1/namespaces/default/workflows", nil)
		if user != "" {
			req.Header.Set("X-User", user)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, http.StatusOK, get("ops"))
	require.Equal(t, http.StatusForbidden, get("guest"))
	require.Equal(t, http.StatusUnauthorized, get(""))
}

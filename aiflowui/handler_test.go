package aiflowui

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	adminToken  = "admin-token"
	teamAToken  = "team-a-token"
	readerToken = "reader-token"
	secret      = "hunter2-value"
)

type bed struct {
	t      *testing.T
	ctx    context.Context
	client *aiflow.Client
	srv    *httptest.Server
	execs  map[string]int64 // namespace → an execution of w
}

// newBed serves the dashboard under /ui on the memory store, with workflow w
// in namespaces a and b.
func newBed(t *testing.T) *bed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	st := memory.New(nil)
	c, err := aiflow.New(&aiflow.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	for _, ns := range []string{"a", "b"} {
		require.NoError(t, c.AddNamespace(ctx, ns))
		w := aiflow.NewWorkflow("w", aiflow.WithNamespace(ns))
		first := w.Task("first", operators.Bash("echo connecting with key "+secret), aiflow.WithEnv(map[string]string{"API_KEY": secret}))
		w.Task("then", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).StartAfter(first)
		w.Task("wait", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("go", aiflow.ActionStart)
		require.NoError(t, c.Register(ctx, w))
	}
	require.NoError(t, c.Start(ctx))
	b := &bed{t: t, ctx: ctx, client: c, execs: map[string]int64{}}
	for _, ns := range []string{"a", "b"} {
		id, err := c.StartWorkflowExecution(ctx, "w", &aiflow.StartWorkflowOpts{Namespace: ns})
		require.NoError(t, err)
		b.execs[ns] = id
	}
	ui := NewHandler(c, &Options{Auth: aiflowhttp.Auth{Token: adminToken, Tokens: map[string]*aiflowhttp.Caller{
		teamAToken:  {Name: "team-a", Namespaces: []string{"a"}},
		readerToken: {Name: "reader", ReadOnly: true},
	}}, Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", ui))
	b.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		b.srv.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = c.Stop(sctx)
		_ = st.Close()
	})
	return b
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	b    *bed
	http *http.Client
	csrf string
}

func (b *bed) browser(token string) *browser {
	jar, _ := cookiejar.New(nil)
	br := &browser{b: b, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if token != "" {
		status, _, loc := br.post("/ui/login", url.Values{"token": {token}, "next": {"/ui/events"}})
		require.Equal(b.t, http.StatusSeeOther, status)
		require.Equal(b.t, "/ui/events", loc)
	}
	return br
}

var csrfRE = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

func (br *browser) get(path string) (int, string) {
	br.b.t.Helper()
	resp, err := br.http.Get(br.b.srv.URL + path)
	require.NoError(br.b.t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(data); m != nil {
		br.csrf = string(m[1])
	}
	return resp.StatusCode, string(data)
}

func (br *browser) post(path string, form url.Values, header ...string) (int, string, string) {
	br.b.t.Helper()
	req, err := http.NewRequest("POST", br.b.srv.URL+path, strings.NewReader(form.Encode()))
	require.NoError(br.b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := br.http.Do(req)
	require.NoError(br.b.t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header.Get("Location")
}

// act posts a form with the CSRF token of the last page read.
func (br *browser) act(path string, form url.Values) (int, string, string) {
	form.Set("csrf", br.csrf)
	return br.post(path, form)
}

func TestPagesRenderUnderThePrefix(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	br := b.browser(adminToken)
	x := b.execs["a"]
	require.Eventually(t, func() bool {
		x, err := b.client.GetWorkflowExecution(b.ctx, x)
		require.NoError(t, err)
		return x.Status == aiflow.WorkflowRunning
	}, 10*time.Second, 10*time.Millisecond)
	for path, want := range map[string][]string{
		"/ui/":                              {`href="/ui/namespaces/a/workflows/w"`, `data-workflow="w"`, "Namespace <span class=\"mono\">b</span>"},
		"/ui/namespaces/a/workflows/w":      {`data-task="first"`, `data-task="then"`, ">go</text>", "start after first", `start on event &#34;go&#34;`},
		"/ui/executions":                    {fmt.Sprintf(`href="/ui/executions/%d"`, x)},
		fmt.Sprintf("/ui/executions/%d", x): {`id="task-first"`, `id="task-wait"`, "Not started: waiting for one of its rules.", `start on event &#34;go&#34;`},
		"/ui/events":                        {`id="sendform"`, "aiflow.workflow_status.w"},
		"/ui/static/app.css":                {"--accent"},
	} {
		status, body := br.get(path)
		require.Equal(t, http.StatusOK, status, path)
		for _, w := range want {
			require.Contains(t, body, w, path)
		}
	}
	status, body := br.get("/ui/nowhere")
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, body, "no such page")

	// A task's log, followed from an offset.
	var te aiflow.TaskExecution
	require.Eventually(t, func() bool {
		tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: x, Task: "first"})
		require.NoError(t, err)
		if len(tes) == 0 || tes[0].Status != aiflow.TaskSuccess {
			return false
		}
		te = tes[0]
		return true
	}, 10*time.Second, 10*time.Millisecond)
	status, body = br.get(fmt.Sprintf("/ui/task-executions/%d", te.ID))
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "connecting with key", "a task's own output is its log, shown to whoever may read the namespace")
	status, body = br.get(fmt.Sprintf("/ui/task-executions/%d/log?offset=0", te.ID))
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `"finished":true`)
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	_, err := b.client.SendEvent(b.ctx, "note", `<script>alert("x")</script>`, &aiflow.SendEventOpts{Namespace: "a"})
	require.NoError(t, err)
	br := b.browser(adminToken)
	status, body := br.get("/ui/events?key=note")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`)
	require.NotContains(t, body, `<script>alert`)
	// A name in a path is escaped too.
	status, body = br.get("/ui/namespaces/a/workflows/%3Cb%3E")
	require.Equal(t, http.StatusBadRequest, status)
	require.NotContains(t, body, "<b>")
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	anon := b.browser("")
	for _, path := range []string{"/ui/", "/ui/events", fmt.Sprintf("/ui/executions/%d", b.execs["a"])} {
		resp, err := anon.http.Get(b.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, path)
		require.Equal(t, "/ui/login?next="+url.QueryEscape(path), resp.Header.Get("Location"))
	}
	status, _, loc := anon.post("/ui/login", url.Values{"token": {"wrong"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Contains(t, loc, "failed=1")
	status, _, _ = anon.post("/ui/actions/send-event", url.Values{"key": {"go"}, "namespace": {"a"}})
	require.Equal(t, http.StatusUnauthorized, status)
	// An open redirect is not one: next stays in the dashboard.
	status, _, loc = anon.post("/ui/login", url.Values{"token": {adminToken}, "next": {"//evil.example/"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/ui/", loc)
}

func TestNamespaceAuthorization(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	teamA := b.browser(teamAToken)
	status, body := teamA.get("/ui/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `/ui/namespaces/a/workflows/w`)
	require.NotContains(t, body, `/ui/namespaces/b/`)
	for _, path := range []string{"/ui/namespaces/b/workflows/w", fmt.Sprintf("/ui/executions/%d", b.execs["b"]), "/ui/events?namespace=b",
		"/ui/executions?namespace=b"} {
		status, body := teamA.get(path)
		require.Equal(t, http.StatusForbidden, status, path)
		require.Contains(t, body, `caller &#34;team-a&#34; may not see namespace &#34;b&#34;`, path)
	}
	status, body = teamA.get("/ui/executions")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, fmt.Sprintf("/ui/executions/%d", b.execs["a"]))
	require.NotContains(t, body, fmt.Sprintf("/ui/executions/%d\"", b.execs["b"]))

	for path, form := range map[string]url.Values{
		"/ui/actions/start-execution": {"namespace": {"b"}, "workflow": {"w"}},
		"/ui/actions/stop-execution":  {"execution": {fmt.Sprint(b.execs["b"])}},
		"/ui/actions/task":            {"execution": {fmt.Sprint(b.execs["b"])}, "task": {"wait"}, "op": {"start"}},
		"/ui/actions/send-event":      {"namespace": {"b"}, "key": {"go"}},
		"/ui/actions/workflow":        {"namespace": {"b"}, "workflow": {"w"}, "op": {"disable"}},
	} {
		status, body, _ := teamA.act(path, form)
		require.Equal(t, http.StatusForbidden, status, path)
		require.Contains(t, body, `may not change namespace &#34;b&#34;`, path)
	}
	// Forms return to their page, under the prefix.
	_, body = teamA.get("/ui/namespaces/a/workflows/w")
	back := regexp.MustCompile(`name="back" value="([^"]+)"`).FindStringSubmatch(body)
	require.NotNil(t, back)
	require.Equal(t, "/ui/namespaces/a/workflows/w", back[1])
	status, _, loc := teamA.act("/ui/actions/workflow", url.Values{"namespace": {"a"}, "workflow": {"w"}, "op": {"disable"}, "back": {back[1]}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, back[1], loc)
	w, err := b.client.GetWorkflow(b.ctx, "a", "w")
	require.NoError(t, err)
	require.False(t, w.Enabled)
	require.NoError(t, b.client.EnableWorkflow(b.ctx, "a", "w"))

	n, err := b.client.CountEvents(b.ctx, &aiflow.EventFilter{Namespace: "b", Keys: []string{"go"}})
	require.NoError(t, err)
	require.Zero(t, n)

	// In namespace a, team a acts: the event it sends starts the task.
	status, _, loc = teamA.act("/ui/actions/send-event", url.Values{"namespace": {"a"}, "key": {"go"}, "back": {"/ui/events"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.True(t, strings.HasPrefix(loc, "/ui/events?sent="), loc)
	require.Eventually(t, func() bool {
		tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: b.execs["a"], Task: "wait"})
		require.NoError(t, err)
		return len(tes) == 1
	}, 10*time.Second, 10*time.Millisecond)
	evs, _, err := b.client.ListEvents(b.ctx, &aiflow.EventFilter{Namespace: "a", Keys: []string{"go"}})
	require.NoError(t, err)
	require.Equal(t, "ui.team-a", evs[0].Sender)
}

func TestReadOnlyCallerSeesNoButtonsAndIsRefused(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	reader := b.browser(readerToken)
	for _, path := range []string{"/ui/", "/ui/namespaces/a/workflows/w", fmt.Sprintf("/ui/executions/%d", b.execs["a"]), "/ui/events"} {
		status, body := reader.get(path)
		require.Equal(t, http.StatusOK, status, path)
		require.NotContains(t, body, `action="/ui/actions/`, path)
	}
	status, body, _ := reader.act("/ui/actions/start-execution", url.Values{"namespace": {"a"}, "workflow": {"w"}})
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "read access")
	admin := b.browser(adminToken)
	_, body = admin.get("/ui/namespaces/a/workflows/w")
	require.Contains(t, body, `action="/ui/actions/start-execution"`)
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	br := b.browser(adminToken)
	br.get("/ui/events")
	form := url.Values{"namespace": {"a"}, "key": {"go"}}
	// No token, a token of another browser, a cross-site request.
	status, body, _ := br.post("/ui/actions/send-event", form)
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "CSRF")
	other := b.browser(adminToken)
	other.get("/ui/events")
	withOthers := url.Values{"namespace": {"a"}, "key": {"go"}, "csrf": {other.csrf}}
	status, _, _ = br.post("/ui/actions/send-event", withOthers)
	require.Equal(t, http.StatusForbidden, status)
	good := url.Values{"namespace": {"a"}, "key": {"go"}, "csrf": {br.csrf}}
	status, _, _ = br.post("/ui/actions/send-event", good, "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, status)
	n, err := b.client.CountEvents(b.ctx, &aiflow.EventFilter{Keys: []string{"go"}})
	require.NoError(t, err)
	require.Zero(t, n, "no refused form sent its event")
	// The right token, same origin: sent.
	status, _, _ = br.post("/ui/actions/send-event", good, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusSeeOther, status)
	// A GET changes nothing.
	resp, err := br.http.Get(b.srv.URL + "/ui/actions/send-event?namespace=a&key=go")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	br := b.browser(adminToken)
	for _, path := range []string{"/ui/namespaces/a/workflows/w", fmt.Sprintf("/ui/executions/%d", b.execs["a"])} {
		status, body := br.get(path)
		require.Equal(t, http.StatusOK, status)
		require.NotContains(t, body, secret, path)
		require.NotContains(t, body, "echo connecting", path)
		require.Contains(t, body, "*operators.BashOperator", path)
	}
	_, body := br.get("/ui/namespaces/a/workflows/w")
	require.Contains(t, body, "$API_KEY")

	// An operator with a public description is shown with it, its secret
	// fields redacted.
	py := aiflow.NewWorkflow("py", aiflow.WithNamespace("a"))
	py.Task("etl", operators.Python(operators.PythonConfig{Script: "etl.py", Args: []string{"--password", secret}}))
	require.NoError(t, b.client.Register(b.ctx, py))
	status, body := br.get("/ui/namespaces/a/workflows/py")
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, body, secret)
	require.Contains(t, body, "*operators.PythonOperator: python3 etl.py [redacted] [redacted]")
}

func TestExecutionsPageThroughThousands(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	const n = 120
	for range n {
		_, err := b.client.StartWorkflowExecution(b.ctx, "w", &aiflow.StartWorkflowOpts{Namespace: "a"})
		require.NoError(t, err)
	}
	br := b.browser(adminToken)
	idRE := regexp.MustCompile(`<td class="nowrap"><a href="/ui/executions/(\d+)">`)
	nextRE := regexp.MustCompile(`href="(/ui/executions\?[^"]*before=\d+)" data-page="next"`)
	seen := map[string]bool{}
	path := "/ui/executions?namespace=a"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 10)
		status, body := br.get(path)
		require.Equal(t, http.StatusOK, status, path)
		ids := idRE.FindAllStringSubmatch(body, -1)
		require.LessOrEqual(t, len(ids), PageSizeDefault)
		for _, m := range ids {
			require.False(t, seen[m[1]], "execution %s on two pages", m[1])
			seen[m[1]] = true
		}
		path = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	require.Len(t, seen, n+1)
}

func TestActions(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	br := b.browser(adminToken)
	br.get("/ui/")
	// Start an execution: the answer leads to its page.
	status, _, loc := br.act("/ui/actions/start-execution", url.Values{"namespace": {"a"}, "workflow": {"w"}})
	require.Equal(t, http.StatusSeeOther, status)
	var id int64
	_, err := fmt.Sscanf(loc, "/ui/executions/%d", &id)
	require.NoError(t, err, loc)
	require.Eventually(t, func() bool {
		x, err := b.client.GetWorkflowExecution(b.ctx, id)
		require.NoError(t, err)
		return x.Status == aiflow.WorkflowRunning
	}, 10*time.Second, 10*time.Millisecond)
	// Start a task by hand: the execution then has run every task.
	status, body, _ := br.act("/ui/actions/task", url.Values{"execution": {fmt.Sprint(id)}, "task": {"wait"}, "op": {"start"}})
	require.Equal(t, http.StatusSeeOther, status, body)
	require.Eventually(t, func() bool {
		tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: id, Task: "wait"})
		require.NoError(t, err)
		return len(tes) == 1 && tes[0].Status == aiflow.TaskSuccess
	}, 10*time.Second, 10*time.Millisecond)
	status, _, _ = br.act("/ui/actions/task", url.Values{"execution": {fmt.Sprint(id)}, "task": {"wait"}, "op": {"explode"}})
	require.Equal(t, http.StatusBadRequest, status)
	x, err := b.client.WaitWorkflowExecution(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, x.Status, "every task has run")
	// Stop the execution of namespace a that waits for its event.
	status, body, _ = br.act("/ui/actions/stop-execution", url.Values{"execution": {fmt.Sprint(b.execs["a"])}})
	require.Equal(t, http.StatusSeeOther, status, body)
	x, err = b.client.WaitWorkflowExecution(b.ctx, b.execs["a"])
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowStopped, x.Status)

	// Pause and resume a schedule and a trigger.
	sched, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 1 0", &aiflow.ScheduleOpts{Namespace: "a"})
	require.NoError(t, err)
	trig, err := b.client.AddWorkflowTrigger(b.ctx, "w", "on_go", aiflow.EventCondition("go"), &aiflow.TriggerOpts{Namespace: "a"})
	require.NoError(t, err)
	for _, op := range []string{"pause", "resume"} {
		status, _, _ = br.act("/ui/actions/schedule", url.Values{"schedule": {fmt.Sprint(sched.ID)}, "op": {op}})
		require.Equal(t, http.StatusSeeOther, status)
		s, err := b.client.GetWorkflowSchedule(b.ctx, sched.ID)
		require.NoError(t, err)
		require.Equal(t, op == "pause", s.Paused)
		status, _, _ = br.act("/ui/actions/trigger", url.Values{"trigger": {fmt.Sprint(trig.ID)}, "op": {op}})
		require.Equal(t, http.StatusSeeOther, status)
		tr, err := b.client.GetWorkflowTrigger(b.ctx, trig.ID)
		require.NoError(t, err)
		require.Equal(t, op == "pause", tr.Paused)
	}
	_, body = br.get("/ui/namespaces/a/workflows/w")
	require.Contains(t, body, fmt.Sprintf(`data-schedule="%d"`, sched.ID))
	require.Contains(t, body, fmt.Sprintf(`data-trigger="%d"`, trig.ID))
}

func TestDecisionsExplainer(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	x := b.execs["a"]
	require.Eventually(t, func() bool {
		tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: x, Task: "then"})
		require.NoError(t, err)
		return len(tes) == 1 && tes[0].Status == aiflow.TaskSuccess
	}, 10*time.Second, 10*time.Millisecond)
	_, err := b.client.SendEvent(b.ctx, "unrelated", "v", &aiflow.SendEventOpts{Namespace: "a", ExecutionID: x})
	require.NoError(t, err)
	ui := NewHandler(b.client, &Options{Auth: aiflowhttp.Auth{AllowUnauthenticated: true}, Explainer: DecisionsExplainer{Client: b.client},
		Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	ui.ServeHTTP(rec, httptest.NewRequest("GET", fmt.Sprintf("/executions/%d", x), nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	want, err := b.client.ExplainTask(b.ctx, x, "then")
	require.NoError(t, err)
	require.Contains(t, body, template.HTMLEscapeString(want.Summary))
	require.Contains(t, body, "Rule 1 (start, on event &#34;go&#34;): not evaluated yet")
	require.Contains(t, body, "Rule 1 (start, start after")
}

// TestOverviewHealth: the overview says whether the process is healthy and
// shows its consume lag; a client that does not consume says so.
func TestOverviewHealth(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	br := b.browser(adminToken)
	require.Eventually(t, func() bool { return b.client.Health(b.ctx).Healthy() }, 10*time.Second, 10*time.Millisecond)
	status, body := br.get("/ui/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `<b class="c-ok">Healthy</b>`)
	require.Contains(t, body, "Consume lag")
	require.Regexp(t, `<b class="c-(ok|run)">\d+ events?</b>`, body)

	// A dashboard on a client that is not started.
	idle, err := aiflow.New(&aiflow.Config{Store: memory.New(nil), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewServer(NewHandler(idle, &Options{Auth: aiflowhttp.Auth{AllowUnauthenticated: true}, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(data), "Not consuming")
	require.Contains(t, string(data), "measured by the processes that consume")
}

// Package aiflowhttp is an HTTP handler that an application mounts on its own
// server, so that programs in any language can send events and inspect and
// steer workflows over HTTP: JSON in and out, described by openapi.yaml in
// this directory (served at GET /v1/openapi.yaml).
//
//	h := aiflowhttp.NewHandler(client, &aiflowhttp.Options{Auth: aiflowhttp.Auth{Token: os.Getenv("AIFLOW_HTTP_TOKEN")}})
//	mux.Handle("/aiflow/", http.StripPrefix("/aiflow", h))
//
// Endpoints:
//
//	POST /v1/events                                           send an event
//	GET  /v1/events                                           list events
//	GET  /v1/namespaces/{namespace}/workflows                 list workflows
//	GET  /v1/namespaces/{namespace}/workflows/{workflow}      show a workflow
//	POST /v1/namespaces/{namespace}/workflows/{workflow}/executions   start an execution
//	GET  /v1/namespaces/{namespace}/workflows/{workflow}/executions   list its executions
//	GET  /v1/executions/{id}                                  show an execution
//	POST /v1/executions/{id}/stop                             stop it
//	GET  /v1/executions/{id}/tasks                            list its task executions
//	POST /v1/executions/{id}/tasks/{task}/start               start a task
//	POST /v1/executions/{id}/tasks/{task}/stop                stop a task
//	GET  /v1/task-executions/{id}                             show a task execution
//	GET  /v1/task-executions/{id}/log                         read its log
//	GET  /healthz                                             liveness (no authentication)
//	GET  /readyz                                              readiness (no authentication)
//
// A 2xx answer is given only once what was asked is committed in the store:
// an event is in the log, a start or stop request is an event in the log that
// the running clients handle exactly once. Errors are JSON objects
// {"error": "...", "code": "..."} with a status that says what was wrong:
// 400 malformed, 401 unauthenticated, 403 forbidden (the caller may not see
// or change that namespace, or claim that sender or task execution: see
// Auth), 404 unknown name, id or path, 405 a
// method the path is not served with, 409 conflict with the current state,
// 413 too large, 415 not JSON, 500 the store failed (logged), 503 the request
// was cancelled. openapi.yaml lists those of each operation.
//
// Security: Options.Auth identifies the caller of every request (bearer
// tokens, or an Authenticate function) and says what it may do in each
// namespace (Caller.Namespaces and ReadOnly, or an Authorize function); a
// handler with no credentials configured refuses everything unless
// AllowUnauthenticated is set, which it logs. Workflow definitions are served
// redacted: environment values (WithEnv) and operator descriptions (which
// hold commands) are left out. Package aiflowui uses the same Auth.
//
// Import rule: aiflowhttp imports the root package, internal/view, the
// OpenTelemetry API and the standard library.
package aiflowhttp

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

// MaxBodyBytesDefault bounds request bodies unless Options.MaxBodyBytes says
// otherwise: room for an event of the largest value (64 KiB, escaped).
const MaxBodyBytesDefault = 512 << 10

// MaxLogBytes bounds one read of a task log.
const MaxLogBytes = 1 << 20

// Options configure the handler. A nil *Options means the defaults, which
// refuse every request: configure Auth.
type Options struct {
	// Auth identifies callers (a bearer Token, Tokens, or Authenticate) and
	// says what each may do in which namespace (Authorize). A handler with
	// none of them refuses every request with 401, unless
	// AllowUnauthenticated is set, an explicit choice the handler logs.
	Auth
	// MaxBodyBytes bounds request bodies; MaxBodyBytesDefault when 0.
	MaxBodyBytes int64
	// Logger receives server errors (5xx); the client's logger when nil.
	Logger *slog.Logger
	// ReadyMaxLag is the largest consume lag (age of the oldest event
	// waiting) at which GET /readyz still answers 200; ReadyMaxLagDefault
	// (5 min) when 0.
	ReadyMaxLag time.Duration
}

type handler struct {
	c    *aiflow.Client
	opts Options
	mux  *http.ServeMux
	tel  *telemetry
}

// route is one endpoint; routes lists them for the handler and its tests.
type route struct {
	method, pattern string
	fn              func(h *handler, w http.ResponseWriter, r *http.Request) error
}

var routes = []route{
	{"GET", "/v1/openapi.yaml", (*handler).openAPI},
	{"POST", "/v1/events", (*handler).sendEvent},
	{"GET", "/v1/events", (*handler).listEvents},
	{"GET", "/v1/namespaces/{namespace}/workflows", (*handler).listWorkflows},
	{"GET", "/v1/namespaces/{namespace}/workflows/{workflow}", (*handler).getWorkflow},
	{"POST", "/v1/namespaces/{namespace}/workflows/{workflow}/executions", (*handler).startExecution},
	{"GET", "/v1/namespaces/{namespace}/workflows/{workflow}/executions", (*handler).listExecutions},
	{"GET", "/v1/executions/{id}", (*handler).getExecution},
	{"POST", "/v1/executions/{id}/stop", (*handler).stopExecution},
	{"GET", "/v1/executions/{id}/tasks", (*handler).listTaskExecutions},
	{"POST", "/v1/executions/{id}/tasks/{task}/start", (*handler).startTask},
	{"POST", "/v1/executions/{id}/tasks/{task}/stop", (*handler).stopTask},
	{"GET", "/v1/executions/{id}/tasks/{task}/why", (*handler).explainTask},
	{"GET", "/v1/task-executions/{id}", (*handler).getTaskExecution},
	{"GET", "/v1/task-executions/{id}/log", (*handler).readTaskLog},
}

//go:embed openapi.yaml
var openAPIDoc []byte

// NewHandler returns the handler for client. The client need not be started:
// a client that only sends events and requests (New without Start) serves
// every endpoint; the running applications handle the requests.
func NewHandler(client *aiflow.Client, opts *Options) http.Handler {
	h := &handler{c: client, mux: http.NewServeMux()}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.MaxBodyBytes <= 0 {
		h.opts.MaxBodyBytes = MaxBodyBytesDefault
	}
	if h.opts.Logger == nil && client != nil {
		h.opts.Logger = client.Logger()
	}
	if h.opts.Logger == nil {
		h.opts.Logger = slog.Default()
	}
	h.opts.Auth.LogChoice(h.opts.Logger, "aiflowhttp")
	if h.opts.ReadyMaxLag <= 0 {
		h.opts.ReadyMaxLag = ReadyMaxLagDefault
	}
	h.tel = newTelemetry(client)
	for _, rt := range routes {
		fn := rt.fn
		h.mux.HandleFunc(rt.method+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(h, w, r); err != nil {
				h.fail(w, r, err)
			}
		})
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := "unmatched"
	if _, pattern := h.mux.Handler(r); pattern != "" {
		_, route, _ = strings.Cut(pattern, " ")
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == HealthzPath:
		h.tel.serve(w, r, HealthzPath, h.healthz)
	case r.Method == http.MethodGet && r.URL.Path == ReadyzPath:
		h.tel.serve(w, r, ReadyzPath, h.readyz)
	default:
		h.tel.serve(w, r, route, h.serve)
	}
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	caller, err := h.opts.Identify(r, "")
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aiflow"`)
		writeError(w, http.StatusUnauthorized, "unauthenticated", err.Error())
		return
	}
	r = r.WithContext(WithCaller(r.Context(), caller))
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		// The mux would answer 404 or 405 in plain text: answer in JSON.
		rec := &statusRecorder{header: http.Header{}}
		h.mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s %s: expected one of %s", r.Method, r.URL.Path, allow))
			return
		}
		writeError(w, http.StatusNotFound, "no_such_endpoint", fmt.Sprintf("%s %s: no such endpoint (see GET /v1/openapi.yaml)", r.Method, r.URL.Path))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// require fails with 403 unless the request's caller has need in namespace.
func (h *handler) require(r *http.Request, namespace string, need Access) error {
	return Require(r.Context(), &h.opts.Auth, namespace, need)
}

// Require fails with an error that the handlers answer with 403 unless the
// caller stored in ctx (WithCaller) has at least need in namespace.
func Require(ctx context.Context, a *Auth, namespace string, need Access) error {
	c := CallerFrom(ctx)
	if got := a.Access(ctx, c, namespace); got < need {
		name := "no caller"
		if c != nil {
			name = fmt.Sprintf("caller %q", c.Name)
		}
		return &httpError{http.StatusForbidden, "forbidden",
			fmt.Sprintf("%s may not %s namespace %q (it has %s access)", name, verb(need), namespace, got)}
	}
	return nil
}

// IsForbidden reports whether err is Require's refusal.
func IsForbidden(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.status == http.StatusForbidden
}

func verb(a Access) string {
	if a == AccessWrite {
		return "change"
	}
	return "see"
}

// statusRecorder captures the mux's answer for unknown routes.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

// ---- errors ----

// httpError is an error with its status and code.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(code, format string, args ...any) error {
	return &httpError{http.StatusBadRequest, code, fmt.Sprintf(format, args...)}
}

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var mbe *http.MaxBytesError
	msg := strings.TrimPrefix(err.Error(), "aiflow: ")
	switch {
	case errors.As(err, &he):
		writeError(w, he.status, he.code, he.msg)
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body is over %d bytes", mbe.Limit))
	case errors.Is(err, aiflow.ErrEventTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "event_too_large", msg)
	case errors.Is(err, aiflow.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid", msg)
	case errors.Is(err, aiflow.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", msg)
	case errors.Is(err, aiflow.ErrAlreadyExists):
		writeError(w, http.StatusConflict, "already_exists", msg)
	case errors.Is(err, aiflow.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", msg)
	case r.Context().Err() != nil:
		writeError(w, http.StatusServiceUnavailable, "cancelled", "the request was cancelled")
	default:
		h.opts.Logger.ErrorContext(r.Context(), "aiflowhttp: request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Any("error", err))
		writeError(w, http.StatusInternalServerError, "internal", "internal error: see the server's log")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a JSON body into v: exactly one object of known fields. An
// empty body is allowed when optional.
func decode(r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return nil
		}
		return badRequest("malformed_body", "the request body is empty: expected a JSON object")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &httpError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: expected application/json", r.Header.Get("Content-Type"))}
	}
	if problem := checkJSONText(body); problem != "" {
		return badRequest("invalid", "%s", problem)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed_body", "the request body is not the expected JSON object: %v", err)
	}
	if dec.More() {
		return badRequest("malformed_body", "the request body has data after its JSON object")
	}
	return nil
}

func pathID(r *http.Request, name string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("invalid", "%s %q: expected a positive integer", name, s)
	}
	return id, nil
}

func queryInt(r *http.Request, name string, min, max int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, badRequest("invalid", "query parameter %s=%q: expected an integer from %d to %d", name, s, min, max)
	}
	return n, nil
}

// ---- endpoints ----

func (h *handler) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(openAPIDoc)
	return err
}

type sendEventRequest struct {
	Namespace       string  `json:"namespace"`
	Key             string  `json:"key"`
	Value           *string `json:"value"`
	Sender          string  `json:"sender"`
	ExecutionID     int64   `json:"execution_id"`
	TaskExecutionID int64   `json:"task_execution_id"`
	ToNamespace     bool    `json:"to_namespace"`
}

func (h *handler) sendEvent(w http.ResponseWriter, r *http.Request) error {
	var req sendEventRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if req.Key == "" {
		return badRequest("invalid", `"key" is missing or empty: expected the event's key`)
	}
	ns := req.Namespace
	if ns == "" {
		ns = aiflow.DefaultNamespace
	}
	if err := h.require(r, ns, AccessWrite); err != nil {
		return err
	}
	caller := CallerFrom(r.Context())
	if !caller.MaySend(req.Sender) {
		return &httpError{http.StatusForbidden, "forbidden", fmt.Sprintf("caller %q may not send as sender %q", caller.Name, req.Sender)}
	}
	if req.TaskExecutionID != 0 && !caller.ActAsTask {
		return &httpError{http.StatusForbidden, "forbidden", fmt.Sprintf("caller %q may not send as task execution %d", caller.Name, req.TaskExecutionID)}
	}
	value := ""
	if req.Value != nil {
		value = *req.Value
	}
	ev, err := h.c.SendEvent(r.Context(), req.Key, value, &aiflow.SendEventOpts{
		Namespace: req.Namespace, Sender: req.Sender, ExecutionID: req.ExecutionID,
		TaskExecutionID: req.TaskExecutionID, ToNamespace: req.ToNamespace,
		IdempotencyKey: r.Header.Get(IdempotencyKeyHeader),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, eventView(*ev))
	return nil
}

// eventView is the JSON shape of ev.

type eventList struct {
	Events []view.Event `json:"events"`
	// Next is the position to pass as "after" for the next page.
	Next string `json:"next"`
}

func (h *handler) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := &aiflow.EventFilter{Namespace: q.Get("namespace"), Keys: q["key"], Sender: q.Get("sender")}
	var err error
	if f.ExecutionID, err = queryInt(r, "execution_id", 1, 1<<62); err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 1, 1000)
	if err != nil {
		return err
	}
	f.Limit = int(limit)
	if s := q.Get("after"); s != "" {
		if f.After, err = aiflow.ParsePosition(s); err != nil {
			return badRequest("invalid", "query parameter after: %v", strings.TrimPrefix(err.Error(), "invalid argument: "))
		}
	}
	if s := q.Get("since"); s != "" {
		if f.Since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return badRequest("invalid", "query parameter since=%q: expected an RFC 3339 time, such as 2024-05-01T10:00:00Z", s)
		}
	}
	switch s := q.Get("user_only"); s {
	case "", "false":
	case "true":
		f.UserOnly = true
	default:
		return badRequest("invalid", "query parameter user_only=%q: expected true or false", s)
	}
	if f.Namespace != "" {
		if err := h.require(r, f.Namespace, AccessRead); err != nil {
			return err
		}
	}
	evs, next, err := h.c.ListEvents(r.Context(), f)
	if err != nil {
		return err
	}
	if f.Namespace == "" {
		// Every namespace: leave out those the caller may not see; next
		// still continues after the last event read.
		evs = VisibleEvents(r.Context(), &h.opts.Auth, evs)
	}
	writeJSON(w, http.StatusOK, eventList{Events: view.Map(evs, eventView), Next: next.String()})
	return nil
}

func (h *handler) listWorkflows(w http.ResponseWriter, r *http.Request) error {
	if err := h.require(r, r.PathValue("namespace"), AccessRead); err != nil {
		return err
	}
	// ListWorkflows fails with ErrNamespaceNotFound for an unknown namespace.
	ws, err := h.c.ListWorkflows(r.Context(), r.PathValue("namespace"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"workflows": view.Map(ws, workflowView)})
	return nil
}

func (h *handler) getWorkflow(w http.ResponseWriter, r *http.Request) error {
	ns, name := r.PathValue("namespace"), r.PathValue("workflow")
	if err := h.require(r, ns, AccessRead); err != nil {
		return err
	}
	wf, err := h.c.GetWorkflow(r.Context(), ns, name)
	if err != nil {
		return err
	}
	vers, err := h.c.ListWorkflowVersions(r.Context(), ns, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view.Redact(workflowDetailView(*wf, vers)))
	return nil
}

func (h *handler) startExecution(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Input string `json:"input"`
	}
	if err := decode(r, &req, true); err != nil {
		return err
	}
	ns, name := r.PathValue("namespace"), r.PathValue("workflow")
	if err := h.require(r, ns, AccessWrite); err != nil {
		return err
	}
	id, err := h.c.StartWorkflowExecution(r.Context(), name, &aiflow.StartWorkflowOpts{
		Namespace: ns, Input: req.Input, IdempotencyKey: r.Header.Get(IdempotencyKeyHeader),
	})
	if err != nil {
		return err
	}
	x, err := h.c.GetWorkflowExecution(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("/v1/executions/%d", id))
	writeJSON(w, http.StatusCreated, executionView(*x))
	return nil
}

func (h *handler) listExecutions(w http.ResponseWriter, r *http.Request) error {
	ns, name := r.PathValue("namespace"), r.PathValue("workflow")
	if err := h.require(r, ns, AccessRead); err != nil {
		return err
	}
	if _, err := h.c.GetWorkflow(r.Context(), ns, name); err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 1, 1000)
	if err != nil {
		return err
	}
	f := &aiflow.ExecutionFilter{Namespace: ns, Workflow: name, Limit: int(limit)}
	for _, s := range r.URL.Query()["status"] {
		st := aiflow.WorkflowStatus(strings.ToUpper(s))
		switch st {
		case aiflow.WorkflowInit, aiflow.WorkflowRunning, aiflow.WorkflowSuccess, aiflow.WorkflowFailed, aiflow.WorkflowStopped:
		default:
			return badRequest("invalid", "query parameter status=%q: expected INIT, RUNNING, SUCCESS, FAILED or STOPPED", s)
		}
		f.Statuses = append(f.Statuses, st)
	}
	xs, err := h.c.ListWorkflowExecutions(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"executions": view.Map(xs, executionView)})
	return nil
}

func (h *handler) getExecution(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	x, err := h.execution(r, id, AccessRead)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, executionView(*x))
	return nil
}

// execution returns the execution id when the caller has need in its
// namespace.
func (h *handler) execution(r *http.Request, id int64, need Access) (*aiflow.WorkflowExecution, error) {
	x, err := h.c.GetWorkflowExecution(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return x, h.require(r, x.Namespace, need)
}

type accepted struct {
	Accepted    string `json:"accepted"`
	ExecutionID int64  `json:"execution_id"`
	Task        string `json:"task,omitempty"`
}

func (h *handler) stopExecution(w http.ResponseWriter, r *http.Request) error {
	if err := decode(r, &struct{}{}, true); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := h.execution(r, id, AccessWrite); err != nil {
		return err
	}
	if err := h.c.StopWorkflowExecution(r.Context(), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, accepted{Accepted: "stop", ExecutionID: id})
	return nil
}

func (h *handler) listTaskExecutions(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := h.execution(r, id, AccessRead); err != nil {
		return err
	}
	tes, err := h.c.ListTaskExecutions(r.Context(), &aiflow.TaskExecutionFilter{ExecutionID: id, Task: r.URL.Query().Get("task")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"task_executions": view.Map(tes, taskExecutionView)})
	return nil
}

func (h *handler) taskAction(w http.ResponseWriter, r *http.Request, action string, fn func(*aiflow.Client, *http.Request, int64, string) error) error {
	if err := decode(r, &struct{}{}, true); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	task := r.PathValue("task")
	if _, err := h.execution(r, id, AccessWrite); err != nil {
		return err
	}
	if err := fn(h.c, r, id, task); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, accepted{Accepted: action, ExecutionID: id, Task: task})
	return nil
}

func (h *handler) startTask(w http.ResponseWriter, r *http.Request) error {
	return h.taskAction(w, r, "start", func(c *aiflow.Client, r *http.Request, id int64, task string) error {
		return c.StartTaskExecution(r.Context(), id, task)
	})
}

func (h *handler) stopTask(w http.ResponseWriter, r *http.Request) error {
	return h.taskAction(w, r, "stop", func(c *aiflow.Client, r *http.Request, id int64, task string) error {
		return c.StopTaskExecution(r.Context(), id, task)
	})
}

func (h *handler) getTaskExecution(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	te, err := h.c.GetTaskExecution(r.Context(), id)
	if err != nil {
		return err
	}
	if err := h.require(r, te.Namespace, AccessRead); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, taskExecutionView(*te))
	return nil
}

type taskLog struct {
	Data       string `json:"data"`
	Offset     int64  `json:"offset"`
	NextOffset int64  `json:"next_offset"`
	Finished   bool   `json:"finished"`
}

func (h *handler) readTaskLog(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 1, MaxLogBytes)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = MaxLogBytes
	}
	te, err := h.c.GetTaskExecution(r.Context(), id)
	if err != nil {
		return err
	}
	if err := h.require(r, te.Namespace, AccessRead); err != nil {
		return err
	}
	data, next, err := h.c.ReadTaskLog(r.Context(), id, offset, int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, taskLog{Data: string(data), Offset: offset, NextOffset: next, Finished: te.Status.Finished()})
	return nil
}

// VisibleEvents returns the events of evs in namespaces the caller stored in
// ctx may see, asking a once per namespace.
func VisibleEvents(ctx context.Context, a *Auth, evs []aiflow.Event) []aiflow.Event {
	c := CallerFrom(ctx)
	seen := map[string]bool{}
	out := evs[:0:0]
	for _, ev := range evs {
		ok, known := seen[ev.Namespace]
		if !known {
			ok = a.Access(ctx, c, ev.Namespace) >= AccessRead
			seen[ev.Namespace] = ok
		}
		if ok {
			out = append(out, ev)
		}
	}
	return out
}

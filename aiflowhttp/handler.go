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
//	POST /v1/namespaces/{namespace}/workflows/{workflow}/executions/batch   start many
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
// redacted: environment values (WithEnv) are left out, and an operator is
// described by its type and its public description, which leaves out the
// fields it marks secret (aiflow.PublicDescriber), or by its type alone.
// Package aiflowui uses the same Auth.
//
// Import rule: aiflowhttp imports the root package, internal/view, the
// OpenTelemetry API and the standard library.
package aiflowhttp

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow"
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
	{"POST", "/v1/namespaces/{namespace}/workflows/{workflow}/executions/batch", (*handler).startExecutions},
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
	case r.URL.Path == HealthzPath || r.URL.Path == ReadyzPath:
		h.tel.serve(w, r, r.URL.Path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s %s: expected one of GET", r.Method, r.URL.Path))
		})
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

func (h *handler) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(openAPIDoc)
	return err
}

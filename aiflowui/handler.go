// Package aiflowui is a web dashboard that an application mounts on its own
// server, next to the HTTP API of package aiflowhttp and on the same
// *aiflow.Client: the workflows of every namespace the caller may see, drawn
// as graphs; their executions, with a timeline of the task executions and the
// reason each task did or did not start; the tasks' logs, followed live; the
// event log, live, and a form to send events; schedules and triggers to pause
// and resume.
//
//	ui := aiflowui.NewHandler(client, &aiflowui.Options{Auth: aiflowhttp.Auth{Token: token}})
//	mux.Handle("/ui/", http.StripPrefix("/ui", ui))
//
// The pages are rendered on the server (html/template, so every value is
// escaped) with their stylesheet and a little JavaScript embedded in the
// binary: nothing to build. Pages refresh their live parts by short polling
// (Options.RefreshInterval); a task's log is followed from the offset already
// shown. They fit a phone's width and follow the system's dark or light
// theme, with a toggle.
//
// Security: the dashboard takes the same aiflowhttp.Auth as the HTTP API. A
// browser signs in with a token on the login page (kept in an HttpOnly,
// SameSite=Strict cookie), or the application's Auth.Authenticate identifies
// it (a session, a proxy's header). Callers see only the namespaces they may
// read; buttons appear only where they may write, and the server refuses the
// rest with 403. Every change is a POST carrying a token bound to the
// browser's cookie (and refused when the browser says it comes from another
// site). Workflow definitions are shown redacted: environment values
// (WithEnv) are not shown, and an operator is shown by its type and its
// public description, which leaves out the fields it marks secret
// (aiflow.PublicDescriber), or by its type alone.
//
// Import rule: aiflowui imports the root package, aiflowhttp, internal/view
// and the standard library.
package aiflowui

import (
	"crypto/rand"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

// Defaults of Options.
const (
	// RefreshIntervalDefault is how often pages poll for their live parts.
	RefreshIntervalDefault = 2 * time.Second
	// PageSizeDefault is the number of executions per page.
	PageSizeDefault = 50
)

// Options configure the dashboard. A nil *Options means the defaults, which
// refuse every request: configure Auth.
type Options struct {
	// Auth identifies callers and says what each may do in which namespace,
	// as for aiflowhttp. Browsers present a token through the login page;
	// Auth.Authenticate may identify them otherwise.
	aiflowhttp.Auth
	// Title is shown in the header and the browser's tab; "AIFlow" when
	// empty.
	Title string
	// RefreshInterval is how often pages poll for their live parts;
	// RefreshIntervalDefault when 0.
	RefreshInterval time.Duration
	// PageSize is the number of executions per page; PageSizeDefault when 0.
	PageSize int
	// Explainer says why each task of an execution did or did not start;
	// NotesExplainer (the task executions' notes and the workflow's rules,
	// cheap) when nil. DecisionsExplainer tells the engine's recorded
	// decisions instead.
	Explainer Explainer
	// CSRFKey signs the tokens of the forms; a random key when empty (forms
	// rendered before a restart are then refused: reload the page).
	CSRFKey []byte
	// Logger receives server errors; slog.Default() when nil.
	Logger *slog.Logger
	// Now returns the current time (for durations and time filters);
	// time.Now when nil.
	Now func() time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Handler is the dashboard.
type Handler struct {
	c     *aiflow.Client
	opts  Options
	mux   *http.ServeMux
	pages map[string]*template.Template
	post  http.Handler
}

// Cookie names.
const (
	tokenCookie = "aiflow_token"
	csrfCookie  = "aiflow_csrf"
	csrfField   = "csrf"
)

// NewHandler returns the dashboard for client. The client need not be
// started: requests become events that the running applications handle.
func NewHandler(client *aiflow.Client, opts *Options) *Handler {
	h := &Handler{c: client, mux: http.NewServeMux()}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Title == "" {
		h.opts.Title = "AIFlow"
	}
	if h.opts.RefreshInterval <= 0 {
		h.opts.RefreshInterval = RefreshIntervalDefault
	}
	if h.opts.PageSize <= 0 {
		h.opts.PageSize = PageSizeDefault
	}
	if h.opts.Explainer == nil {
		h.opts.Explainer = NotesExplainer{}
	}
	if h.opts.Logger == nil {
		h.opts.Logger = slog.Default()
	}
	if h.opts.Now == nil {
		h.opts.Now = time.Now
	}
	if len(h.opts.CSRFKey) == 0 {
		h.opts.CSRFKey = make([]byte, 32)
		_, _ = rand.Read(h.opts.CSRFKey)
	}
	h.opts.Auth.LogChoice(h.opts.Logger, "aiflowui")
	h.pages = parseTemplates()

	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(http.FileServerFS(static))))
	h.mux.HandleFunc("GET /login", h.loginPage)
	h.page("GET /{$}", h.overview)
	h.page("GET /namespaces/{namespace}/workflows/{workflow}", h.workflowPage)
	h.page("GET /executions", h.executionsPage)
	h.page("GET /executions/{id}", h.executionPage)
	h.page("GET /task-executions/{id}", h.taskExecutionPage)
	h.page("GET /events", h.eventsPage)
	h.mux.HandleFunc("GET /task-executions/{id}/log", h.authed(h.logChunk))
	h.page("GET /", func(http.ResponseWriter, *http.Request) (string, any, error) {
		return "", nil, errorf(http.StatusNotFound, "no such page")
	})

	posts := http.NewServeMux()
	posts.HandleFunc("POST /login", h.login)
	posts.HandleFunc("POST /logout", h.logout)
	for path, fn := range map[string]func(http.ResponseWriter, *http.Request) error{
		"/actions/start-execution": h.startExecution,
		"/actions/stop-execution":  h.stopExecution,
		"/actions/task":            h.taskAction,
		"/actions/workflow":        h.workflowAction,
		"/actions/schedule":        h.scheduleAction,
		"/actions/trigger":         h.triggerAction,
		"/actions/send-event":      h.sendEvent,
	} {
		posts.HandleFunc("POST "+path, h.authed(h.action(fn)))
	}
	cop := http.NewCrossOriginProtection()
	h.post = cop.Handler(posts)
	return h
}

// ServeHTTP serves the dashboard.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	if r.Method == http.MethodPost {
		h.post.ServeHTTP(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func cacheFor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

// base returns the prefix the handler is mounted under ("" at the root),
// from the request's original path and the path the handler sees.
func base(r *http.Request) string {
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil || r.RequestURI == "" {
		return ""
	}
	return strings.TrimSuffix(u.Path, r.URL.Path)
}

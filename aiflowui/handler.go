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
// (WithEnv) and operator descriptions, which hold commands, are not shown.
//
// Import rule: aiflowui imports the root package, aiflowhttp, internal/view
// and the standard library.
package aiflowui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
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

// ---- authentication ----

// identify returns the request's caller, nil when none.
func (h *Handler) identify(r *http.Request) *aiflowhttp.Caller {
	tok := ""
	if c, err := r.Cookie(tokenCookie); err == nil {
		tok = c.Value
	}
	c, err := h.opts.Identify(r, tok)
	if err != nil {
		return nil
	}
	return c
}

// authed serves fn only to an identified caller, stored in the context.
func (h *Handler) authed(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := h.identify(r)
		if c == nil {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/log") {
				http.Redirect(w, r, base(r)+"/login?next="+url.QueryEscape(base(r)+r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "unauthenticated: sign in first", http.StatusUnauthorized)
			return
		}
		fn(w, r.WithContext(aiflowhttp.WithCaller(r.Context(), c)))
	}
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "login", &loginData{Next: localPath(r, r.URL.Query().Get("next")), Failed: r.URL.Query().Has("failed"),
		Configured: h.opts.Token != "" || len(h.opts.Tokens) > 0})
}

type loginData struct {
	Next       string
	Failed     bool
	Configured bool
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("token"))
	next := localPath(r, r.PostFormValue("next"))
	if h.opts.ForToken(tok) == nil {
		http.Redirect(w, r, base(r)+"/login?failed=1&next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: tok, Path: base(r) + "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: "", Path: base(r) + "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, base(r)+"/login", http.StatusSeeOther)
}

// localPath returns p when it is a path of this dashboard, else its overview.
func localPath(r *http.Request, p string) string {
	b := base(r)
	if strings.HasPrefix(p, b+"/") && !strings.HasPrefix(p, "//") && !strings.Contains(p, "\\") {
		return p
	}
	return b + "/"
}

// ---- CSRF ----

// csrfToken returns the form token of the browser's CSRF cookie, setting
// the cookie first when it has none.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) < 16 {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		c = &http.Cookie{Name: csrfCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: base(r) + "/", HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
		http.SetCookie(w, c)
		r.AddCookie(c)
	}
	return h.sign(c.Value)
}

func (h *Handler) sign(v string) string {
	m := hmac.New(sha256.New, h.opts.CSRFKey)
	m.Write([]byte("aiflowui csrf\x00" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) csrfValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return false
	}
	got := r.PostFormValue(csrfField)
	return got != "" && hmac.Equal([]byte(got), []byte(h.sign(c.Value)))
}

// ---- errors ----

// pageError is an error shown with its status.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &pageError{status, fmt.Sprintf(format, args...)}
}

// statusOf maps an error to its status and the message shown.
func (h *Handler) statusOf(r *http.Request, err error) (int, string) {
	var pe *pageError
	msg := strings.TrimPrefix(err.Error(), "aiflow: ")
	switch {
	case errors.As(err, &pe):
		return pe.status, pe.msg
	case aiflowhttp.IsForbidden(err):
		return http.StatusForbidden, msg
	case errors.Is(err, aiflow.ErrInvalid):
		return http.StatusBadRequest, msg
	case errors.Is(err, aiflow.ErrNotFound):
		return http.StatusNotFound, msg
	case errors.Is(err, aiflow.ErrConflict), errors.Is(err, aiflow.ErrAlreadyExists):
		return http.StatusConflict, msg
	case errors.Is(err, aiflow.ErrEventTooLarge):
		return http.StatusRequestEntityTooLarge, msg
	case r.Context().Err() != nil:
		return http.StatusServiceUnavailable, "the request was cancelled"
	}
	h.opts.Logger.ErrorContext(r.Context(), "aiflowui: request failed", slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Any("error", err))
	return http.StatusInternalServerError, "internal error: see the server's log"
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := h.statusOf(r, err)
	h.render(w, r, status, "error", &errorData{Status: status, StatusText: http.StatusText(status), Message: msg})
}

type errorData struct {
	Status     int
	StatusText string
	Message    string
}

// ---- access ----

func (h *Handler) access(ctx context.Context, ns string) aiflowhttp.Access {
	return h.opts.Access(ctx, aiflowhttp.CallerFrom(ctx), ns)
}

func (h *Handler) require(ctx context.Context, ns string, need aiflowhttp.Access) error {
	return aiflowhttp.Require(ctx, &h.opts.Auth, ns, need)
}

// visibleNamespaces lists the namespaces the caller may see.
func (h *Handler) visibleNamespaces(ctx context.Context) ([]string, error) {
	nss, err := h.c.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nss {
		if h.access(ctx, n.Name) >= aiflowhttp.AccessRead {
			out = append(out, n.Name)
		}
	}
	return out, nil
}

func pathID(r *http.Request, name string) (int64, error) {
	return parseID(name, r.PathValue(name))
}

func parseID(name, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "%s %q: expected a positive integer", name, s)
	}
	return id, nil
}

package aiflowui

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

// layout is what every page's template receives.
type layout struct {
	Base    string
	Title   string
	Page    string // the template's name
	Caller  *aiflowhttp.Caller
	CSRF    string
	Refresh int64 // milliseconds; 0: the page does not poll
	Path    string
	Data    any
	Now     time.Time
}

// page registers a GET page served to identified callers.
func (h *Handler) page(pattern string, fn func(w http.ResponseWriter, r *http.Request) (string, any, error)) {
	h.mux.HandleFunc(pattern, h.authed(func(w http.ResponseWriter, r *http.Request) {
		name, data, err := fn(w, r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.render(w, r, http.StatusOK, name, data)
	}))
}

// render executes the page's template into a buffer first, so that a failing
// template gives a clean 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t := h.pages[name]
	l := &layout{Base: base(r), Title: h.opts.Title, Page: name, Caller: aiflowhttp.CallerFrom(r.Context()),
		CSRF: h.csrfToken(w, r), Path: base(r) + r.URL.RequestURI(), Data: data, Now: h.opts.Now()}
	if live[name] {
		l.Refresh = h.opts.RefreshInterval.Milliseconds()
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", l); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "aiflowui: rendering failed", "page", name, "error", err)
		http.Error(w, "internal error: see the server's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// live lists the pages that poll for their live parts.
var live = map[string]bool{"overview": true, "workflow": true, "executions": true, "execution": true, "task": true, "events": true}

var funcs = template.FuncMap{
	"ago":      agoHTML,
	"since":    sinceHTML,
	"dur":      duration,
	"clock":    func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"lower":    func(v any) string { return strings.ToLower(fmt.Sprint(v)) },
	"join":     strings.Join,
	"canWrite": func(a aiflowhttp.Access) bool { return a >= aiflowhttp.AccessWrite },
	"q":        url.QueryEscape,
	"p":        url.PathEscape,
	"add":      func(a, b int) int { return a + b },
	"trunc": func(n int, s string) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"uiSender": uiSender,
	"lastRuns": func(n int, runs []aiflow.TaskExecution) []aiflow.TaskExecution { return runs[max(0, len(runs)-n):] },
	"xrow": func(l *layout, x aiflow.WorkflowExecution) map[string]any {
		return map[string]any{"Base": l.Base, "Now": l.Now, "X": x}
	},
	"seq": func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	},
}

// parseTemplates parses each page with the layout and the shared parts.
func parseTemplates() map[string]*template.Template {
	shared := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html"))
	out := map[string]*template.Template{}
	for _, name := range []string{"overview", "workflow", "executions", "execution", "task", "events", "login", "error"} {
		out[name] = template.Must(template.Must(shared.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
	return out
}

// agoHTML is ago in a <time> element that the page's script keeps current.
func agoHTML(now, t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s" data-ago>%s</time>`, t.UTC().Format(time.RFC3339Nano), ago(now, t)))
}

// sinceHTML is the time elapsed since t, in a <time> element that the page's
// script keeps current.
func sinceHTML(now, t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s" data-since>%s</time>`, t.UTC().Format(time.RFC3339Nano), duration(now.Sub(t))))
}

// ago says how long before now t was ("3m ago"), empty for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + duration(-d)
	}
	return duration(d) + " ago"
}

// duration is d rounded to what a person reads: 850ms, 12.3s, 4m5s, 3h2m, 2d4h.
func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

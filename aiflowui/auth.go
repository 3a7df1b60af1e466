package aiflowui

// Signing in: callers identified by token (a cookie after sign-in) or by
// the Auth hooks shared with aiflowhttp.

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/aiflow-go/aiflow/aiflowhttp"
)

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

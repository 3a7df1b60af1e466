package aiflowui

// Cross-site request forgery: every state-changing request carries a
// token tied to the caller.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

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

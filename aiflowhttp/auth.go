package aiflowhttp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
)

// Access is what a caller may do in a namespace.
type Access int

// Access levels, from none to all.
const (
	// AccessNone: the namespace is invisible to the caller; requests about it
	// are refused with 403.
	AccessNone Access = iota
	// AccessRead: the caller sees the namespace's workflows, executions,
	// events and logs, and changes nothing.
	AccessRead
	// AccessWrite: the caller also sends events, starts and stops executions
	// and tasks, pauses schedules and triggers, enables and disables
	// workflows.
	AccessWrite
)

// String returns "none", "read" or "write".
func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	}
	return "none"
}

// Caller is who a request comes from, as Auth authenticated it.
type Caller struct {
	// Name identifies the caller in logs and on the dashboard's pages.
	Name string
	// Namespaces the caller may see and act on; every namespace when empty
	// or when it holds "*". Used by the default authorization (when
	// Auth.Authorize is nil).
	Namespaces []string
	// ReadOnly callers get AccessRead at most from the default
	// authorization.
	ReadOnly bool
	// Senders are the sender names the caller may give the events it sends;
	// "*" allows any. An event sent without a sender gets the library's
	// default sender.
	Senders []string
	// ActAsTask allows sending events as a task execution (the
	// task_execution_id field), as a task's own process does. Off by
	// default: a caller that may claim a task execution can forge what the
	// task says.
	ActAsTask bool
}

// MaySend reports whether c may name sender as the sender of an event.
func (c *Caller) MaySend(sender string) bool {
	return sender == "" || slices.Contains(c.Senders, "*") || slices.Contains(c.Senders, sender)
}

// Auth is how a handler of this package, or of package aiflowui, learns who
// calls and what they may do. The zero Auth refuses every request: configure
// a Token, Tokens, Authenticate, or set AllowUnauthenticated on purpose.
type Auth struct {
	// Token, when set, is a bearer token ("Authorization: Bearer <Token>",
	// compared in constant time) that identifies the administrator: a
	// Caller named "token" with write access to every namespace, any sender
	// and ActAsTask.
	Token string
	// Tokens maps more bearer tokens to their callers, for example one per
	// team, limited to its namespaces, or read-only.
	Tokens map[string]*Caller
	// Authenticate, when set, identifies a request's caller itself (a
	// session cookie, a header set by a proxy, a client certificate). It
	// returns (nil, nil) when the request carries no credentials of its
	// kind, so that the tokens are tried next; an error refuses the request
	// with 401.
	Authenticate func(r *http.Request) (*Caller, error)
	// Authorize, when set, says what a caller may do in a namespace, in
	// place of the default (Caller.Namespaces and Caller.ReadOnly).
	Authorize func(ctx context.Context, c *Caller, namespace string) Access
	// AllowUnauthenticated serves requests that no credential identifies as
	// the Caller named "anonymous" with write access to every namespace.
	// This opens the handler to anyone who reaches it: set it only behind
	// another protection, or on a developer's machine. The handler logs a
	// warning when it is created with it.
	AllowUnauthenticated bool
}

// AdminCaller is the caller that Auth.Token identifies.
func AdminCaller() *Caller {
	return &Caller{Name: "token", Senders: []string{"*"}, ActAsTask: true}
}

// anonymous is the caller of an unauthenticated request when allowed.
func anonymous() *Caller {
	return &Caller{Name: "anonymous", Senders: []string{"*"}, ActAsTask: true}
}

// ErrUnauthenticated is returned by Auth.Identify when no credential
// identifies the caller.
var ErrUnauthenticated = errors.New("unauthenticated")

// Configured reports whether a identifies callers at all (a token, tokens,
// an Authenticate function or AllowUnauthenticated).
func (a *Auth) Configured() bool {
	return a.Token != "" || len(a.Tokens) > 0 || a.Authenticate != nil || a.AllowUnauthenticated
}

// LogChoice logs, once per handler, that the handler of what is
// unauthenticated (a warning) or refuses everything (an error), so that
// either is visible in the application's log.
func (a *Auth) LogChoice(logger *slog.Logger, what string) {
	switch {
	case a.Token == "" && len(a.Tokens) == 0 && a.Authenticate == nil && a.AllowUnauthenticated:
		logger.Warn(what + ": AllowUnauthenticated is set and no credential is configured: anyone who reaches the handler may read and change every namespace")
	case a.AllowUnauthenticated:
		logger.Warn(what + ": AllowUnauthenticated is set: requests without credentials may read and change every namespace")
	case !a.Configured():
		logger.Error(what + ": no Token, Tokens or Authenticate configured and AllowUnauthenticated is not set: every request is refused with 401")
	}
}

// Identify returns the caller of r, trying Authenticate, then the bearer
// token (or bearer, when given: a token read elsewhere, such as the
// dashboard's cookie), then AllowUnauthenticated. It fails with an error
// wrapping ErrUnauthenticated when none identifies the request.
func (a *Auth) Identify(r *http.Request, bearer string) (*Caller, error) {
	if a.Authenticate != nil {
		c, err := a.Authenticate(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
		}
		if c != nil {
			return c, nil
		}
	}
	if bearer == "" {
		if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			bearer = strings.TrimSpace(tok)
		}
	}
	if bearer != "" {
		if c := a.ForToken(bearer); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("%w: the token is not known: expected the header Authorization: Bearer <token> with a configured token", ErrUnauthenticated)
	}
	if a.AllowUnauthenticated {
		return anonymous(), nil
	}
	return nil, fmt.Errorf("%w: expected the header Authorization: Bearer <token>", ErrUnauthenticated)
}

// ForToken returns the caller a bearer token identifies, nil when none.
// Every known token is compared, in constant time, so that the time taken
// says nothing about which one came close.
func (a *Auth) ForToken(tok string) *Caller {
	var found *Caller
	if a.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.Token)) == 1 {
		found = AdminCaller()
	}
	for t, c := range a.Tokens {
		if t != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(t)) == 1 && found == nil {
			found = c
		}
	}
	return found
}

// Access returns what c may do in namespace: Authorize's answer when set,
// otherwise AccessWrite (AccessRead for ReadOnly callers) in c.Namespaces,
// AccessNone elsewhere.
func (a *Auth) Access(ctx context.Context, c *Caller, namespace string) Access {
	if c == nil {
		return AccessNone
	}
	if a.Authorize != nil {
		return a.Authorize(ctx, c, namespace)
	}
	if len(c.Namespaces) > 0 && !slices.Contains(c.Namespaces, "*") && !slices.Contains(c.Namespaces, namespace) {
		return AccessNone
	}
	if c.ReadOnly {
		return AccessRead
	}
	return AccessWrite
}

// callerKey keys the caller in a request's context.
type callerKey struct{}

// WithCaller returns ctx carrying c, as the handlers store it for the
// functions they call.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller a handler stored in ctx, nil when none.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

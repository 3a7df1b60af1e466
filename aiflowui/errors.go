package aiflowui

// Errors: how a page or an action fails.

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
)

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
